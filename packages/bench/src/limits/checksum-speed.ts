// Checksum limit: xxh64 through protocol's checksum() on one core over 64 KiB blocks, the work
// a chunkserver does for every block it stores or serves. Best of CHECKSUM_ROUNDS rounds, each
// over a fixed number of bytes cycling through one random buffer.
import crypto from 'node:crypto';
import { assert, BLOCK_SIZE_BYTES, checksum } from '@antlerfs/protocol';
import type { Deadline } from '../deadline.ts';
import type { Progress } from '../progress.ts';
import type { Figure } from '../report.ts';

const BUFFER_BYTES = 64 * 1024 * 1024;
const CHECKSUM_ROUNDS = 3;

export interface ChecksumOptions {
  bytesPerRound: number;
  deadline: Deadline;
  progress: Progress;
}

/** Seconds to checksum `bytes` of `buf` block by block; the fold keeps the work observable. */
function round(buf: Buffer, bytes: number, deadline: Deadline): { seconds: number; fold: bigint } {
  const blocks = Math.floor(bytes / BLOCK_SIZE_BYTES);
  const blocksInBuffer = buf.length / BLOCK_SIZE_BYTES;
  let fold = 0n;
  const t0 = performance.now();
  for (let i = 0; i < blocks; i++) {
    if (i % blocksInBuffer === 0) deadline.check();
    const o = (i % blocksInBuffer) * BLOCK_SIZE_BYTES;
    fold ^= checksum(buf.subarray(o, o + BLOCK_SIZE_BYTES));
  }
  return { seconds: (performance.now() - t0) / 1000, fold };
}

export function measureChecksumSpeed(o: ChecksumOptions): Figure {
  assert(o.bytesPerRound >= BLOCK_SIZE_BYTES, 'checksums at least one block');
  o.progress.begin('xxh64 checksum, one core');
  const buf = crypto.randomBytes(BUFFER_BYTES);
  const bytes = Math.floor(o.bytesPerRound / BLOCK_SIZE_BYTES) * BLOCK_SIZE_BYTES;
  let bestSeconds = Infinity;
  for (let r = 0; r < CHECKSUM_ROUNDS; r++) {
    const { seconds, fold } = round(buf, bytes, o.deadline);
    assert(typeof fold === 'bigint', 'checksums are 64-bit');
    bestSeconds = Math.min(bestSeconds, seconds);
  }
  const gbPerS = bytes / 1e9 / bestSeconds;
  o.progress.end(`${gbPerS.toFixed(2)} GB/s`);
  return { id: 'checksum-xxh64', kind: 'limit', label: 'xxh64 of 64 KiB blocks, one core',
    value: gbPerS, unit: 'GB/s', seconds: bestSeconds, bytes };
}
