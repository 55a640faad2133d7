// Whole-chunk checksum work, run on a piscina worker thread so the event loop stays free: it
// verifies every block of a chunk against its checksum table, or computes a table, or verifies
// one piece of a replica. Chunk data arrives in a SharedArrayBuffer, a piece as a transferred
// ArrayBuffer that is moved back (never copied); each block is hashed zero-padded to 64 KiB, as
// the chunk file stores it. Also callable inline (tests, small jobs).
import { xxh64 } from '@node-rs/xxhash';
import { move, transferableSymbol, valueSymbol } from 'piscina';

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

/** A piece of a chunk being replicated: its buffer is transferred here and moved back. */
export interface VerifyPieceTask {
  kind: 'verify-piece';
  data: ArrayBuffer;
  byteOffset: number;
  byteLength: number;
  /** One big-endian xxh64 per block of the piece. */
  checksums: Uint8Array;
}

export interface VerifyPieceResult {
  badBlocks: number[];
  /** The task's buffer, moved back to the caller. */
  data: ArrayBuffer;
}

export type ChecksumWorkerTask = VerifyTask | ChecksumTask | VerifyPieceTask;

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

/**
 * Indices (within the piece) of the blocks of `data` (whole blocks) that do not match
 * `checksums`, one big-endian xxh64 per block.
 */
export function verifyPiece(data: Uint8Array, checksums: Uint8Array): number[] {
  const count = data.length / BLOCK_SIZE_BYTES;
  if (!Number.isInteger(count) || checksums.length !== 8 * count) {
    throw new RangeError(`piece of ${data.length} bytes with ${checksums.length} checksum bytes`);
  }
  const table = new DataView(checksums.buffer, checksums.byteOffset, checksums.byteLength);
  const bad: number[] = [];
  for (let b = 0; b < count; b++) {
    const got = xxh64(data.subarray(b * BLOCK_SIZE_BYTES, (b + 1) * BLOCK_SIZE_BYTES));
    if (got !== table.getBigUint64(8 * b, false)) bad.push(b);
  }
  return bad;
}

/** Returns the piece's result with its buffer moved (not copied) back to the main thread. */
function moveBack(result: VerifyPieceResult): unknown {
  return move({
    get [transferableSymbol]() { return [result.data]; },
    get [valueSymbol]() { return result; },
  });
}

/**
 * The piscina entry point: bad block indices for 'verify', the table for 'checksums', bad blocks
 * and the moved buffer for 'verify-piece'.
 */
export default function run(task: ChecksumWorkerTask): unknown {
  if (task.kind === 'verify-piece') {
    const view = new Uint8Array(task.data, task.byteOffset, task.byteLength);
    return moveBack({ badBlocks: verifyPiece(view, task.checksums), data: task.data });
  }
  const data = new Uint8Array(task.data);
  switch (task.kind) {
    case 'verify': return verifyBlocks(data, task.lengthBytes, new Uint8Array(task.checksums));
    case 'checksums': return blockChecksums(data, task.lengthBytes);
  }
}
