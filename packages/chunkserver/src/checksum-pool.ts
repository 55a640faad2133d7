// Whole-chunk checksum work off the event loop: a piscina pool of CHECKSUM_WORKERS threads. Used
// by start-up for chunk files whose header looks inconsistent, and by scrub and replication.
// Data goes to the worker in a SharedArrayBuffer, never as a view of a bigger ArrayBuffer (a
// structured clone would copy the whole backing buffer). Per-block checks on reads and writes
// stay inline: one 64 KiB xxh64 costs about what a task hand-off does.
import fs from 'node:fs/promises';
import { Piscina } from 'piscina';
import { BLOCK_SIZE_BYTES, CHUNK_SIZE_BYTES, FsError, assert } from '@antlerfs/protocol';
import {
  CHECKSUMS_BYTES, HEADER_BYTES, decodeHeader, fsCall, readFully, type ChunkHeader,
} from './chunk-file.ts';
import type { ChecksumWorkerTask, VerifyPieceResult } from './checksum-worker.ts';

/** Idle workers exit after this; a new task starts one again. */
const WORKER_IDLE_TIMEOUT_MS = 60_000;
/** Each read of a chunk being verified; large enough to keep the disk streaming. */
const VERIFY_READ_BYTES = 4 * 1024 * 1024;

/** A buffer over a fresh SharedArrayBuffer (zero-filled), which workers see without a copy. */
export function allocSharedBuffer(bytes: number): Buffer {
  assert(Number.isSafeInteger(bytes) && bytes >= 0, `shared buffer of ${bytes} bytes`);
  return Buffer.from(new SharedArrayBuffer(bytes));
}

function sharedOf(buf: Buffer, what: string): SharedArrayBuffer {
  assert(buf.buffer instanceof SharedArrayBuffer, `${what} lives in a SharedArrayBuffer`);
  assert(buf.byteOffset === 0, `${what} starts its SharedArrayBuffer`);
  return buf.buffer;
}

export interface ChunkFileVerification {
  /** The header as found in the file (fields and checksum table). */
  header: ChunkHeader;
  /** Data bytes present in the file after the header (at most a chunk). */
  dataBytes: number;
  /** Blocks that do not match the table, checking the bytes present (zero-padded). */
  badBlocks: number[];
}

type WorkerResult = number[] | Uint8Array | VerifyPieceResult;

export class ChecksumPool {
  private readonly pool: Piscina<ChecksumWorkerTask, WorkerResult>;

  constructor(threads: number) {
    assert(Number.isInteger(threads) && threads >= 1, `CHECKSUM_WORKERS ${threads}`);
    this.pool = new Piscina({
      filename: new URL('./checksum-worker.mjs', import.meta.url).href,
      minThreads: 0,
      maxThreads: threads,
      idleTimeout: WORKER_IDLE_TIMEOUT_MS,
    });
  }

  /** Blocks of `data` (whole blocks, zeros after lengthBytes) that do not match `checksums`. */
  async verifyBlocks(data: Buffer, lengthBytes: number, checksums: Buffer): Promise<number[]> {
    assert(checksums.length === CHECKSUMS_BYTES, 'a whole checksum table');
    const table = allocSharedBuffer(CHECKSUMS_BYTES);
    checksums.copy(table);
    const bad = await this.pool.run({
      kind: 'verify', data: sharedOf(data, 'verified data'), lengthBytes,
      checksums: sharedOf(table, 'checksum table'),
    });
    assert(Array.isArray(bad), 'verify returns block indices');
    return bad;
  }

  /**
   * Verifies a piece of whole blocks against one checksum per block on a worker. The piece's
   * ArrayBuffer is transferred (it must hold nothing anyone else uses) and moved back: `data`
   * is detached afterwards and the result's `data` views the same bytes.
   */
  async verifyPiece(
    data: Buffer, checksums: Buffer,
  ): Promise<{ badBlocks: number[]; data: Buffer }> {
    const ab = data.buffer;
    assert(ab instanceof ArrayBuffer, 'a piece in a plain ArrayBuffer');
    assert(data.length % BLOCK_SIZE_BYTES === 0, 'a piece of whole blocks');
    const { byteOffset, byteLength } = data;
    // The small table is cloned; the large piece moves.
    const result = await this.pool.run({
      kind: 'verify-piece', data: ab, byteOffset, byteLength, checksums: new Uint8Array(checksums),
    }, { transferList: [ab] });
    assert(!Array.isArray(result) && !(result instanceof Uint8Array), 'a piece result');
    assert(result.data.byteLength >= byteOffset + byteLength, 'the piece came back whole');
    return { badBlocks: result.badBlocks, data: Buffer.from(result.data, byteOffset, byteLength) };
  }

  /** The checksum table of `lengthBytes` of `data` (whole blocks, zeros after the length). */
  async blockChecksums(data: Buffer, lengthBytes: number): Promise<Buffer> {
    const table = await this.pool.run({
      kind: 'checksums', data: sharedOf(data, 'checksummed data'), lengthBytes,
    });
    assert(table instanceof Uint8Array && table.length === CHECKSUMS_BYTES, 'a whole table');
    return Buffer.from(table.buffer, table.byteOffset, table.byteLength);
  }

  /**
   * Reads a chunk file whole (header, then every data byte present) and verifies each block
   * against the file's own table, on a worker. EIO if the header is unreadable.
   */
  async verifyChunkFile(filePath: string): Promise<ChunkFileVerification> {
    const handle = await fsCall('open', filePath, () => fs.open(filePath, 'r'));
    try {
      const headerBuf = Buffer.alloc(HEADER_BYTES);
      const got = await fsCall('read', filePath,
        () => readFully(handle, headerBuf, 0, HEADER_BYTES, 0));
      const header = got === HEADER_BYTES ? decodeHeader(headerBuf) : { invalid: `${got} bytes` };
      if ('invalid' in header) throw new FsError('EIO', `${filePath}: header ${header.invalid}`);
      const size = (await fsCall('stat', filePath, () => handle.stat())).size;
      const dataBytes = Math.min(CHUNK_SIZE_BYTES, Math.max(0, size - HEADER_BYTES));
      const blockBytes = Math.ceil(dataBytes / BLOCK_SIZE_BYTES) * BLOCK_SIZE_BYTES;
      const data = allocSharedBuffer(blockBytes);
      let read = 0;
      // Each pass reads one piece or stops at end of file, so it ends within dataBytes.
      while (read < dataBytes) {
        const want = Math.min(VERIFY_READ_BYTES, dataBytes - read);
        const n = await fsCall('read', filePath,
          () => readFully(handle, data, read, want, HEADER_BYTES + read));
        read += n;
        if (n < want) break;
      }
      const badBlocks = await this.verifyBlocks(data, read, header.checksums);
      return { header, dataBytes: read, badBlocks };
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
