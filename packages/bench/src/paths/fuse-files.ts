// Metadata ops and small files through the mount, from one thread: each phase runs in a child
// process (fuse-child.ts: synchronous node:fs calls) so the bench's own event loop does not
// sit between the calls. Metadata: creates (open O_CREAT + close), stats, renames, unlinks of
// --metadata-ops files. Small files: --small-files files of 64 KiB written, then read back
// after the page caches are dropped, bytes and sha256 checked. The kernel caches attributes and
// names for the mount's timeouts (1 s by default), as a program on the mount would see them.
// Each kind first runs an untimed warm-up round of the same count in a folder of its own: the
// figures are those of a running mount, not of the first calls of each request kind (the
// mount's and the master's code is compiled as it first runs, and its CPU per request keeps
// falling for thousands of requests: 2,000 creates ran at 2,025-2,301 per s after a round of
// 500, at 2,786-2,850 after a round of 2,000).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from '@antlerfs/test/harness/cluster.ts';
import { CACHED_NOTE, dropPageCaches } from '../page-cache.ts';
import { failedFigure, type Check, type Figure } from '../report.ts';
import type { ChildPhase, ChildResult } from './fuse-child.ts';
import { fuseMeter, onMount, type FuseRun } from './fuse-run.ts';
import { SMALL_FILE_BYTES } from './path-context.ts';
import { smallFilePattern, smallFilesLimit } from './small-files.ts';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fuse-child.ts');
const CHILD_OUTPUT_MAX_BYTES = 1024 * 1024;
const METADATA_PHASES = ['create', 'stat', 'rename', 'unlink'] as const;
/** Ops of the untimed warm-up round, as a share of the measured ones. */
const WARM_UP_SHARE = 1;

function runChild(f: FuseRun, phase: ChildPhase, dir: string, count: number): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', CHILD, phase, dir, String(count)], {
      cwd: REPO_ROOT, timeout: f.ctx.params.pathTimeoutMs, maxBuffer: CHILD_OUTPUT_MAX_BYTES,
      killSignal: 'SIGKILL',
    }, (err, stdout, stderr) => {
      if (err !== null) {
        reject(new Error(`${phase} on the mount failed: ${err.message} ${stderr.slice(-2000)}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout) as ChildResult);
      } catch {
        reject(new Error(`${phase}: no result from the child: ${stdout.slice(0, 500)}`));
      }
    });
  });
}

/** One phase: the child's timing and latency, the cluster's and the mount's CPU around it. */
async function measured(
  f: FuseRun, phase: ChildPhase, dir: string, count: number, what: string,
): Promise<{ r: ChildResult; cpuSeconds: Record<string, number> }> {
  f.ctx.progress.begin(what);
  const cpu = fuseMeter(f);
  const r = await runChild(f, phase, dir, count);
  // The child's own CPU inside its timed loop, not its start-up.
  const cpuSeconds = { ...cpu(), tool: r.cpuSeconds };
  f.ctx.progress.end(`${(r.ops / r.seconds).toFixed(0)} ops/s, p50 ` +
    `${r.latency.p50Ms.toFixed(2)} ms, p99 ${r.latency.p99Ms.toFixed(2)} ms`);
  return { r, cpuSeconds };
}

/**
 * The phases once, untimed, on WARM_UP_SHARE of `count` items in folder `dir` (made here). A
 * failure is noted and left to the measured round, which reports it as its figure's failure.
 */
async function warmUp(
  f: FuseRun, phases: readonly ChildPhase[], dir: string, count: number,
): Promise<void> {
  const n = Math.ceil(count * WARM_UP_SHARE);
  f.ctx.progress.begin(`mount: warm-up, ${phases.join(' / ')}, ${n} each`);
  try {
    await f.client.mkdir(dir, { recursive: true });
    for (const phase of phases) await runChild(f, phase, onMount(f, dir), n);
    f.ctx.progress.end('done');
  } catch (err) {
    f.ctx.progress.end('failed');
    f.ctx.progress.note(`mount warm-up failed: ${(err as Error).message}`);
  }
}

function figureOf(
  id: string, label: string, m: { r: ChildResult; cpuSeconds: Record<string, number> },
  checks: Check[], extra: Partial<Figure> = {},
): Figure {
  return {
    id, kind: 'path', label, value: m.r.ops / m.r.seconds, unit: 'ops/s', seconds: m.r.seconds,
    ops: m.r.ops, cpuSeconds: m.cpuSeconds, latency: m.r.latency, checks,
    ...(id.includes('small-files') ? { limitId: smallFilesLimit(id) }
      : id.endsWith('.stat') ? {} : { limitId: 'raw-disk.fdatasync' }),
    ...extra,
  };
}

export async function runFuseMetadata(f: FuseRun): Promise<Figure[]> {
  const count = f.ctx.params.metadataOpsPerClient;
  const dir = `${f.ctx.root}/fuse-meta`;
  await f.client.mkdir(dir, { recursive: true });
  await warmUp(f, METADATA_PHASES, `${dir}-warm-up`, count);
  const figures: Figure[] = [];
  for (const phase of METADATA_PHASES) {
    const id = `fuse.metadata.${phase}`;
    try {
      const m = await measured(f, phase, onMount(f, dir), count,
        `mount: metadata ${phase}, one thread, ${count} ops`);
      const checks: Check[] = [{ name: phase, passed: m.r.wrong === 0,
        detail: `${m.r.wrong} of ${m.r.ops} answers wrong` }];
      figures.push(figureOf(id, `mount: metadata ${phase}, one thread, ops/s`, m, checks));
    } catch (err) {
      f.ctx.progress.note(`${id} failed: ${(err as Error).message}`);
      figures.push(failedFigure({ id, kind: 'path', unit: 'ops/s' }, err));
    }
  }
  return figures;
}

export async function runFuseSmallFiles(f: FuseRun): Promise<Figure[]> {
  const count = f.ctx.params.smallFiles;
  const dir = `${f.ctx.root}/fuse-small`;
  await f.client.mkdir(dir, { recursive: true });
  const goal = (await f.client.stat(dir)).goal;
  const label = `mount: ${count} x 64 KiB files, one thread, goal ${goal}, files/s`;
  await warmUp(f, ['small-write', 'small-read'], `${dir}-warm-up`, count);
  const figures: Figure[] = [];
  const w = await measured(f, 'small-write', onMount(f, dir), count,
    `mount: small files write, ${count} x 64 KiB`);
  const entries = await f.client.readdir(dir);
  const listed = entries.filter((e) => e.attr.length === SMALL_FILE_BYTES).length;
  figures.push(figureOf('fuse.small-files.write', `${label}, write`, w, [
    { name: 'writes', passed: w.r.wrong === 0, detail: `${w.r.wrong} short writes` },
    { name: 'files', passed: listed === count, detail: `${listed} of ${count} files of 64 KiB` },
  ], { bytes: count * SMALL_FILE_BYTES }));
  const dropped = await dropPageCaches();
  const r = await measured(f, 'small-read', onMount(f, dir), count,
    `mount: small files read, ${count} x 64 KiB`);
  const expected = smallFilePattern().sha256(count * SMALL_FILE_BYTES);
  figures.push(figureOf('fuse.small-files.read', `${label}, read`, r, [
    { name: 'bytes', passed: r.r.wrong === 0, detail: `${r.r.wrong} files differ` },
    { name: 'sha256', passed: r.r.sha256 === expected,
      detail: `read ${r.r.sha256}, written ${expected}` },
  ], { bytes: count * SMALL_FILE_BYTES, ...(dropped ? {} : { note: CACHED_NOTE }) }));
  return figures;
}
