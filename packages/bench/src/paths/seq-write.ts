// Sequential write path: one file of --size at a given goal, written through the client library
// in --io-size writes (buffers handed over: write-behind), then fsync and close, all inside the
// timed span. Held against the raw disk's write (with goal 2 every byte is stored twice on this
// machine's disks).
import type { Client } from '@antlerfs/client';
import { assert } from '@antlerfs/protocol';
import type { Deadline } from '../deadline.ts';
import { throughput, type Check, type Figure } from '../report.ts';
import { cpuMeter, pathDeadline, seqFilePath, type PathContext } from './path-context.ts';

/** Writes the whole test file of `goal`; returns the seconds from open to close. */
export async function writeSeqFile(
  ctx: PathContext, client: Client, goal: number, deadline: Deadline,
): Promise<number> {
  const { pattern } = ctx;
  const sizeBytes = ctx.params.sizeBytes;
  const count = pattern.ioCount(sizeBytes);
  const t0 = performance.now();
  const fh = await client.open(seqFilePath(ctx, goal), 'w', { goal });
  try {
    for (let i = 0; i < count; i++) {
      deadline.check();
      // The pattern's windows are never written to, so the client may keep them until they
      // are acknowledged (write-behind) instead of waiting for each write's acknowledgement.
      await fh.write(pattern.io(i, sizeBytes), i * pattern.ioSizeBytes, { transfer: true });
      ctx.progress.update((i + 1) * pattern.ioSizeBytes, sizeBytes, 'MiB');
    }
    await fh.fsync();
  } finally {
    await fh.close();
  }
  return (performance.now() - t0) / 1000;
}

/** Writes the test file of `goal` untimed unless it is already there at full length. */
export async function ensureSeqFile(
  ctx: PathContext, client: Client, goal: number, what: string,
): Promise<void> {
  const size = ctx.params.sizeBytes;
  const found = await client.stat(seqFilePath(ctx, goal)).then((a) => a.length, () => -1);
  if (found === size) return;
  ctx.progress.begin(`${what}: writing the goal ${goal} file to read (not measured)`);
  await writeSeqFile(ctx, client, goal, pathDeadline(ctx, `${what} preparation`));
  ctx.progress.end('written');
}

/** The file's length and goal as the master reports them after the write. */
async function statChecks(ctx: PathContext, client: Client, goal: number): Promise<Check[]> {
  const attr = await client.stat(seqFilePath(ctx, goal));
  const size = ctx.params.sizeBytes;
  return [
    { name: 'length', passed: attr.length === size, detail: `${attr.length} of ${size} bytes` },
    { name: 'goal', passed: attr.goal === goal, detail: `goal ${attr.goal}, asked ${goal}` },
  ];
}

export async function runSeqWrite(ctx: PathContext, goal: number): Promise<Figure> {
  assert(Number.isInteger(goal) && goal >= 1, 'goal is a copy count');
  const client = await ctx.connect();
  try {
    ctx.progress.begin(`seq-write goal ${goal}`);
    const cpu = cpuMeter(ctx);
    const deadline = pathDeadline(ctx, `seq-write goal ${goal}`);
    const seconds = await writeSeqFile(ctx, client, goal, deadline);
    const cpuSeconds = cpu();
    const t = throughput(ctx.params.sizeBytes, seconds);
    const checks = await statChecks(ctx, client, goal);
    ctx.progress.end(`${t.mbPerS.toFixed(1)} MB/s`);
    return {
      id: `seq-write.goal${goal}`, kind: 'path',
      label: `client sequential write, goal ${goal}, fsync at end`,
      value: t.mbPerS, unit: 'MB/s', mibPerS: t.mibPerS, seconds, bytes: ctx.params.sizeBytes,
      limitId: 'raw-disk.write', cpuSeconds, checks,
    };
  } finally {
    await client.close();
  }
}
