// Random read path: 4 KiB reads at seeded, 4 KiB-aligned offsets of the goal-1 sequential file
// through one client-library file handle, RANDOM_READ_DEPTH of them in flight (as fio's
// iodepth), page caches dropped first when allowed. IOPS and the latency of each read; every
// read's bytes are compared with the pattern (memcmp, cheap inside the timed loop).
import { assert } from '@antlerfs/protocol';
import { CACHED_NOTE, dropPageCaches } from '../page-cache.ts';
import { LatencyRecorder } from '../percentiles.ts';
import type { Figure } from '../report.ts';
import {
  cpuMeter, pathDeadline, RANDOM_READ_BYTES, RANDOM_READ_DEPTH, SeededOffsets, seqFilePath,
  type PathContext,
} from './path-context.ts';
import { ensureSeqFile } from './seq-write.ts';

/** Goal of the file read: one copy, so every read goes to the one chunkserver that has it. */
const RANDOM_READ_GOAL = 1;
const OFFSETS_SEED = 0x5eed;

export async function runRandomRead(ctx: PathContext): Promise<Figure> {
  const { sizeBytes } = ctx.params;
  const total = ctx.params.randomReads;
  const slots = Math.floor(sizeBytes / RANDOM_READ_BYTES);
  assert(slots >= 1 && total >= 1, 'a file of at least one 4 KiB read, and some reads');
  const client = await ctx.connect();
  try {
    await ensureSeqFile(ctx, client, RANDOM_READ_GOAL, 'random-read');
    const dropped = await dropPageCaches();
    const what = `random 4 KiB reads, ${RANDOM_READ_DEPTH} in flight, client library`;
    const fh = await client.open(seqFilePath(ctx, RANDOM_READ_GOAL), 'r');
    const offsets = new SeededOffsets(OFFSETS_SEED);
    const latency = new LatencyRecorder(total);
    const deadline = pathDeadline(ctx, what);
    let issued = 0;
    let mismatched = 0;
    let bytesRead = 0;
    ctx.progress.begin(`${what}${dropped ? ' (page cache dropped)' : ' (cached)'}`);
    const cpu = cpuMeter(ctx);
    const t0 = performance.now();
    const worker = async (): Promise<void> => {
      const buf = Buffer.allocUnsafe(RANDOM_READ_BYTES);
      while (issued < total) {
        issued++;
        deadline.check();
        const at = offsets.next(slots) * RANDOM_READ_BYTES;
        const start = performance.now();
        const n = await fh.read(buf, 0, RANDOM_READ_BYTES, at);
        latency.since(start);
        bytesRead += n;
        if (n !== RANDOM_READ_BYTES || !ctx.pattern.matches(at, buf, sizeBytes)) mismatched++;
        ctx.progress.update(latency.size, total, 'ops');
      }
    };
    try {
      await Promise.all(Array.from({ length: RANDOM_READ_DEPTH }, worker));
    } finally {
      await fh.close();
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpuSeconds = cpu();
    const iops = total / seconds;
    ctx.progress.end(`${iops.toFixed(0)} IOPS`);
    return {
      id: 'random-read.4k', kind: 'path', label: `${what}, IOPS`, value: iops, unit: 'ops/s',
      seconds, ops: total, bytes: bytesRead, cpuSeconds, latency: latency.summary(),
      limitId: 'raw-disk.read4k',
      checks: [{ name: 'bytes', passed: mismatched === 0 && latency.size === total,
        detail: `${latency.size} reads, ${mismatched} differ from the pattern` }],
      ...(dropped ? {} : { note: CACHED_NOTE }),
    };
  } finally {
    await client.close();
  }
}
