// What the mount's measurements share: the run's context, the mount, a library session for
// setup and checks (folders, goals, lengths), and a CPU meter that adds the mount process and
// the tool the measurement ran (dd, fio: this process's ended children) to the cluster's.
import type { Client } from '@antlerfs/client';
import { mustShell, type ShellResult, shell } from '@antlerfs/test/harness/mount.ts';
import {
  cpuDelta, cpuSnapshot, endedChildrenCpuSeconds, type ClusterProcess,
} from '../cpu-usage.ts';
import type { BenchMount } from '../fuse-mount.ts';
import type { PathContext } from './path-context.ts';

/** A tool on the mount gets at most this long (a --path-timeout-s shorter than it wins). */
const TOOL_TIMEOUT_MS = 1_800_000;

export interface FuseRun {
  ctx: PathContext;
  mount: BenchMount;
  client: Client;
  processes: ClusterProcess[];
}

/** The path on the mount of a path inside antlerfs. */
export function onMount(f: FuseRun, fsPath: string): string {
  return `${f.mount.dir}${fsPath}`;
}

/** Starts a CPU measurement: the cluster, the mount, and 'tool' (ended child processes). */
export function fuseMeter(f: FuseRun): () => Record<string, number> {
  const before = cpuSnapshot(f.processes);
  const tool0 = endedChildrenCpuSeconds();
  return () => ({
    ...cpuDelta(before, cpuSnapshot(f.processes)),
    tool: Math.max(0, endedChildrenCpuSeconds() - tool0),
  });
}

function toolTimeoutMs(f: FuseRun): number {
  return Math.min(TOOL_TIMEOUT_MS, f.ctx.params.pathTimeoutMs);
}

/** Runs `bash -c cmd`; throws with its output unless it exits 0. Returns stdout. */
export function runTool(f: FuseRun, cmd: string): Promise<string> {
  return mustShell(cmd, { timeoutMs: toolTimeoutMs(f) });
}

/** Runs `bash -c cmd` and returns how it ended, never throwing. */
export function tryTool(f: FuseRun, cmd: string): Promise<ShellResult> {
  return shell(cmd, { timeoutMs: toolTimeoutMs(f) });
}

/** Single-quoted for bash. */
export function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
