// Small files path: --small-files files of 64 KiB written one at a time through the client
// library (open, write, close: one thread of `cp`), then, page caches dropped, read back one at
// a time (open, read, close). Files/s and the latency of each file; every file's bytes are
// compared with what was written, and a second, untimed read (readFile) compares the sha256 of
// all of them with the written one's, so hashing never slows the figure.
import crypto from 'node:crypto';
import type { Client } from '@antlerfs/client';
import { assert } from '@antlerfs/protocol';
import { DataPattern } from '../data-pattern.ts';
import { CACHED_NOTE, dropPageCaches } from '../page-cache.ts';
import { LatencyRecorder } from '../percentiles.ts';
import type { Check, Figure } from '../report.ts';
import { cpuMeter, pathDeadline, SMALL_FILE_BYTES, type PathContext } from './path-context.ts';

/** File i holds io i of this pattern: every file differs, and the files end to end hash once. */
export function smallFilePattern(): DataPattern {
  return new DataPattern(SMALL_FILE_BYTES, 'antler-bench small files');
}

interface Pass {
  seconds: number;
  latency: LatencyRecorder;
  cpuSeconds: Record<string, number>;
  /** Files whose bytes differ (read pass only). */
  mismatched: number;
  sha256: string;
}

async function writePass(
  ctx: PathContext, client: Client, dir: string, pattern: DataPattern,
): Promise<Pass> {
  const count = ctx.params.smallFiles;
  const total = count * SMALL_FILE_BYTES;
  const latency = new LatencyRecorder(count);
  const deadline = pathDeadline(ctx, 'small files write');
  const cpu = cpuMeter(ctx);
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    deadline.check();
    const start = performance.now();
    const fh = await client.open(`${dir}/f${i}`, 'w');
    try {
      await fh.write(pattern.io(i, total), 0);
    } finally {
      await fh.close();
    }
    latency.since(start);
    ctx.progress.update(i + 1, count, 'ops');
  }
  return { seconds: (performance.now() - t0) / 1000, latency, cpuSeconds: cpu(), mismatched: 0,
    sha256: pattern.sha256(total) };
}

/**
 * Reads every file back one at a time into one reused buffer and compares it with what was
 * written (memcmp, cheap inside the timed loop). The sha256 of all files is taken by hashPass.
 */
async function readPass(
  ctx: PathContext, client: Client, dir: string, pattern: DataPattern,
): Promise<Pass> {
  const count = ctx.params.smallFiles;
  const total = count * SMALL_FILE_BYTES;
  const latency = new LatencyRecorder(count);
  const deadline = pathDeadline(ctx, 'small files read');
  const buf = Buffer.allocUnsafe(SMALL_FILE_BYTES);
  let mismatched = 0;
  const cpu = cpuMeter(ctx);
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    deadline.check();
    const start = performance.now();
    const fh = await client.open(`${dir}/f${i}`, 'r');
    let n: number;
    try {
      n = await fh.read(buf, 0, SMALL_FILE_BYTES, 0);
    } finally {
      await fh.close();
    }
    latency.since(start);
    const data = buf.subarray(0, n);
    const matches = data.length === SMALL_FILE_BYTES
      && pattern.matches(i * SMALL_FILE_BYTES, data, total);
    if (!matches) mismatched++;
    ctx.progress.update(i + 1, count, 'ops');
  }
  return { seconds: (performance.now() - t0) / 1000, latency, cpuSeconds: cpu(), mismatched,
    sha256: '' };
}

/** sha256 of every file read back end to end, in a second pass that is not timed. */
async function hashPass(ctx: PathContext, client: Client, dir: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  const deadline = pathDeadline(ctx, 'small files sha256');
  for (let i = 0; i < ctx.params.smallFiles; i++) {
    deadline.check();
    hash.update(await client.readFile(`${dir}/f${i}`));
  }
  return hash.digest('hex');
}

/** A small file is at least one file made (or read) on a chunkserver's disk per copy. */
export function smallFilesLimit(id: string): string {
  return id.endsWith('.write') ? 'raw-disk.small-write' : 'raw-disk.small-read';
}

/** The figure of one pass (the same shape for the library and the mount). */
export function smallFilesFigure(
  o: { id: string; label: string; count: number; seconds: number; checks: Check[];
    cpuSeconds: Record<string, number>; latency: LatencyRecorder; note?: string },
): Figure {
  return {
    id: o.id, kind: 'path', label: o.label, value: o.count / o.seconds, unit: 'ops/s',
    limitId: smallFilesLimit(o.id),
    seconds: o.seconds, ops: o.count, bytes: o.count * SMALL_FILE_BYTES,
    cpuSeconds: o.cpuSeconds, latency: o.latency.summary(), checks: o.checks,
    ...(o.note !== undefined ? { note: o.note } : {}),
  };
}

export async function runSmallFiles(ctx: PathContext): Promise<Figure[]> {
  const count = ctx.params.smallFiles;
  assert(count >= 1, 'at least one small file');
  const client = await ctx.connect();
  const dir = `${ctx.root}/small-files`;
  const pattern = smallFilePattern();
  try {
    await client.mkdir(dir, { recursive: true });
    const goal = (await client.stat(dir)).goal;
    // An untimed round first, as on the mount: the client's and the master's code for these
    // requests is compiled as it first runs (the figures are those of a running client).
    ctx.progress.begin(`small files: warm-up, ${count} written and read (not measured)`);
    const warmUpDir = `${dir}-warm-up`;
    await client.mkdir(warmUpDir, { recursive: true });
    await writePass(ctx, client, warmUpDir, pattern);
    await readPass(ctx, client, warmUpDir, pattern);
    ctx.progress.end('done');
    ctx.progress.begin(`small files: ${count} x 64 KiB written one at a time, goal ${goal}`);
    const w = await writePass(ctx, client, dir, pattern);
    ctx.progress.end(`${(count / w.seconds).toFixed(0)} files/s`);
    const dropped = await dropPageCaches();
    ctx.progress.begin(`small files: read back one at a time${dropped ? '' : ' (cached)'}`);
    const r = await readPass(ctx, client, dir, pattern);
    ctx.progress.end(`${(count / r.seconds).toFixed(0)} files/s`);
    ctx.progress.begin('small files: sha256 of a second read (not measured)');
    r.sha256 = await hashPass(ctx, client, dir);
    ctx.progress.end(r.sha256 === w.sha256 ? 'sha256 matches' : 'sha256 DIFFERS');
    const readChecks: Check[] = [
      { name: 'bytes', passed: r.mismatched === 0,
        detail: `${r.mismatched} of ${count} files differ from what was written` },
      { name: 'sha256', passed: r.sha256 === w.sha256,
        detail: `read ${r.sha256}, written ${w.sha256}` },
    ];
    const files = await client.readdir(dir);
    const writeChecks: Check[] = [{ name: 'files', passed: files.length === count &&
      files.every((e) => e.attr.length === SMALL_FILE_BYTES),
      detail: `${files.length} files listed, ${count} written of 64 KiB each` }];
    const label = `client ${count} x 64 KiB files, one at a time, goal ${goal}, files/s`;
    return [
      smallFilesFigure({ id: 'small-files.write', label: `${label}, write`, count,
        seconds: w.seconds, checks: writeChecks, cpuSeconds: w.cpuSeconds, latency: w.latency }),
      smallFilesFigure({ id: 'small-files.read', label: `${label}, read`, count,
        seconds: r.seconds, checks: readChecks, cpuSeconds: r.cpuSeconds, latency: r.latency,
        ...(dropped ? {} : { note: CACHED_NOTE }) }),
    ];
  } finally {
    await client.close();
  }
}
