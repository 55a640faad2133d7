// Raw disk limit: a file of --size written sequentially in --io-size writes with one fsync at
// the end, then read back (page cache dropped first when allowed) with every byte compared;
// then 4 KiB random reads of it, the fdatasync rate and small files made and read (disk-ops.ts).
// The files lie on the filesystem of the temporary folders the bench's cluster uses.
import fs from 'node:fs/promises';
import path from 'node:path';
import { assert } from '@antlerfs/protocol';
import type { DataPattern } from '../data-pattern.ts';
import type { Deadline } from '../deadline.ts';
import { measureFdatasync, measureRandomReadLimit, measureSmallFilesLimit } from './disk-ops.ts';
import { smallFilePattern } from '../paths/small-files.ts';
import { CACHED_NOTE, dropPageCaches } from '../page-cache.ts';
import type { Progress } from '../progress.ts';
import { throughput, type Figure } from '../report.ts';

interface ReadBack {
  seconds: number;
  bytesRead: number;
  /** Reads whose bytes differ from the written ones. */
  mismatchedReads: number;
}

export interface RawDiskOptions {
  dir: string;
  sizeBytes: number;
  pattern: DataPattern;
  /** 4 KiB random reads of the file, and fdatasyncs, to measure. */
  randomReads: number;
  syncCount: number;
  /** Files of 64 KiB to make and read. */
  smallFiles: number;
  deadline: Deadline;
  progress: Progress;
}

async function writeFile(file: string, o: RawDiskOptions): Promise<number> {
  const count = o.pattern.ioCount(o.sizeBytes);
  const t0 = performance.now();
  const fh = await fs.open(file, 'w');
  try {
    for (let i = 0; i < count; i++) {
      o.deadline.check();
      const data = o.pattern.io(i, o.sizeBytes);
      const { bytesWritten } = await fh.write(data, 0, data.length, i * o.pattern.ioSizeBytes);
      assert(bytesWritten === data.length, 'a regular file takes whole writes');
      o.progress.update((i + 1) * o.pattern.ioSizeBytes, o.sizeBytes, 'MiB');
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return (performance.now() - t0) / 1000;
}

/** Reads the file back, comparing every byte with what was written (inside the timed span). */
async function readFile(file: string, o: RawDiskOptions): Promise<ReadBack> {
  const buf = Buffer.allocUnsafe(o.pattern.ioSizeBytes);
  let mismatchedReads = 0;
  let offset = 0;
  const t0 = performance.now();
  const fh = await fs.open(file, 'r');
  try {
    // Bounded: a round reads at least one byte or stops; short reads may double the rounds.
    const roundsMax = 2 * o.pattern.ioCount(o.sizeBytes);
    for (let round = 0; offset < o.sizeBytes && round < roundsMax; round++) {
      o.deadline.check();
      const want = Math.min(buf.length, o.sizeBytes - offset);
      const { bytesRead } = await fh.read(buf, 0, want, offset);
      if (bytesRead === 0) break;
      if (!o.pattern.matches(offset, buf.subarray(0, bytesRead), o.sizeBytes)) mismatchedReads++;
      offset += bytesRead;
      o.progress.update(offset, o.sizeBytes, 'MiB');
    }
  } finally {
    await fh.close();
  }
  return { seconds: (performance.now() - t0) / 1000, bytesRead: offset, mismatchedReads };
}

export async function measureRawDisk(o: RawDiskOptions): Promise<Figure[]> {
  const file = path.join(o.dir, 'raw-disk.bin');
  try {
    o.progress.begin('raw disk write (fsync at end)');
    const writeSeconds = await writeFile(file, o);
    const w = throughput(o.sizeBytes, writeSeconds);
    o.progress.end(`${w.mbPerS.toFixed(1)} MB/s`);
    const dropped = await dropPageCaches();
    o.progress.begin(`raw disk read${dropped ? ' (page cache dropped)' : ' (cached)'}`);
    const read = await readFile(file, o);
    const r = throughput(o.sizeBytes, read.seconds);
    o.progress.end(`${r.mbPerS.toFixed(1)} MB/s`);
    const check = {
      name: 'bytes', passed: read.bytesRead === o.sizeBytes && read.mismatchedReads === 0,
      detail: `${read.bytesRead} of ${o.sizeBytes} bytes read; ${read.mismatchedReads} reads `
        + 'differ',
    };
    const random = await measureRandomReadLimit({ file, sizeBytes: o.sizeBytes,
      reads: o.randomReads, pattern: o.pattern, deadline: o.deadline, progress: o.progress });
    const sync = await measureFdatasync({ dir: o.dir, syncCount: o.syncCount,
      deadline: o.deadline, progress: o.progress });
    const small = await measureSmallFilesLimit({ dir: o.dir, count: o.smallFiles,
      pattern: smallFilePattern(), deadline: o.deadline, progress: o.progress });
    return [
      { id: 'raw-disk.write', kind: 'limit', label: 'raw disk: sequential write + fsync',
        value: w.mbPerS, unit: 'MB/s', mibPerS: w.mibPerS, seconds: writeSeconds,
        bytes: o.sizeBytes },
      { id: 'raw-disk.read', kind: 'limit', label: 'raw disk: sequential read',
        value: r.mbPerS, unit: 'MB/s', mibPerS: r.mibPerS, seconds: read.seconds,
        bytes: o.sizeBytes, checks: [check], ...(dropped ? {} : { note: CACHED_NOTE }) },
      random, sync, ...small,
    ];
  } finally {
    await fs.rm(file, { force: true });
  }
}
