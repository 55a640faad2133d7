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
