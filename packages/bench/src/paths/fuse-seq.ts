// Sequential write and read through the mount at goals 1, 2 and 3 with dd: a file of --size
// copied from a local file of the pattern (written first, untimed, so it is in the page cache)
// with bs=1M and conv=fsync into a folder of that goal; then, every write done, each file read
// back to /dev/null after the page caches are dropped. An untimed sha256sum of each file on
// the mount is checked against the pattern's, and the master's length and goal of the file.
import fs from 'node:fs/promises';
import path from 'node:path';
import { CACHED_NOTE, dropPageCaches } from '../page-cache.ts';
import { failedFigure, throughput, type Check, type Figure } from '../report.ts';
import { SEQ_GOALS, type PathContext } from './path-context.ts';
import { fuseMeter, onMount, quote, runTool, type FuseRun } from './fuse-run.ts';

export function fuseSeqFile(ctx: PathContext, goal: number): string {
  return `${ctx.root}/fuse-goal${goal}/seq.bin`;
}

/** The local file dd copies from: --size bytes of the pattern. */
async function writeSource(ctx: PathContext): Promise<string> {
  const file = path.join(ctx.scratchDir, 'fuse-source.bin');
  const size = ctx.params.sizeBytes;
  const fh = await fs.open(file, 'w');
  try {
    for (let i = 0; i < ctx.pattern.ioCount(size); i++) {
      await fh.write(ctx.pattern.io(i, size), 0, undefined, i * ctx.pattern.ioSizeBytes);
    }
  } finally {
    await fh.close();
  }
  return file;
}

async function writeGoal(f: FuseRun, source: string, goal: number): Promise<Figure> {
  const { ctx, client } = f;
  const size = ctx.params.sizeBytes;
  const file = fuseSeqFile(ctx, goal);
  const dir = path.posix.dirname(file);
  await client.mkdir(dir, { recursive: true });
  await client.setGoal(dir, goal);
  ctx.progress.begin(`mount: dd write goal ${goal}, bs=1M conv=fsync`);
  // As before every measurement (bench-run.ts); the source is read back into the cache so dd
  // measures the mount, not the local disk.
  await dropPageCaches();
  await runTool(f, `cat ${quote(source)} > /dev/null`);
  const cpu = fuseMeter(f);
  const t0 = performance.now();
  await runTool(f, `dd if=${quote(source)} of=${quote(onMount(f, file))} bs=1M ` +
    `count=${size} iflag=count_bytes conv=fsync status=none`);
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = cpu();
  const t = throughput(size, seconds);
  ctx.progress.end(`${t.mbPerS.toFixed(1)} MB/s`);
  const attr = await client.stat(file);
  const checks: Check[] = [
    { name: 'length', passed: attr.length === size, detail: `${attr.length} of ${size} bytes` },
    { name: 'goal', passed: attr.goal === goal, detail: `goal ${attr.goal}, asked ${goal}` },
  ];
  return {
    id: `fuse.seq-write.goal${goal}`, kind: 'path',
    label: `mount: dd sequential write, goal ${goal}, bs=1M conv=fsync`,
    value: t.mbPerS, unit: 'MB/s', mibPerS: t.mibPerS, seconds, bytes: size,
    limitId: 'raw-disk.write', cpuSeconds, checks,
  };
}

async function readGoal(f: FuseRun, goal: number, expectedSha256: string): Promise<Figure> {
  const { ctx } = f;
  const size = ctx.params.sizeBytes;
  const file = onMount(f, fuseSeqFile(ctx, goal));
  const dropped = await dropPageCaches();
  ctx.progress.begin(`mount: dd read goal ${goal}, bs=1M${dropped ? ' (page cache dropped)' : ''}`);
  const cpu = fuseMeter(f);
  const t0 = performance.now();
  await runTool(f, `dd if=${quote(file)} of=/dev/null bs=1M status=none`);
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = cpu();
  const t = throughput(size, seconds);
  ctx.progress.end(`${t.mbPerS.toFixed(1)} MB/s`);
  const sum = (await runTool(f, `sha256sum ${quote(file)}`)).split(' ')[0] ?? '';
  const checks: Check[] = [{ name: 'sha256', passed: sum === expectedSha256,
    detail: `read ${sum}, written ${expectedSha256}` }];
  return {
    id: `fuse.seq-read.goal${goal}`, kind: 'path',
    label: `mount: dd sequential read, goal ${goal}, bs=1M`,
    value: t.mbPerS, unit: 'MB/s', mibPerS: t.mibPerS, seconds, bytes: size,
    limitId: 'raw-disk.read', cpuSeconds, checks, ...(dropped ? {} : { note: CACHED_NOTE }),
  };
}

/** Every write, then every read; a step that throws is a failed figure, the others still run. */
export async function runFuseSeq(f: FuseRun): Promise<Figure[]> {
  const { ctx } = f;
  const figures: Figure[] = [];
  const guard = async (id: string, run: () => Promise<Figure>): Promise<void> => {
    try {
      figures.push(await run());
    } catch (err) {
      ctx.progress.note(`${id} failed: ${(err as Error).message}`);
      figures.push(failedFigure({ id, kind: 'path', unit: 'MB/s' }, err));
    }
  };
  const source = await writeSource(ctx);
  try {
    const sha = ctx.expectedSha256 !== '' ? ctx.expectedSha256
      : ctx.pattern.sha256(ctx.params.sizeBytes);
    for (const g of SEQ_GOALS) {
      await guard(`fuse.seq-write.goal${g}`, () => writeGoal(f, source, g));
    }
    for (const g of SEQ_GOALS) {
      await guard(`fuse.seq-read.goal${g}`, () => readGoal(f, g, sha));
    }
  } finally {
    await fs.rm(source, { force: true });
  }
  return figures;
}
