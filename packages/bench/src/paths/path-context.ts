// What every measured path gets from the run: its parameters, a way to open client sessions,
// the folder of this run inside antlerfs, the data pattern, progress, and the CPU meter of the
// cluster's processes.
import type { Client } from '@antlerfs/client';
import type { BenchParams } from '../config.ts';
import { cpuDelta, cpuSnapshot, type ClusterProcess } from '../cpu-usage.ts';
import type { DataPattern } from '../data-pattern.ts';
import { Deadline } from '../deadline.ts';
import type { Progress } from '../progress.ts';

export interface PathContext {
  params: BenchParams;
  /** A new client session to the cluster; the caller closes it. */
  connect(): Promise<Client>;
  /** The run's folder inside antlerfs, e.g. /antler-bench-<time>. */
  root: string;
  pattern: DataPattern;
  /** sha256 of a whole file of params.sizeBytes as the pattern writes it. */
  expectedSha256: string;
  progress: Progress;
  /** host:port of the master (the S3 path starts a gateway against it). */
  masterAddr: string;
  /** The cluster's processes whose CPU time is measured; empty for an existing cluster. */
  processes: readonly ClusterProcess[];
  /** host:port of the master's monitor when known (a cluster the bench started). */
  monitorAddr: string | null;
  /** A local temporary folder of this run (removed at the end). */
  scratchDir: string;
}

/** Goals of the sequential paths: one copy, and chains of two and three. */
export const SEQ_GOALS = [1, 2, 3] as const;

/** Random reads: 4 KiB each, this many in flight (fio's iodepth). */
export const RANDOM_READ_BYTES = 4096;
export const RANDOM_READ_DEPTH = 8;

/** Small files: 64 KiB each, one at a time (like one thread). */
export const SMALL_FILE_BYTES = 64 * 1024;

/** A seeded xorshift32: the same offsets every run, no allocation per draw. */
export class SeededOffsets {
  private state: number;

  constructor(seed: number) {
    this.state = (seed >>> 0) || 1;
  }

  /** An integer in [0, n). */
  next(n: number): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state % n;
  }
}

/** A figure's deadline, from --path-timeout-s. */
export function pathDeadline(ctx: PathContext, what: string): Deadline {
  return new Deadline(what, ctx.params.pathTimeoutMs);
}

/** Starts a CPU measurement; the returned function gives the seconds used since. */
export function cpuMeter(ctx: PathContext): () => Record<string, number> {
  const before = cpuSnapshot(ctx.processes);
  return () => cpuDelta(before, cpuSnapshot(ctx.processes));
}

/** Path of the sequential test file of a goal. */
export function seqFilePath(ctx: PathContext, goal: number): string {
  return `${ctx.root}/seq-goal${goal}.bin`;
}
