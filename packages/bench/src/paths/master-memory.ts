// Master memory path: the master's resident memory per million files. Empty files are created
// in folders of FILES_PER_FOLDER through a few client sessions with many requests in flight
// (group commit keeps that fast), the master's RSS (and its JS heap, when the monitor answers)
// is read before and after, and the growth is scaled to a million files; then the files go.
// RSS comes from /proc/<pid>/status of a master the bench started, else from the monitor.
import fs from 'node:fs';
import type { Client } from '@antlerfs/client';
import { PORT_MONITOR, assert } from '@antlerfs/protocol';
import type { Deadline } from '../deadline.ts';
import type { Check, Figure } from '../report.ts';
import { cpuMeter, pathDeadline, type PathContext } from './path-context.ts';

/** Files of a full run and of a quick one (the quick run stays within seconds). */
export const MEMORY_FILES_FULL = 1_000_000;
export const MEMORY_FILES_QUICK = 20_000;
const FILES_PER_FOLDER = 1000;
const SESSIONS = 4;
/** Requests each session keeps in flight: below the master's per-session limit (256). */
const INFLIGHT_PER_SESSION = 64;
/** How long readings are taken before and after the load, in a full and in a quick run. */
const SETTLE_FULL_MS = 20_000;
const SETTLE_QUICK_MS = 2000;
const SETTLE_STEP_MS = 500;
/** Files of the warm-up round, as a share of the measured ones. */
const WARM_UP_SHARE = 0.25;
const MONITOR_TIMEOUT_MS = 5000;
const BYTES_PER_MIB = 1024 * 1024;
const FILES_PER_MILLION = 1e6;

export interface MasterMemory {
  rssBytes: number;
  /** V8 heap in use, when the monitor reports it. */
  heapUsedBytes: number | null;
}

/** VmRSS of `pid` in bytes, or null if the process is gone or /proc is absent. */
export function rssOfPid(pid: number): number | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(text);
  return m === null ? null : Number(m[1]) * 1024;
}

/** The `memory` object of the monitor's /api/status, or null if it does not answer. */
async function monitorMemory(monitorAddr: string): Promise<MasterMemory | null> {
  try {
    const res = await fetch(`http://${monitorAddr}/api/status`, {
      signal: AbortSignal.timeout(MONITOR_TIMEOUT_MS),
    });
    if (!res.ok) return null;
    const status = await res.json() as { memory?: { rssBytes?: unknown; heapUsedBytes?: unknown } };
    const mem = status.memory;
    if (mem === undefined || typeof mem.rssBytes !== 'number') return null;
    const heap = typeof mem.heapUsedBytes === 'number' ? mem.heapUsedBytes : null;
    return { rssBytes: mem.rssBytes, heapUsedBytes: heap };
  } catch {
    return null;
  }
}

/** The master's RSS now: from /proc when the bench started it, else the monitor's. */
async function readMemoryOnce(ctx: PathContext, monitorAddr: string): Promise<MasterMemory> {
  const fromMonitor = await monitorMemory(monitorAddr);
  const master = ctx.processes.find((p) => p.name === 'master');
  const rss = master === undefined ? null : rssOfPid(master.pid);
  if (rss !== null) return { rssBytes: rss, heapUsedBytes: fromMonitor?.heapUsedBytes ?? null };
  if (fromMonitor !== null) return fromMonitor;
  throw new Error(`no memory reading of the master: no pid and no monitor at ${monitorAddr}`);
}

/**
 * The master's memory once the load has settled: V8 collects and returns the garbage of a
 * burst only after some idle seconds, so readings are taken every SETTLE_STEP_MS for
 * `settleMs` and the smallest is kept (a full run waits long enough for that collection).
 */
async function readMemory(
  ctx: PathContext, monitorAddr: string, settleMs: number,
): Promise<MasterMemory> {
  let best: MasterMemory | null = null;
  for (let waitedMs = 0; waitedMs < settleMs; waitedMs += SETTLE_STEP_MS) {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_STEP_MS));
    const m = await readMemoryOnce(ctx, monitorAddr);
    if (best === null || m.rssBytes < best.rssBytes) best = m;
  }
  assert(best !== null, 'at least one reading');
  return best;
}

/** Where a round of files goes: its own folder under the run's. */
interface Round {
  base: string;
  files: number;
}

function folderOf(round: Round, i: number): string {
  return `${round.base}/d${Math.floor(i / FILES_PER_FOLDER)}`;
}

/**
 * Runs `op(i)` for i in [0, count) with SESSIONS x INFLIGHT_PER_SESSION workers, each bound to
 * one session, showing progress.
 */
async function inFlight(
  ctx: PathContext, clients: Client[], count: number, deadline: Deadline,
  op: (client: Client, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let done = 0;
  const worker = async (client: Client): Promise<void> => {
    for (let i = next++; i < count; i = next++) {
      deadline.check();
      await op(client, i);
      done++;
      ctx.progress.update(done, count, 'ops');
    }
  };
  const workers: Promise<void>[] = [];
  for (const client of clients) {
    for (let w = 0; w < INFLIGHT_PER_SESSION; w++) workers.push(worker(client));
  }
  await Promise.all(workers);
  assert(done === count, 'every op ran');
}

function perMillionMiB(deltaBytes: number, files: number): number {
  return deltaBytes / BYTES_PER_MIB * (FILES_PER_MILLION / files);
}

async function createFiles(
  ctx: PathContext, clients: Client[], round: Round, deadline: Deadline,
): Promise<number> {
  const folders = Math.ceil(round.files / FILES_PER_FOLDER);
  const t0 = performance.now();
  await clients[0]!.mkdir(round.base, { recursive: true });
  await inFlight(ctx, clients, folders, deadline, async (client, k) => {
    await client.mkdir(folderOf(round, k * FILES_PER_FOLDER));
  });
  await inFlight(ctx, clients, round.files, deadline, async (client, i) => {
    const fh = await client.open(`${folderOf(round, i)}/f${i}`, 'wx');
    await fh.close();
  });
  return (performance.now() - t0) / 1000;
}

async function removeFiles(
  ctx: PathContext, clients: Client[], round: Round, deadline: Deadline,
): Promise<void> {
  await inFlight(ctx, clients, round.files, deadline, async (client, i) => {
    await client.unlink(`${folderOf(round, i)}/f${i}`);
  });
  const folders = Math.ceil(round.files / FILES_PER_FOLDER);
  await inFlight(ctx, clients, folders, deadline, async (client, k) => {
    await client.rmdir(folderOf(round, k * FILES_PER_FOLDER));
  });
  await clients[0]!.rmdir(round.base);
}

/**
 * A round of WARM_UP_SHARE of the files, made and removed before the first reading: the
 * master's buffers, young generation and allocator arenas grow to their working size then,
 * so the growth measured afterwards is the files' own (a quick run's few files would
 * otherwise mostly measure that fixed growth).
 */
async function warmUp(ctx: PathContext, clients: Client[], files: number): Promise<void> {
  const round = { base: `${ctx.root}/memory-warm-up`, files: Math.ceil(files * WARM_UP_SHARE) };
  const deadline = pathDeadline(ctx, 'master memory warm-up');
  ctx.progress.begin(`warm-up: ${round.files} files made and removed`);
  await createFiles(ctx, clients, round, deadline);
  await removeFiles(ctx, clients, round, deadline);
  ctx.progress.end('done');
}

async function openClients(ctx: PathContext): Promise<Client[]> {
  const clients: Client[] = [];
  try {
    for (let i = 0; i < SESSIONS; i++) clients.push(await ctx.connect());
  } catch (err) {
    for (const c of clients) c.close();
    throw err;
  }
  return clients;
}

function memoryFigure(
  id: string, label: string, value: number, seconds: number, files: number, checks: Check[],
  cpuSeconds: Record<string, number>,
): Figure {
  return {
    id, kind: 'path', label, value, unit: 'MiB/Mfiles', seconds, ops: files, cpuSeconds,
    checks,
  };
}

/**
 * Master memory per million empty files: RSS growth and, when the monitor reports it, JS heap
 * growth. The monitor is `monitorAddr`, else the context's, else the master's host at the
 * monitor's default port.
 */
export async function runMasterMemory(ctx: PathContext, monitorAddr?: string): Promise<Figure[]> {
  const files = ctx.params.quick ? MEMORY_FILES_QUICK : MEMORY_FILES_FULL;
  const host = ctx.masterAddr.slice(0, Math.max(0, ctx.masterAddr.lastIndexOf(':')));
  const monitor = monitorAddr ?? ctx.monitorAddr ?? `${host}:${PORT_MONITOR}`;
  const what = `master memory, ${files} files`;
  const clients = await openClients(ctx);
  try {
    await warmUp(ctx, clients, files);
    const round = { base: `${ctx.root}/memory`, files };
    const deadline = pathDeadline(ctx, what);
    const inodes0 = (await clients[0]!.statfs()).inodes;
    const settleMs = ctx.params.quick ? SETTLE_QUICK_MS : SETTLE_FULL_MS;
    const before = await readMemory(ctx, monitor, settleMs);
    ctx.progress.begin(what);
    const cpu = cpuMeter(ctx);
    const seconds = await createFiles(ctx, clients, round, deadline);
    const cpuSeconds = cpu();
    const after = await readMemory(ctx, monitor, settleMs);
    const grown = (await clients[0]!.statfs()).inodes - inodes0;
    const expected = files + Math.ceil(files / FILES_PER_FOLDER) + 1;
    const checks = [{
      name: 'inodes', passed: grown === expected, detail: `${grown} new inodes, ${expected} made`,
    }];
    const rss = perMillionMiB(after.rssBytes - before.rssBytes, files);
    ctx.progress.end(`${rss.toFixed(0)} MiB RSS per million files, ` +
      `${(files / seconds).toFixed(0)} creates/s`);
    const figures = [memoryFigure('master-memory.rss', 'master RSS per million files, MiB',
      rss, seconds, files, checks, cpuSeconds)];
    if (before.heapUsedBytes !== null && after.heapUsedBytes !== null) {
      const heap = perMillionMiB(after.heapUsedBytes - before.heapUsedBytes, files);
      figures.push(memoryFigure('master-memory.heap', 'master JS heap per million files, MiB',
        heap, seconds, files, checks, cpuSeconds));
    }
    ctx.progress.begin(`removing ${files} files`);
    await removeFiles(ctx, clients, round, pathDeadline(ctx, `removing ${files} files`));
    ctx.progress.end('removed');
    return figures;
  } finally {
    for (const c of clients) c.close();
  }
}
