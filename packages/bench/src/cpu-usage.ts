// CPU seconds of the cluster's processes, read from /proc/<pid>/stat (utime + stime), and of the
// bench itself ('bench': the client side). Only for a cluster the bench started: it knows those
// pids. A process that is gone (or a system without /proc) is left out, never guessed.
import fs from 'node:fs';

/** Linux reports utime/stime in USER_HZ ticks, fixed at 100 by the kernel's user ABI. */
const USER_HZ = 100;

export interface ClusterProcess {
  /** 'master', 'cs0', 'cs1', ... */
  name: string;
  pid: number;
}

export type CpuSnapshot = Map<string, number>;

/** utime + stime of `pid` in seconds, or null if it is gone or /proc is absent. */
export function processCpuSeconds(pid: number): number | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name may hold spaces and ')' itself: fields start after the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const f = text.slice(close + 2).trim().split(' ');
  // After the name: state(3) ppid(4) ... utime(14) stime(15); index = field number - 3.
  if (f.length < 13) return null;
  const ticks = Number(f[11]) + Number(f[12]);
  return Number.isFinite(ticks) ? ticks / USER_HZ : null;
}

/**
 * CPU seconds of this process's children that have ended and been waited for (cutime +
 * cstime): the CPU of a tool such as dd or fio, read before and after it runs.
 */
export function endedChildrenCpuSeconds(): number {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/stat', 'utf8');
  } catch {
    return 0;
  }
  const f = text.slice(text.lastIndexOf(')') + 2).trim().split(' ');
  // cutime(16) cstime(17); index = field number - 3.
  const ticks = Number(f[13]) + Number(f[14]);
  return Number.isFinite(ticks) ? ticks / USER_HZ : 0;
}

/** CPU seconds of each process now, plus 'bench' for this process. */
export function cpuSnapshot(processes: readonly ClusterProcess[]): CpuSnapshot {
  const snap: CpuSnapshot = new Map();
  for (const p of processes) {
    const s = processCpuSeconds(p.pid);
    if (s !== null) snap.set(p.name, s);
  }
  const own = process.cpuUsage();
  snap.set('bench', (own.user + own.system) / 1e6);
  return snap;
}

/** CPU seconds used between two snapshots, for processes present in both. */
export function cpuDelta(before: CpuSnapshot, after: CpuSnapshot): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, s] of after) {
    const b = before.get(name);
    if (b !== undefined) out[name] = Math.max(0, s - b);
  }
  return out;
}
