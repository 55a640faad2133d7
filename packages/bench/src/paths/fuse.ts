// The FUSE path: one antler-mount in front of the run's master, then dd sequential writes and
// reads at goals 1-3, fio random reads, metadata ops and small files through it, and the mount
// stopped. When this machine cannot mount, or a step throws, its figures are reported failed
// with the reason (never left out, never made up); the other steps still run.
import type { Figure, Unit } from '../report.ts';
import { failedFigure } from '../report.ts';
import { startBenchMount } from '../fuse-mount.ts';
import { SEQ_GOALS, type PathContext } from './path-context.ts';
import { runFuseMetadata, runFuseSmallFiles } from './fuse-files.ts';
import { runFuseRandomRead } from './fuse-random-read.ts';
import type { FuseRun } from './fuse-run.ts';
import { runFuseSeq } from './fuse-seq.ts';

/** Every figure the FUSE path reports, by step, for failures that leave a step without any. */
const STEP_FIGURES: Record<string, { ids: string[]; unit: Unit }> = {
  seq: { ids: [...SEQ_GOALS.flatMap((g) => [`fuse.seq-write.goal${g}`, `fuse.seq-read.goal${g}`])],
    unit: 'MB/s' },
  random: { ids: ['fuse.random-read.4k'], unit: 'ops/s' },
  metadata: { ids: ['create', 'stat', 'rename', 'unlink'].map((k) => `fuse.metadata.${k}`),
    unit: 'ops/s' },
  small: { ids: ['fuse.small-files.write', 'fuse.small-files.read'], unit: 'ops/s' },
};

export const FUSE_FIGURE_IDS: string[] = Object.values(STEP_FIGURES).flatMap((s) => s.ids);

function failedStep(step: string, err: unknown): Figure[] {
  const s = STEP_FIGURES[step]!;
  return s.ids.map((id) => failedFigure({ id, kind: 'path', unit: s.unit }, err));
}

export async function runFuse(ctx: PathContext): Promise<Figure[]> {
  let mount;
  try {
    ctx.progress.begin('mounting antler-mount');
    mount = await startBenchMount(ctx.masterAddr);
    ctx.progress.end(`mounted on ${mount.dir}`);
  } catch (err) {
    ctx.progress.note(`the mount figures fail: ${(err as Error).message}`);
    return Object.keys(STEP_FIGURES).flatMap((step) => failedStep(step, err));
  }
  let client;
  try {
    client = await ctx.connect();
  } catch (err) {
    await mount.stop();
    throw err;
  }
  const own = mount.child.pid === undefined ? [] : [{ name: 'mount', pid: mount.child.pid }];
  const f: FuseRun = { ctx, mount, client, processes: [...ctx.processes, ...own] };
  const steps: [string, () => Promise<Figure | Figure[]>][] = [
    ['seq', () => runFuseSeq(f)],
    ['random', () => runFuseRandomRead(f)],
    ['metadata', () => runFuseMetadata(f)],
    ['small', () => runFuseSmallFiles(f)],
  ];
  const figures: Figure[] = [];
  let told = false;
  try {
    for (const [step, run] of steps) {
      const before = mount.gone();
      if (before !== null) {
        figures.push(...failedStep(step, new Error(before)));
        continue;
      }
      try {
        const r = await run();
        figures.push(...(Array.isArray(r) ? r : [r]));
      } catch (err) {
        // A mount that died explains the failure better than the tool's own message.
        const why = mount.gone() ?? (err as Error).message;
        ctx.progress.note(`mount ${step} failed: ${why}`);
        if (mount.gone() !== null && !told) {
          told = true;
          ctx.progress.note(`the end of antler-mount's log:\n${mount.logTail()}`);
        }
        figures.push(...failedStep(step, new Error(why)));
      }
    }
  } finally {
    await client.close();
    await mount.stop();
  }
  return figures;
}
