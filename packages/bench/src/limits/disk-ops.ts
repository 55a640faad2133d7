// Disk limits of single small operations, beside the sequential ones of raw-disk.ts:
// - fdatasync rate: 4 KiB appended then fdatasync, one at a time, the ceiling of any change
//   that must be on disk before its reply from one thread (a create, rename or unlink is one
//   changelog record fsynced; a small file's close is at least one);
// - 4 KiB random reads with RANDOM_READ_DEPTH in flight on the raw disk's file (caches dropped
//   first when allowed), the ceiling of the random-read paths;
// - small files: files of 64 KiB created, written and closed one at a time, then (caches
//   dropped) opened, read and closed, as a chunkserver makes and reads a small chunk's file:
//   the ceiling of the small-files paths, which make one such file per copy. Making a file
//   costs the filesystem an inode, which on some (an ext4 without a journal skips inodes freed
//   in the last 30 s, one by one) costs far more CPU than the 64 KiB write.
// All are ops/s with latency percentiles.
import fs from 'node:fs/promises';
import path from 'node:path';
import { assert } from '@antlerfs/protocol';
import type { DataPattern } from '../data-pattern.ts';
import type { Deadline } from '../deadline.ts';
import { CACHED_NOTE, dropPageCaches } from '../page-cache.ts';
import { LatencyRecorder } from '../percentiles.ts';
import type { Progress } from '../progress.ts';
import type { Figure } from '../report.ts';
import {
  RANDOM_READ_BYTES, RANDOM_READ_DEPTH, SMALL_FILE_BYTES, SeededOffsets,
} from '../paths/path-context.ts';

const SYNC_WRITE_BYTES = 4096;
/** Folders the small files spread over (a chunkserver's disk has 256 by the chunk id). */
const SMALL_FILE_FOLDERS = 256;
const OFFSETS_SEED = 0xd15c;

export interface DiskOpsOptions {
  dir: string;
  syncCount: number;
  deadline: Deadline;
  progress: Progress;
}

export async function measureFdatasync(o: DiskOpsOptions): Promise<Figure> {
  assert(o.syncCount >= 1, 'at least one fdatasync');
  const file = path.join(o.dir, 'fdatasync.bin');
  const block = Buffer.alloc(SYNC_WRITE_BYTES, 0xa5);
  const latency = new LatencyRecorder(o.syncCount);
  o.progress.begin('raw disk: 4 KiB append + fdatasync, one at a time');
  const fh = await fs.open(file, 'w');
  let seconds: number;
  try {
    const t0 = performance.now();
    for (let i = 0; i < o.syncCount; i++) {
      o.deadline.check();
      const start = performance.now();
      await fh.write(block, 0, SYNC_WRITE_BYTES, i * SYNC_WRITE_BYTES);
      await fh.datasync();
      latency.since(start);
      o.progress.update(i + 1, o.syncCount, 'ops');
    }
    seconds = (performance.now() - t0) / 1000;
  } finally {
    await fh.close();
    await fs.rm(file, { force: true });
  }
  const opsPerS = o.syncCount / seconds;
  o.progress.end(`${opsPerS.toFixed(0)} fdatasyncs/s`);
  return { id: 'raw-disk.fdatasync', kind: 'limit', unit: 'ops/s',
    label: 'raw disk: 4 KiB append + fdatasync, one thread', value: opsPerS, seconds,
    ops: o.syncCount, latency: latency.summary() };
}

export interface RandomReadLimitOptions {
  file: string;
  sizeBytes: number;
  reads: number;
  pattern: DataPattern;
  deadline: Deadline;
  progress: Progress;
  /** Drop the page caches first (default); tests keep them. */
  dropCaches?: boolean;
}

/** 4 KiB reads at seeded offsets of `file`, RANDOM_READ_DEPTH in flight, bytes compared. */
export async function measureRandomReadLimit(o: RandomReadLimitOptions): Promise<Figure> {
  const slots = Math.floor(o.sizeBytes / RANDOM_READ_BYTES);
  assert(slots >= 1 && o.reads >= 1, 'a file of at least one read, and some reads');
  const dropped = o.dropCaches === false ? false : await dropPageCaches();
  o.progress.begin(`raw disk: 4 KiB random reads, ${RANDOM_READ_DEPTH} in flight`);
  const offsets = new SeededOffsets(OFFSETS_SEED);
  const latency = new LatencyRecorder(o.reads);
  let issued = 0;
  let mismatched = 0;
  const fh = await fs.open(o.file, 'r');
  const t0 = performance.now();
  try {
    await Promise.all(Array.from({ length: RANDOM_READ_DEPTH }, async () => {
      const buf = Buffer.allocUnsafe(RANDOM_READ_BYTES);
      while (issued < o.reads) {
        issued++;
        o.deadline.check();
        const at = offsets.next(slots) * RANDOM_READ_BYTES;
        const start = performance.now();
        const { bytesRead } = await fh.read(buf, 0, RANDOM_READ_BYTES, at);
        latency.since(start);
        if (bytesRead !== RANDOM_READ_BYTES || !o.pattern.matches(at, buf, o.sizeBytes)) {
          mismatched++;
        }
        o.progress.update(latency.size, o.reads, 'ops');
      }
    }));
  } finally {
    await fh.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  const iops = o.reads / seconds;
  o.progress.end(`${iops.toFixed(0)} IOPS`);
  return { id: 'raw-disk.read4k', kind: 'limit', unit: 'ops/s',
    label: `raw disk: 4 KiB random reads, ${RANDOM_READ_DEPTH} in flight`, value: iops, seconds,
    ops: o.reads, bytes: o.reads * RANDOM_READ_BYTES, latency: latency.summary(),
    checks: [{ name: 'bytes', passed: mismatched === 0,
      detail: `${mismatched} of ${o.reads} reads differ` }],
    ...(dropped ? {} : { note: CACHED_NOTE }) };
}

export interface SmallFilesLimitOptions {
  dir: string;
  count: number;
  /** File i holds io i of this pattern (of SMALL_FILE_BYTES per io). */
  pattern: DataPattern;
  deadline: Deadline;
  progress: Progress;
  /** Drop the page caches before reading (default); tests keep them. */
  dropCaches?: boolean;
}

/**
 * `count` files of SMALL_FILE_BYTES in a new folder under `dir` (SMALL_FILE_FOLDERS subfolders,
 * made before the clock starts): each created (O_EXCL), written and closed, one at a time and
 * not fsynced (as a chunk file); then each opened, read and closed, bytes compared. Two figures,
 * raw-disk.small-write and raw-disk.small-read. The files stay in `dir` (the run's scratch
 * folder, removed when the run ends): on ext4 without a journal every file created in the next
 * minutes would be slowed by their deletion (a new inode is searched past each one recently
 * freed), which is the chunkservers' files in this run.
 */
export async function measureSmallFilesLimit(o: SmallFilesLimitOptions): Promise<Figure[]> {
  assert(o.count >= 1 && o.pattern.ioSizeBytes === SMALL_FILE_BYTES, 'small files to make');
  const root = await fs.mkdtemp(path.join(o.dir, 'small-files-'));
  const total = o.count * SMALL_FILE_BYTES;
  const fileOf = (i: number): string =>
    path.join(root, (i % SMALL_FILE_FOLDERS).toString(16).padStart(2, '0'), `f${i}`);
  try {
    for (let f = 0; f < SMALL_FILE_FOLDERS; f++) await fs.mkdir(path.dirname(fileOf(f)));
    o.progress.begin(`raw disk: ${o.count} files of 64 KiB made, one at a time`);
    const writeLatency = new LatencyRecorder(o.count);
    const w0 = performance.now();
    for (let i = 0; i < o.count; i++) {
      o.deadline.check();
      const start = performance.now();
      const fh = await fs.open(fileOf(i), 'wx');
      try {
        const data = o.pattern.io(i, total);
        const { bytesWritten } = await fh.write(data, 0, data.length, 0);
        assert(bytesWritten === data.length, 'a regular file takes whole writes');
      } finally {
        await fh.close();
      }
      writeLatency.since(start);
      o.progress.update(i + 1, o.count, 'ops');
    }
    const writeSeconds = (performance.now() - w0) / 1000;
    o.progress.end(`${(o.count / writeSeconds).toFixed(0)} files/s`);
    const dropped = o.dropCaches === false ? false : await dropPageCaches();
    o.progress.begin(`raw disk: ${o.count} files of 64 KiB read, one at a time`);
    const readLatency = new LatencyRecorder(o.count);
    const buf = Buffer.allocUnsafe(SMALL_FILE_BYTES);
    let mismatched = 0;
    const r0 = performance.now();
    for (let i = 0; i < o.count; i++) {
      o.deadline.check();
      const start = performance.now();
      const fh = await fs.open(fileOf(i), 'r');
      let got: number;
      try {
        got = (await fh.read(buf, 0, SMALL_FILE_BYTES, 0)).bytesRead;
      } finally {
        await fh.close();
      }
      readLatency.since(start);
      const data = buf.subarray(0, got);
      const whole = got === SMALL_FILE_BYTES;
      if (!whole || !o.pattern.matches(i * SMALL_FILE_BYTES, data, total)) mismatched++;
      o.progress.update(i + 1, o.count, 'ops');
    }
    const readSeconds = (performance.now() - r0) / 1000;
    o.progress.end(`${(o.count / readSeconds).toFixed(0)} files/s`);
    return [
      { id: 'raw-disk.small-write', kind: 'limit', unit: 'ops/s',
        label: 'raw disk: 64 KiB files created, written, closed, one thread',
        value: o.count / writeSeconds, seconds: writeSeconds, ops: o.count, bytes: total,
        latency: writeLatency.summary() },
      { id: 'raw-disk.small-read', kind: 'limit', unit: 'ops/s',
        label: 'raw disk: 64 KiB files opened, read, closed, one thread',
        value: o.count / readSeconds, seconds: readSeconds, ops: o.count, bytes: total,
        latency: readLatency.summary(),
        checks: [{ name: 'bytes', passed: mismatched === 0,
          detail: `${mismatched} of ${o.count} files differ` }],
        ...(dropped ? {} : { note: CACHED_NOTE }) },
    ];
  } catch (err) {
    await fs.rm(root, { recursive: true, force: true });
    throw err;
  }
}
