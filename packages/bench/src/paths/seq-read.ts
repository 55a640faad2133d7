// Sequential read path: the test file of a goal read back through the client library in
// --io-size reads (page caches dropped first when allowed). The timed pass compares every byte
// with what was written (memcmp, cheap); a second, untimed pass through the client computes the
// sha256, checked against the written file's, so hashing never slows the figure.
import crypto from 'node:crypto';
import type { Client } from '@antlerfs/client';
import { assert } from '@antlerfs/protocol';
import type { Deadline } from '../deadline.ts';
import { CACHED_NOTE, dropPageCaches } from '../page-cache.ts';
import { throughput, type Check, type Figure } from '../report.ts';
import { cpuMeter, pathDeadline, seqFilePath, type PathContext } from './path-context.ts';
import { ensureSeqFile } from './seq-write.ts';

interface ReadPass {
  seconds: number;
  bytesRead: number;
  /** Reads whose bytes differ from the written ones (timed pass only). */
  mismatchedReads: number;
  /** sha256 of the bytes read (hashing pass only). */
  sha256: string;
}

/** Reads the whole file once; `mode` says whether to compare (timed) or hash (untimed). */
async function readPass(
  ctx: PathContext, client: Client, goal: number, deadline: Deadline, mode: 'compare' | 'hash',
): Promise<ReadPass> {
  const sizeBytes = ctx.params.sizeBytes;
  const buf = Buffer.allocUnsafe(ctx.pattern.ioSizeBytes);
  const hash = mode === 'hash' ? crypto.createHash('sha256') : null;
  let mismatchedReads = 0;
  let offset = 0;
  const t0 = performance.now();
  const fh = await client.open(seqFilePath(ctx, goal), 'r');
  try {
    // Bounded: a round reads at least one byte or stops; short reads may double the rounds.
    const roundsMax = 2 * ctx.pattern.ioCount(sizeBytes);
    for (let round = 0; offset < sizeBytes && round < roundsMax; round++) {
      deadline.check();
      const want = Math.min(buf.length, sizeBytes - offset);
      const n = await fh.read(buf, 0, want, offset);
      if (n === 0) break;
      assert(n <= want, `read returned ${n} of ${want} bytes asked`);
      const data = buf.subarray(0, n);
      if (hash !== null) hash.update(data);
      else if (!ctx.pattern.matches(offset, data, sizeBytes)) mismatchedReads++;
      offset += n;
      ctx.progress.update(offset, sizeBytes, 'MiB');
    }
  } finally {
    await fh.close();
  }
  return { seconds: (performance.now() - t0) / 1000, bytesRead: offset, mismatchedReads,
    sha256: hash?.digest('hex') ?? '' };
}

function readChecks(ctx: PathContext, timed: ReadPass, hashed: ReadPass): Check[] {
  const size = ctx.params.sizeBytes;
  return [
    { name: 'bytes', passed: timed.bytesRead === size && timed.mismatchedReads === 0,
      detail: `${timed.bytesRead} of ${size} bytes read, ${timed.mismatchedReads} reads differ` },
    { name: 'sha256', passed: hashed.bytesRead === size && hashed.sha256 === ctx.expectedSha256,
      detail: `read ${hashed.sha256} (${hashed.bytesRead} bytes), written ${ctx.expectedSha256}` },
  ];
}

export async function runSeqRead(ctx: PathContext, goal: number): Promise<Figure> {
  const client = await ctx.connect();
  try {
    await ensureSeqFile(ctx, client, goal, `seq-read goal ${goal}`);
    const dropped = await dropPageCaches();
    const what = `seq-read goal ${goal}`;
    ctx.progress.begin(`${what}${dropped ? ' (page cache dropped)' : ' (cached)'}`);
    const cpu = cpuMeter(ctx);
    const timed = await readPass(ctx, client, goal, pathDeadline(ctx, what), 'compare');
    const cpuSeconds = cpu();
    const t = throughput(timed.bytesRead, timed.seconds);
    ctx.progress.end(`${t.mbPerS.toFixed(1)} MB/s`);
    ctx.progress.begin(`${what}: sha256 of a second read (not measured)`);
    const hashed = await readPass(ctx, client, goal, pathDeadline(ctx, `${what} sha256`), 'hash');
    ctx.progress.end(hashed.sha256 === ctx.expectedSha256 ? 'sha256 matches' : 'sha256 DIFFERS');
    return {
      id: `seq-read.goal${goal}`, kind: 'path', label: `client sequential read, goal ${goal}`,
      value: t.mbPerS, unit: 'MB/s', mibPerS: t.mibPerS, seconds: timed.seconds,
      bytes: timed.bytesRead, limitId: 'raw-disk.read', cpuSeconds,
      checks: readChecks(ctx, timed, hashed), ...(dropped ? {} : { note: CACHED_NOTE }),
    };
  } finally {
    await client.close();
  }
}
