// One chunk on disk: <folder>/XX/chunk_<id:16 hex>_<version:8 hex>.dat, XX = the id's low byte.
// Layout: a fixed header of HEADER_BYTES (fields, then one xxh64 per 64 KiB block), then the
// stored bytes only (a 1-byte chunk is a 12 KiB file). Invariants: every block's checksum covers
// its stored bytes zero-padded to a block, so blocks past the stored length hold
// ZERO_BLOCK_CHECKSUM; the file is HEADER_BYTES + lengthBytes long once synced or closed (while
// writes stream, the header's length may lag: a crash then leaves a longer file, which the
// start-up scan verifies and repairs). OS errors become statuses with the path.
import fs from 'node:fs/promises';
import path from 'node:path';
import { xxh64 } from '@node-rs/xxhash';
import {
  BLOCK_SIZE_BYTES, BLOCKS_PER_CHUNK, CHUNK_SIZE_BYTES, FsError, READ_SIZE_MAX_BYTES,
  BufferPool, ZERO_BLOCK_CHECKSUM, assert, statusFromSystemError, type Invalid,
} from '@antlerfs/protocol';
import {
  addon, dropCached, FADV_SEQUENTIAL, PREAD_WOULD_BLOCK, preadNoWait,
} from '@antlerfs/native';

/** "ANTLRCHK": the first 8 bytes of every chunk file. */
export const CHUNK_MAGIC = Buffer.from('ANTLRCHK', 'latin1');
export const CHUNK_FORMAT_VERSION = 1;
/** Checksum table: one xxh64 (big-endian) per block, at a 4 KiB boundary. */
export const CHECKSUMS_OFFSET = 4096;
export const CHECKSUMS_BYTES = BLOCKS_PER_CHUNK * 8;
/** Header size, a 4 KiB multiple so block data stays page-aligned in the file. */
export const HEADER_BYTES = CHECKSUMS_OFFSET + CHECKSUMS_BYTES;
/**
 * Fixed fields, big-endian: magic:8 formatVersion:32 headerBytes:32 chunkId:64 version:32
 * lengthBytes:32 fieldsChecksum:64 (xxh64 of bytes 0..32, so a torn or flipped field shows).
 */
const FIELD_CHUNK_ID = 16;
const FIELD_VERSION = 24;
const FIELD_LENGTH = 28;
const FIELD_CHECKSUM = 32;
export const FIXED_FIELDS_BYTES = 40;

assert(HEADER_BYTES % 4096 === 0, 'header is a 4 KiB multiple');
assert(FIXED_FIELDS_BYTES <= CHECKSUMS_OFFSET, 'fixed fields end before the checksum table');

const NAME_PATTERN = /^chunk_([0-9A-F]{16})_([0-9A-F]{8})\.dat$/;
export const TEMP_SUFFIX = '.tmp';
/** A replica being copied in: `<chunk file name>.replica.tmp` until verified and synced. */
export const REPLICA_TEMP_SUFFIX = '.replica' + TEMP_SUFFIX;

export interface ChunkHeader {
  chunkId: number;
  version: number;
  lengthBytes: number;
  /** CHECKSUMS_BYTES bytes: block i's xxh64 at 8*i (big-endian). */
  checksums: Buffer;
}

export function chunkFileName(chunkId: number, version: number): string {
  assert(Number.isSafeInteger(chunkId) && chunkId > 0, `chunk id ${chunkId}`);
  assert(Number.isInteger(version) && version > 0 && version <= 0xffffffff, `version ${version}`);
  const id = chunkId.toString(16).toUpperCase().padStart(16, '0');
  return `chunk_${id}_${version.toString(16).toUpperCase().padStart(8, '0')}.dat`;
}

/** The id and version a chunk file's name gives, or null for any other name. */
export function parseChunkFileName(name: string): { chunkId: number; version: number } | null {
  const m = NAME_PATTERN.exec(name);
  if (!m) return null;
  const chunkId = Number.parseInt(m[1]!, 16);
  const version = Number.parseInt(m[2]!, 16);
  if (!Number.isSafeInteger(chunkId) || chunkId === 0 || version === 0) return null;
  return { chunkId, version };
}

/**
 * For a temporary name a crash can leave (`<chunk name>.tmp`, `<chunk name>.replica.tmp`), the
 * chunk it was becoming; null for any other name.
 */
export function tempChunkFileTarget(name: string): { chunkId: number; version: number } | null {
  for (const suffix of [REPLICA_TEMP_SUFFIX, TEMP_SUFFIX]) {
    if (name.endsWith(suffix)) return parseChunkFileName(name.slice(0, -suffix.length));
  }
  return null;
}

/** The subfolder (00..FF) that holds a chunk: its id's low byte. */
export function chunkSubfolder(chunkId: number): string {
  return (chunkId % 256).toString(16).toUpperCase().padStart(2, '0');
}

export function chunkFilePath(folder: string, chunkId: number, version: number): string {
  return path.join(folder, chunkSubfolder(chunkId), chunkFileName(chunkId, version));
}

function writeFixedFields(
  buf: Buffer, h: { chunkId: number; version: number; lengthBytes: number },
): void {
  assert(buf.length >= FIXED_FIELDS_BYTES, 'room for the fixed fields');
  CHUNK_MAGIC.copy(buf, 0);
  buf.writeUInt32BE(CHUNK_FORMAT_VERSION, 8);
  buf.writeUInt32BE(HEADER_BYTES, 12);
  buf.writeUInt32BE(Math.floor(h.chunkId / 0x100000000), FIELD_CHUNK_ID);
  buf.writeUInt32BE(h.chunkId >>> 0, FIELD_CHUNK_ID + 4);
  buf.writeUInt32BE(h.version, FIELD_VERSION);
  buf.writeUInt32BE(h.lengthBytes, FIELD_LENGTH);
  buf.writeBigUInt64BE(xxh64(buf.subarray(0, FIELD_CHECKSUM)), FIELD_CHECKSUM);
}

/** The checksum table of an empty chunk, built once (a create copies it: 1024 entries). */
const EMPTY_CHECKSUM_TABLE = ((): Buffer => {
  const table = Buffer.alloc(CHECKSUMS_BYTES);
  for (let i = 0; i < BLOCKS_PER_CHUNK; i++) table.writeBigUInt64BE(ZERO_BLOCK_CHECKSUM, 8 * i);
  return table;
})();

/** A whole header (HEADER_BYTES). A missing checksum table means a new, empty chunk. */
export function encodeHeader(h: {
  chunkId: number; version: number; lengthBytes: number; checksums?: Buffer;
}): Buffer {
  assert(h.lengthBytes >= 0 && h.lengthBytes <= CHUNK_SIZE_BYTES, `length ${h.lengthBytes}`);
  const buf = Buffer.alloc(HEADER_BYTES);
  writeFixedFields(buf, h);
  if (h.checksums) {
    assert(h.checksums.length === CHECKSUMS_BYTES, 'a whole checksum table');
    h.checksums.copy(buf, CHECKSUMS_OFFSET);
  } else {
    EMPTY_CHECKSUM_TABLE.copy(buf, CHECKSUMS_OFFSET);
  }
  return buf;
}

/** Decodes the fixed fields (and the table when `buf` holds it); a reason if corrupt. */
export function decodeHeader(buf: Buffer): ChunkHeader | Invalid {
  if (buf.length < FIXED_FIELDS_BYTES) return { invalid: `header is ${buf.length} bytes` };
  if (!buf.subarray(0, 8).equals(CHUNK_MAGIC)) return { invalid: 'bad magic' };
  const format = buf.readUInt32BE(8);
  if (format !== CHUNK_FORMAT_VERSION) return { invalid: `unknown format version ${format}` };
  const headerBytes = buf.readUInt32BE(12);
  if (headerBytes !== HEADER_BYTES) return { invalid: `header size ${headerBytes}` };
  if (buf.readBigUInt64BE(FIELD_CHECKSUM) !== xxh64(buf.subarray(0, FIELD_CHECKSUM))) {
    return { invalid: 'header fields checksum mismatch' };
  }
  const hi = buf.readUInt32BE(FIELD_CHUNK_ID);
  if (hi > 0x1fffff) return { invalid: 'chunk id above 2^53' };
  const chunkId = hi * 0x100000000 + buf.readUInt32BE(FIELD_CHUNK_ID + 4);
  const version = buf.readUInt32BE(FIELD_VERSION);
  const lengthBytes = buf.readUInt32BE(FIELD_LENGTH);
  if (chunkId === 0 || version === 0) return { invalid: `chunk id ${chunkId} version ${version}` };
  if (lengthBytes > CHUNK_SIZE_BYTES) return { invalid: `length ${lengthBytes} above a chunk` };
  const checksums = buf.length >= HEADER_BYTES
    ? buf.subarray(CHECKSUMS_OFFSET, HEADER_BYTES) : Buffer.alloc(0);
  return { chunkId, version, lengthBytes, checksums };
}

/** Runs an fs call, turning its error into an FsError naming the operation and path. */
export async function fsCall<T>(
  what: string, filePath: string, call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof FsError) throw err;
    throw new FsError(statusFromSystemError(err), `${what} ${filePath}: ${(err as Error).message}`);
  }
}

/** fsync of a folder, so a rename or unlink in it survives a power cut. */
export async function syncFolder(folder: string): Promise<void> {
  await fsCall('fsync', folder, async () => {
    const dir = await fs.open(folder, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  });
}

/** Reads up to `length` bytes at `position` into buf[offset..]; fewer only at end of file. */
export async function readFully(
  handle: fs.FileHandle, buf: Uint8Array, offset: number, length: number, position: number,
): Promise<number> {
  let done = 0;
  // Each pass reads at least one byte or stops, so the loop is bounded by `length`.
  while (done < length) {
    const { bytesRead } = await handle.read(buf, offset + done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** Writes all of `buf` at `position`. */
export async function writeFully(
  handle: fs.FileHandle, buf: Uint8Array, position: number,
): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await handle.write(buf, done, buf.length - done, position + done);
    assert(bytesWritten > 0, 'a write makes progress');
    done += bytesWritten;
  }
}

/**
 * Rewrites a chunk file's header after a crash left it inconsistent (start-up only): the given
 * version and length, the given table; cuts the file to HEADER_BYTES + lengthBytes and renames
 * it to the version's name. Returns the new path.
 */
export async function rewriteChunkHeader(filePath: string, header: ChunkHeader): Promise<string> {
  const encoded = encodeHeader(header);
  const handle = await fsCall('open', filePath, () => fs.open(filePath, 'r+'));
  try {
    await fsCall('write', filePath, () => writeFully(handle, encoded, 0));
    await fsCall('truncate', filePath, () => handle.truncate(HEADER_BYTES + header.lengthBytes));
    await fsCall('fsync', filePath, () => handle.sync());
  } finally {
    await handle.close().catch(() => undefined);
  }
  const newPath = path.join(path.dirname(filePath), chunkFileName(header.chunkId, header.version));
  if (newPath !== filePath) {
    await fsCall('rename', filePath, () => fs.rename(filePath, newPath));
    await syncFolder(path.dirname(newPath));
  }
  return newPath;
}

/**
 * Adjacent blocks written with one pwritev at most: 64 x 64 KiB = 4 MiB, a client's whole write
 * window, so a batch is usually one pwritev. Writes to one file hold its inode lock in turn:
 * a batch split into several pwritevs at once had the pool's threads spinning on that lock
 * (perf: rwsem_spin_on_owner under ext4_buffered_write_iter), and the chunkservers used 14 %
 * more CPU per GiB than with one (runs of 8 blocks before).
 */
const BATCH_RUN_BLOCKS_MAX = 64;

/** What a chunk file does with the page cache of the data written to it. */
export interface CachePolicy {
  /**
   * Drop written data from the cache: behind the writes (DROP_BEHIND_BYTES back, in steps of
   * as much) and all of it after a sync or at close. Clients cache what they read and data
   * just written is seldom read back soon, so the cache is better kept for headers and
   * folders; and where freed memory goes back to the host (VMs with free page reporting) a
   * cache that grows pays a fault per fresh page, which a cache that reuses its pages does not.
   */
  dropWritten: boolean;
}
export const KEEP_CACHE: CachePolicy = { dropWritten: false };
/** How far behind the end written data leaves the cache, and in steps of how much. */
export const DROP_BEHIND_BYTES = 8 * 1024 * 1024;

/** Reads of at most this many bytes are copied out of a scratch buffer (see ChunkFile.read). */
const SMALL_READ_MAX_BYTES = 32 * 1024;
/** A small read touches at most two blocks. */
const SCRATCH_BYTES = 2 * BLOCK_SIZE_BYTES;
/**
 * Scratch buffers kept for reuse: 64 x 128 KiB = 8 MiB at most, enough for every small read
 * in flight on a busy server (READS_INFLIGHT_MAX per connection); more are allocated and
 * dropped.
 */
const scratchBuffers = new BufferPool({ perSizeMax: 64 });
/** A large read spans at most this much: READ_SIZE_MAX_BYTES and one block, when unaligned. */
const LARGE_READ_BYTES = READ_SIZE_MAX_BYTES + BLOCK_SIZE_BYTES;
/**
 * Buffers of large reads given back once their reply was sent (giveReadBuffer), kept for the
 * next: 32 MiB at most. A fresh 1 MiB per read is external memory that starts a full
 * collection every 64 reads.
 */
const largeReadBuffers = new BufferPool({ perSizeMax: 32 });
/** The whole buffer of each large read buffer handed out, by its memory. */
const largeReadOwners = new WeakMap<ArrayBufferLike, Buffer>();

/**
 * Gives back the buffer of a view ChunkFile.read returned, once nothing reads the view (its
 * reply is with the kernel). Views of other buffers (small reads' copies) are ignored.
 */
export function giveReadBuffer(view: Buffer): void {
  const whole = largeReadOwners.get(view.buffer);
  if (whole !== undefined) largeReadBuffers.give(whole);
}

function takeLargeReadBuffer(): Buffer {
  const buf = largeReadBuffers.take(LARGE_READ_BYTES);
  largeReadOwners.set(buf.buffer, buf);
  return buf;
}
/**
 * Reads of at most this many stored bytes first try the page cache inline (preadNoWait): two
 * blocks, what a 64 KiB read spanning a block boundary touches. A hit costs a copy on the
 * event loop instead of a hop to the thread pool and back; larger reads keep the pool, whose
 * copies then run beside the loop.
 */
const INLINE_READ_MAX_BYTES = 2 * BLOCK_SIZE_BYTES;

/**
 * Opening a chunk file reads its header and, in the same read, up to this much of its data
 * after it: a small file's first read then finds its bytes in the page cache instead of
 * waiting for the disk a second time (the read bytes themselves are dropped).
 */
const OPEN_READ_AHEAD_BYTES = BLOCK_SIZE_BYTES;

/** Small reads of this process served inline from the page cache, and those that were not. */
export const inlineReadCounters = { hits: 0, misses: 0 };

/** A block write waiting for its batch: bytes from `fromInBlock` of the block, and its sum. */
interface QueuedWrite {
  blockIndex: number;
  fromInBlock: number;
  parts: readonly Buffer[];
  bytes: number;
  sum: bigint;
  done: () => void;
  failed: (err: unknown) => void;
}

/** Splits a batch (sorted by block) into runs that are contiguous in the file. */
function adjacentRuns(batch: readonly QueuedWrite[]): QueuedWrite[][] {
  const runs: QueuedWrite[][] = [];
  let run: QueuedWrite[] = [];
  for (const w of batch) {
    const prev = run[run.length - 1];
    const joins = prev !== undefined && run.length < BATCH_RUN_BLOCKS_MAX
      && prev.blockIndex + 1 === w.blockIndex && prev.fromInBlock + prev.bytes === BLOCK_SIZE_BYTES
      && w.fromInBlock === 0;
    if (!joins && run.length > 0) {
      runs.push(run);
      run = [];
    }
    run.push(w);
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/** Writes `parts` back to back from `position` (pwritev; a short write goes on from there). */
export async function writevFully(
  handle: fs.FileHandle, parts: readonly Buffer[], position: number,
): Promise<void> {
  let rest = parts.filter((p) => p.length > 0);
  let at = position;
  // Each pass writes at least one byte (asserted), so the loop is bounded by the bytes.
  while (rest.length > 0) {
    const { bytesWritten } = await handle.writev(rest, at);
    assert(bytesWritten > 0, 'a write makes progress');
    at += bytesWritten;
    let skip = bytesWritten;
    while (rest.length > 0 && skip >= rest[0]!.length) {
      skip -= rest[0]!.length;
      rest = rest.slice(1);
    }
    if (skip > 0) rest = [rest[0]!.subarray(skip), ...rest.slice(1)];
  }
}

/** An open chunk file with its header in memory; the owner serialises access per block. */
export class ChunkFile {
  readonly chunkId: number;
  private versionNow: number;
  private lengthNow: number;
  private filePath: string;
  private readonly handle: fs.FileHandle;
  private readonly checksums: Buffer;
  private fieldsWrite: Promise<void> | null = null;
  /** Field writes asked for, and the newest asked-for state known on disk. */
  private fieldsWanted = 0;
  private fieldsDone = 0;
  /** The stored length the header on disk holds (it may lag lengthNow while writes stream). */
  private lengthOnDisk: number;
  /** Block writes waiting for the next batch, and whether a batch is being written. */
  private queued: QueuedWrite[] = [];
  /** The loop writing batches, while one runs. */
  private batchLoop: Promise<void> | null = null;
  /**
   * A new chunk whose header is not in the file yet: its first batch writes it (one pwritev
   * with the data when that starts at block 0), or the first sync/close does.
   */
  private headerPending = false;
  /** A pending header written on its own (sync or close before any write), while it runs. */
  private headerWrite: Promise<void> | null = null;
  private readonly cache: CachePolicy;
  /** File offset up to which written data was last dropped from the cache (see CachePolicy). */
  private droppedTo = HEADER_BYTES;
  /** A drop of cached data while it runs (close waits: it uses the descriptor). */
  private dropping: Promise<unknown> | null = null;

  private constructor(
    handle: fs.FileHandle, filePath: string, header: ChunkHeader, cache: CachePolicy,
  ) {
    assert(header.checksums.length === CHECKSUMS_BYTES, 'the whole checksum table is loaded');
    this.cache = cache;
    this.handle = handle;
    this.filePath = filePath;
    this.chunkId = header.chunkId;
    this.versionNow = header.version;
    this.lengthNow = header.lengthBytes;
    this.lengthOnDisk = header.lengthBytes;
    this.checksums = Buffer.from(header.checksums);
  }

  get version(): number { return this.versionNow; }
  get lengthBytes(): number { return this.lengthNow; }
  get path(): string { return this.filePath; }

  /** A copy of the first `blockCount` entries of the checksum table (8 bytes each). */
  checksumsOf(blockCount: number): Buffer {
    assert(blockCount >= 0 && blockCount <= BLOCKS_PER_CHUNK, `${blockCount} blocks`);
    return Buffer.from(this.checksums.subarray(0, 8 * blockCount));
  }

  /** The stored checksum of block `blockIndex`. */
  blockChecksum(blockIndex: number): bigint {
    assert(blockIndex >= 0 && blockIndex < BLOCKS_PER_CHUNK, `block ${blockIndex}`);
    return this.checksums.readBigUInt64BE(8 * blockIndex);
  }

  /**
   * Creates an empty chunk under its final name: an empty file, not fsynced; the header goes
   * with the first write (or sync, or close), which saves a trip to the thread pool per chunk.
   * A new chunk holds no data a client was promised is durable until its first sync
   * (ChunkStore.fsync then syncs the folder too), so a crash before that may lose the file or
   * leave it torn: a missing copy, which the start-up scan removes (a file no longer than the
   * header) and the master repairs.
   */
  static async create(
    folder: string, chunkId: number, version: number, cache = KEEP_CACHE,
  ): Promise<ChunkFile> {
    const finalPath = chunkFilePath(folder, chunkId, version);
    const handle = await fsCall('create', finalPath, () => fs.open(finalPath, 'w+'));
    const empty = { chunkId, version, lengthBytes: 0, checksums: EMPTY_CHECKSUM_TABLE };
    const file = new ChunkFile(handle, finalPath, empty, cache); // copies the table
    file.headerPending = true;
    return file;
  }

  /**
   * Opens an existing chunk file; its header must name `chunkId` and `version`. `lengthBytes`
   * is the stored length the owner knows, which the header may lag behind (never exceed).
   */
  static async open(
    filePath: string, chunkId: number, version: number, lengthBytes: number, cache = KEEP_CACHE,
  ): Promise<ChunkFile> {
    const handle = await fsCall('open', filePath, () => fs.open(filePath, 'r+'));
    try {
      const aheadBytes = Math.min(Math.max(lengthBytes, 0), OPEN_READ_AHEAD_BYTES);
      const buf = Buffer.allocUnsafe(HEADER_BYTES + aheadBytes);
      const got = await fsCall('read', filePath,
        () => readFully(handle, buf, 0, HEADER_BYTES + aheadBytes, 0));
      const header = got >= HEADER_BYTES
        ? decodeHeader(buf.subarray(0, HEADER_BYTES)) : { invalid: `header is ${got} bytes` };
      if ('invalid' in header) throw new FsError('EIO', `${filePath}: ${header.invalid}`);
      if (header.chunkId !== chunkId || header.version !== version) {
        throw new FsError('EIO',
          `${filePath}: header names chunk ${header.chunkId} version ${header.version}`);
      }
      if (header.lengthBytes > lengthBytes) {
        throw new FsError('EIO',
          `${filePath}: header length ${header.lengthBytes} above ${lengthBytes}`);
      }
      // Reads of a chunk are mostly sequential; readahead helps and costs nothing otherwise.
      if (addon !== null) addon.fadvise(handle.fd, HEADER_BYTES, 0, FADV_SEQUENTIAL);
      const file = new ChunkFile(handle, filePath, header, cache);
      file.lengthNow = lengthBytes;
      return file;
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Reads `size` bytes at `offset` and verifies every block touched first. Reads whole blocks
   * into one buffer and returns a view of it (no copy; the caller may give the buffer back with
   * giveReadBuffer once nothing reads the view); bytes past the stored length are zeros.
   * A small read is checked in a reused scratch buffer and only its bytes are copied out, so a
   * 4 KiB read leaves 4 KiB, not a 64 KiB block, for the GC. Throws CHECKSUM_MISMATCH naming
   * the first bad block.
   */
  async read(offset: number, size: number): Promise<Buffer> {
    assert(size > 0 && size <= READ_SIZE_MAX_BYTES, `read size ${size}`);
    assert(offset >= 0 && offset + size <= CHUNK_SIZE_BYTES, `read ${offset}+${size}`);
    const firstBlock = Math.floor(offset / BLOCK_SIZE_BYTES);
    const lastBlock = Math.floor((offset + size - 1) / BLOCK_SIZE_BYTES);
    const start = firstBlock * BLOCK_SIZE_BYTES;
    const spanBytes = (lastBlock + 1) * BLOCK_SIZE_BYTES - start;
    if (size > SMALL_READ_MAX_BYTES) {
      assert(spanBytes <= LARGE_READ_BYTES, 'a large read fits a large read buffer');
      const buf = takeLargeReadBuffer();
      await this.readVerified(buf, firstBlock, lastBlock);
      return buf.subarray(offset - start, offset - start + size);
    }
    assert(spanBytes <= SCRATCH_BYTES, 'a small read spans at most two blocks');
    const scratch = scratchBuffers.take(SCRATCH_BYTES);
    try {
      await this.readVerified(scratch, firstBlock, lastBlock);
      return Buffer.from(scratch.subarray(offset - start, offset - start + size));
    } finally {
      scratchBuffers.give(scratch);
    }
  }

  /** Reads blocks firstBlock..lastBlock into `buf` (zeros past the stored length), verified. */
  private async readVerified(buf: Buffer, firstBlock: number, lastBlock: number): Promise<void> {
    const start = firstBlock * BLOCK_SIZE_BYTES;
    const end = (lastBlock + 1) * BLOCK_SIZE_BYTES;
    assert(buf.length >= end - start, 'the buffer holds every block read');
    const storedBytes = Math.max(0, Math.min(end, this.lengthNow) - start);
    const cached = this.readCached(buf, storedBytes, HEADER_BYTES + start);
    // A miss or a partly cached span: the thread pool reads the rest (and may wait on the disk).
    const rest = storedBytes - cached;
    const got = rest === 0 ? cached : cached + await fsCall('read', this.filePath,
      () => readFully(this.handle, buf, cached, rest, HEADER_BYTES + start + cached));
    buf.fill(0, got, end - start);
    for (let b = firstBlock; b <= lastBlock; b++) {
      const blockStart = b * BLOCK_SIZE_BYTES;
      // Past the stored length a block is zeros with ZERO_BLOCK_CHECKSUM by the invariant.
      if (blockStart >= this.lengthNow) break;
      const view = buf.subarray(blockStart - start, blockStart - start + BLOCK_SIZE_BYTES);
      if (xxh64(view) !== this.blockChecksum(b)) {
        throw new FsError('CHECKSUM_MISMATCH', `block ${b} of ${this.filePath}`);
      }
    }
  }

  /**
   * The first bytes of a small read that the page cache holds, copied into buf[0..] on this
   * thread without waiting for the disk (0 on a miss, for a large read, or without the addon).
   */
  private readCached(buf: Buffer, storedBytes: number, position: number): number {
    if (storedBytes === 0 || storedBytes > INLINE_READ_MAX_BYTES) return 0;
    let got: number;
    try {
      got = preadNoWait(this.handle.fd, buf, 0, storedBytes, position);
    } catch (err) {
      throw new FsError(statusFromSystemError(err),
        `read ${this.filePath}: ${(err as Error).message}`);
    }
    if (got === PREAD_WOULD_BLOCK) {
      inlineReadCounters.misses++;
      return 0;
    }
    assert(got >= 0 && got <= storedBytes, `inline read of ${got} bytes`);
    if (got === storedBytes) inlineReadCounters.hits++;
    else inlineReadCounters.misses++;
    return got;
  }

  /**
   * Writes `data` (one Buffer, or the pieces it arrived in) at `offsetInBlock` of block
   * `blockIndex`; `dataChecksum` is xxh64(data), already verified by the caller. A whole block
   * is written as it is; a partial one is merged with the stored bytes (verified first, so a bad
   * block is never laundered) and zero-padded. The write joins the next batch (see
   * writeBatch); it resolves once its bytes and its checksum entry are both in the file.
   */
  async writeBlock(
    blockIndex: number, offsetInBlock: number, data: Buffer | readonly Buffer[],
    dataChecksum: bigint,
  ): Promise<void> {
    const parts = Buffer.isBuffer(data) ? [data] : data;
    let dataBytes = 0;
    for (const p of parts) dataBytes += p.length;
    assert(blockIndex >= 0 && blockIndex < BLOCKS_PER_CHUNK, `block ${blockIndex}`);
    assert(dataBytes > 0 && offsetInBlock + dataBytes <= BLOCK_SIZE_BYTES, 'write in block');
    const blockStart = blockIndex * BLOCK_SIZE_BYTES;
    if (dataBytes === BLOCK_SIZE_BYTES) {
      return this.queueWrite({ blockIndex, fromInBlock: 0, parts, bytes: dataBytes,
        sum: dataChecksum });
    }
    const storedOld = Math.min(BLOCK_SIZE_BYTES, Math.max(0, this.lengthNow - blockStart));
    const dataEnd = offsetInBlock + dataBytes;
    const block = Buffer.alloc(BLOCK_SIZE_BYTES);
    const keepsOld = storedOld > 0 && (offsetInBlock > 0 || dataEnd < storedOld);
    if (keepsOld) await this.readStoredBlock(blockIndex, block, storedOld);
    let at = offsetInBlock;
    for (const p of parts) at += p.copy(block, at);
    // From the first byte that changes (stored end or data start) to the new stored end.
    const fromInBlock = Math.min(offsetInBlock, storedOld);
    const payload = block.subarray(fromInBlock, Math.max(storedOld, dataEnd));
    return this.queueWrite({ blockIndex, fromInBlock, parts: [payload], bytes: payload.length,
      sum: xxh64(block) });
  }

  private queueWrite(w: Omit<QueuedWrite, 'done' | 'failed'>): Promise<void> {
    assert(!this.queued.some((q) => q.blockIndex === w.blockIndex), 'one write per block queued');
    return new Promise<void>((done, failed) => {
      this.queued.push({ ...w, done, failed });
      this.batchLoop ??= this.writeBatches().finally(() => { this.batchLoop = null; });
    });
  }

  /**
   * Writes queued blocks in batches, one batch at a time: while one is on its way the next
   * gathers, so a busy chunk costs one pwritev per run of adjacent blocks (at most
   * BATCH_RUN_BLOCKS_MAX) and one write of the checksum entries they changed, instead of two
   * writes per block. Data and entries are written together, before any write of the batch
   * resolves (so an acknowledged block survives a crash of this process, as before).
   */
  private async writeBatches(): Promise<void> {
    // Each pass takes every queued write; it ends when a batch finds the queue empty.
    while (this.queued.length > 0) {
      // A header written on its own goes first (a batch then finds it written).
      if (this.headerWrite !== null) await this.headerWrite.catch(() => undefined);
      const batch = this.queued.sort((a, b) => a.blockIndex - b.blockIndex);
      this.queued = [];
      try {
        await this.writeBatch(batch);
      } catch (err) {
        for (const w of batch) w.failed(err);
        continue;
      }
      for (const w of batch) w.done();
    }
  }

  private async writeBatch(batch: QueuedWrite[]): Promise<void> {
    let firstBlock = BLOCKS_PER_CHUNK;
    let lastBlock = -1;
    let newEnd = this.lengthNow;
    for (const w of batch) {
      this.checksums.writeBigUInt64BE(w.sum, 8 * w.blockIndex);
      firstBlock = Math.min(firstBlock, w.blockIndex);
      lastBlock = Math.max(lastBlock, w.blockIndex);
      newEnd = Math.max(newEnd, w.blockIndex * BLOCK_SIZE_BYTES + w.fromInBlock + w.bytes);
    }
    const runs = adjacentRuns(batch);
    const writes: Promise<void>[] = [];
    // A new chunk's first batch carries the whole header (no field write can be running yet),
    // in the same pwritev as the data when that starts at block 0: a small file is one write.
    const withHeader = this.headerPending;
    if (withHeader) {
      assert(this.fieldsWrite === null, 'no field write before the header is written');
      const header = this.encodeHeaderAt(this.versionNow, newEnd);
      const first = runs[0]![0]!;
      const joins = first.blockIndex === 0 && first.fromInBlock === 0;
      const parts = joins ? [header, ...runs.shift()!.flatMap((w) => w.parts)] : [header];
      writes.push(fsCall('write', this.filePath, () => writevFully(this.handle, parts, 0)));
    } else {
      const entries = this.checksums.subarray(8 * firstBlock, 8 * (lastBlock + 1));
      writes.push(fsCall('write', this.filePath,
        () => writeFully(this.handle, entries, CHECKSUMS_OFFSET + 8 * firstBlock)));
    }
    for (const run of runs) {
      const position = HEADER_BYTES + run[0]!.blockIndex * BLOCK_SIZE_BYTES + run[0]!.fromInBlock;
      const parts = run.flatMap((w) => w.parts);
      writes.push(fsCall('write', this.filePath, () => writevFully(this.handle, parts, position)));
    }
    await Promise.all(writes);
    this.dropBehind(newEnd);
    if (withHeader) {
      this.headerPending = false;
      this.lengthNow = Math.max(this.lengthNow, newEnd);
      this.lengthOnDisk = newEnd;
      return;
    }
    if (newEnd > this.lengthNow) {
      this.lengthNow = newEnd;
      // Not awaited: one header write per burst instead of one per block. sync() and close()
      // catch up, and a crash before that is repaired by the start-up scan.
      void this.syncFields().catch(() => undefined);
    }
  }

  /** Reads a block's `storedBytes` into `block` and checks them against the table. */
  private async readStoredBlock(
    blockIndex: number, block: Buffer, storedBytes: number,
  ): Promise<void> {
    const blockStart = blockIndex * BLOCK_SIZE_BYTES;
    const got = await fsCall('read', this.filePath,
      () => readFully(this.handle, block, 0, storedBytes, HEADER_BYTES + blockStart));
    block.fill(0, got);
    if (xxh64(block) !== this.blockChecksum(blockIndex)) {
      throw new FsError('CHECKSUM_MISMATCH', `block ${blockIndex} of ${this.filePath}`);
    }
  }

  /**
   * Writes the fixed fields as they are in memory now. Calls coalesce: one write at a time, and
   * a call returns once a write that took the state after the call was made has finished (or
   * throws if its own attempt failed).
   */
  private async syncFields(): Promise<void> {
    if (this.headerPending) await this.writePendingHeader();
    const wanted = ++this.fieldsWanted;
    // Each pass waits for the running write or runs one of its own (then returns or throws),
    // so a call makes at most one attempt of its own.
    while (this.fieldsDone < wanted) {
      const running = this.fieldsWrite;
      if (running !== null) {
        await running.catch(() => undefined);
        continue;
      }
      const generation = this.fieldsWanted;
      const lengthBytes = this.lengthNow;
      const fields = Buffer.alloc(FIXED_FIELDS_BYTES);
      writeFixedFields(fields, { chunkId: this.chunkId, version: this.versionNow, lengthBytes });
      const write = fsCall('write', this.filePath,
        () => writeFully(this.handle, fields.subarray(FIELD_CHUNK_ID), FIELD_CHUNK_ID))
        .then(() => {
          this.fieldsDone = Math.max(this.fieldsDone, generation);
          this.lengthOnDisk = lengthBytes;
        });
      this.fieldsWrite = write;
      try {
        await write;
      } finally {
        if (this.fieldsWrite === write) this.fieldsWrite = null;
      }
    }
  }

  /** Durably renames to `newVersion` (header first, then the name). */
  async setVersion(newVersion: number): Promise<void> {
    assert(newVersion > 0 && newVersion <= 0xffffffff, `version ${newVersion}`);
    this.versionNow = newVersion;
    await this.syncFields();
    await fsCall('fsync', this.filePath, () => this.handle.datasync());
    await this.renameToVersion();
  }

  private async renameToVersion(): Promise<void> {
    const newName = chunkFileName(this.chunkId, this.versionNow);
    const newPath = path.join(path.dirname(this.filePath), newName);
    if (newPath === this.filePath) return;
    await fsCall('rename', this.filePath, () => fs.rename(this.filePath, newPath));
    this.filePath = newPath;
    await syncFolder(path.dirname(newPath));
  }

  /**
   * Cuts or zero-extends the stored bytes to `lengthBytes` and moves to `newVersion`. A cut
   * re-checksums the new last partial block (after verifying its old bytes) and resets the
   * table past the end; zero-extension changes no checksum since padding is zeros already.
   */
  async truncate(lengthBytes: number, newVersion: number): Promise<void> {
    assert(lengthBytes >= 0 && lengthBytes <= CHUNK_SIZE_BYTES, `length ${lengthBytes}`);
    // A field write still running would race the whole-header write below.
    await this.settleFields();
    if (lengthBytes < this.lengthNow) {
      const lastBlock = Math.floor(lengthBytes / BLOCK_SIZE_BYTES);
      const keptInLast = lengthBytes - lastBlock * BLOCK_SIZE_BYTES;
      if (keptInLast > 0) {
        const block = Buffer.alloc(BLOCK_SIZE_BYTES);
        const storedOld = Math.min(BLOCK_SIZE_BYTES, this.lengthNow - lastBlock * BLOCK_SIZE_BYTES);
        await this.readStoredBlock(lastBlock, block, storedOld);
        block.fill(0, keptInLast);
        this.checksums.writeBigUInt64BE(xxh64(block), 8 * lastBlock);
      }
      const firstGone = Math.ceil(lengthBytes / BLOCK_SIZE_BYTES);
      for (let b = firstGone; b < BLOCKS_PER_CHUNK; b++) {
        this.checksums.writeBigUInt64BE(ZERO_BLOCK_CHECKSUM, 8 * b);
      }
    }
    await fsCall('truncate', this.filePath, () => this.handle.truncate(HEADER_BYTES + lengthBytes));
    this.lengthNow = lengthBytes;
    this.versionNow = newVersion;
    const header = this.encodeHeaderAt(newVersion, lengthBytes);
    await fsCall('write', this.filePath, () => writeFully(this.handle, header, 0));
    this.headerPending = false;
    this.lengthOnDisk = lengthBytes;
    await fsCall('fsync', this.filePath, () => this.handle.datasync());
    await this.renameToVersion();
  }

  /**
   * Writes the whole header of a new chunk that no batch has written yet. Only before any
   * batch or field write (both wait for it: batches run one at a time, fields come after).
   */
  private async writePendingHeader(): Promise<void> {
    // A running batch writes it; once none runs, this write goes before any later batch.
    while (this.batchLoop !== null) await this.batchLoop;
    if (!this.headerPending) return;
    assert(this.fieldsWrite === null, 'no field write before the header is written');
    this.headerWrite ??= (async () => {
      const header = this.encodeHeaderAt(this.versionNow, this.lengthNow);
      await fsCall('write', this.filePath, () => writeFully(this.handle, header, 0));
      this.headerPending = false;
      this.lengthOnDisk = this.lengthNow;
    })().finally(() => { this.headerWrite = null; });
    await this.headerWrite;
  }

  /** The whole header with the checksum table as it is in memory now. */
  private encodeHeaderAt(version: number, lengthBytes: number): Buffer {
    return encodeHeader({ chunkId: this.chunkId, version, lengthBytes, checksums: this.checksums });
  }

  /** Waits until no field write is running (the caller starts no new one meanwhile). */
  private async settleFields(): Promise<void> {
    // Each pass waits for one running write; writes start only from calls made before this.
    while (this.fieldsWrite !== null) await this.fieldsWrite.catch(() => undefined);
  }

  /** Brings the header in the file up to date (no fsync), for readers of the file itself. */
  async settleHeader(): Promise<void> {
    if (this.headerPending || this.fieldsWrite !== null || this.lengthOnDisk !== this.lengthNow) {
      await this.syncFields();
    }
  }

  /** fsync of data and an up-to-date header. */
  async sync(): Promise<void> {
    await this.settleHeader();
    await fsCall('fsync', this.filePath, () => this.handle.datasync());
    if (this.cache.dropWritten) void this.dropCache(0); // all clean now
  }

  /** Closes the file, bringing the header's length up to date first (best effort). */
  async close(): Promise<void> {
    await this.settleHeader().catch(() => undefined);
    if (this.cache.dropWritten) {
      while (this.dropping !== null) await this.dropping;
      await this.dropCache(0); // starts the writeback of what is dirty, frees what is clean
    }
    await this.handle.close().catch(() => undefined);
  }

  /** After a batch that reached `writtenEnd` bytes of data: drops the cache behind it, in steps. */
  private dropBehind(writtenEnd: number): void {
    const upTo = HEADER_BYTES + writtenEnd - DROP_BEHIND_BYTES;
    if (this.cache.dropWritten && upTo - this.droppedTo >= DROP_BEHIND_BYTES) {
      void this.dropCache(upTo);
    }
  }

  /**
   * Drops cached data from the end of the header to file offset `end` (0: the end of the
   * file), one drop at a time: asked while one runs, it is skipped (a later one covers it).
   * The header stays: small writes keep changing it, and each would read it back from disk.
   * Dirty pages only start their writeback; the next drop, which starts at the header again,
   * frees them once clean.
   */
  private dropCache(end: number): Promise<unknown> {
    if (this.dropping !== null) return this.dropping;
    if (end > 0) this.droppedTo = end;
    const length = end === 0 ? 0 : end - HEADER_BYTES;
    const run = dropCached(this.handle.fd, HEADER_BYTES, length).finally(() => {
      this.dropping = null;
    });
    this.dropping = run;
    return run;
  }
}
