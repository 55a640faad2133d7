// Whole-chunk checksum work, run on a piscina worker thread so the event loop stays free: it
// verifies every block of a chunk against its checksum table, or computes a table. The data
// arrives in a SharedArrayBuffer (never copied); each block is hashed zero-padded to 64 KiB,
// as the chunk file stores it. Also callable inline (tests, small jobs).
import { xxh64 } from '@node-rs/xxhash';

const BLOCK_SIZE_BYTES = 64 * 1024;
const BLOCKS_PER_CHUNK = 1024;
const ZERO_BLOCK_CHECKSUM = xxh64(new Uint8Array(BLOCK_SIZE_BYTES));

export interface VerifyTask {
  kind: 'verify';
  /** Block data from offset 0, whole blocks, zeros after lengthBytes. */
  data: SharedArrayBuffer;
  lengthBytes: number;
  /** BLOCKS_PER_CHUNK big-endian xxh64 values. */
  checksums: SharedArrayBuffer;
}

export interface ChecksumTask {
  kind: 'checksums';
  data: SharedArrayBuffer;
  lengthBytes: number;
}

export type ChecksumWorkerTask = VerifyTask | ChecksumTask;

function blockCountOf(lengthBytes: number, dataBytes: number): number {
  const count = Math.ceil(lengthBytes / BLOCK_SIZE_BYTES);
  if (!(lengthBytes >= 0 && count <= BLOCKS_PER_CHUNK && count * BLOCK_SIZE_BYTES <= dataBytes)) {
    throw new RangeError(`length ${lengthBytes} does not fit data of ${dataBytes} bytes`);
  }
  return count;
}

/**
 * Indices of the blocks whose bytes do not match `checksums`. Blocks past the stored length must
 * carry the zero-block checksum (their bytes are zeros by definition).
 */
export function verifyBlocks(
  data: Uint8Array, lengthBytes: number, checksums: Uint8Array,
): number[] {
  const count = blockCountOf(lengthBytes, data.length);
  const table = new DataView(checksums.buffer, checksums.byteOffset, checksums.byteLength);
  if (table.byteLength !== BLOCKS_PER_CHUNK * 8) throw new RangeError('checksum table size');
  const bad: number[] = [];
  for (let b = 0; b < BLOCKS_PER_CHUNK; b++) {
    const want = table.getBigUint64(8 * b, false);
    const got = b < count
      ? xxh64(data.subarray(b * BLOCK_SIZE_BYTES, (b + 1) * BLOCK_SIZE_BYTES))
      : ZERO_BLOCK_CHECKSUM;
    if (got !== want) bad.push(b);
  }
  return bad;
}

/** The checksum table (BLOCKS_PER_CHUNK big-endian xxh64) of `lengthBytes` of data. */
export function blockChecksums(data: Uint8Array, lengthBytes: number): Uint8Array {
  const count = blockCountOf(lengthBytes, data.length);
  const out = new Uint8Array(BLOCKS_PER_CHUNK * 8);
  const table = new DataView(out.buffer);
  for (let b = 0; b < BLOCKS_PER_CHUNK; b++) {
    const sum = b < count
      ? xxh64(data.subarray(b * BLOCK_SIZE_BYTES, (b + 1) * BLOCK_SIZE_BYTES))
      : ZERO_BLOCK_CHECKSUM;
    table.setBigUint64(8 * b, sum, false);
  }
  return out;
}

/** The piscina entry point: bad block indices for 'verify', the table for 'checksums'. */
export default function run(task: ChecksumWorkerTask): number[] | Uint8Array {
  const data = new Uint8Array(task.data);
  switch (task.kind) {
    case 'verify': return verifyBlocks(data, task.lengthBytes, new Uint8Array(task.checksums));
    case 'checksums': return blockChecksums(data, task.lengthBytes);
  }
}
