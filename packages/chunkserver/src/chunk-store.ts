// The chunks this server holds: id -> version, disk, stored length, damage. Owns the disks (scan
// at start, folder choice for new chunks, free space less the reserve), the open-file cache and
// the locks that order work on a chunk. Every operation names the version it expects and fails
// with NO_SUCH_CHUNK / WRONG_VERSION otherwise. All disk I/O is async.
import fs from 'node:fs/promises';
import {
  BLOCK_SIZE_BYTES, BLOCKS_PER_CHUNK, CHUNK_SIZE_BYTES, FsError, READ_SIZE_MAX_BYTES, assert,
  type Logger,
} from '@antlerfs/protocol';
import { ChunkFile, chunkFilePath, fsCall } from './chunk-file.ts';
import type { ChecksumPool } from './checksum-pool.ts';
import { Disk } from './disk.ts';
import type { HddFolder } from './hdd-config.ts';
import { OpenFileCache } from './open-file-cache.ts';
import { RwLock } from './rw-lock.ts';
import { scanDisks } from './chunk-scan.ts';

export interface ChunkInfo {
  chunkId: number;
  version: number;
  lengthBytes: number;
}

interface ChunkEntry extends ChunkInfo {
  disk: Disk;
  /** A block failed its checksum; the master has been (or will be) told. */
  damaged: boolean;
  /** Set once the chunk is deleted; work that waited on its lock then fails. */
  gone: boolean;
  /** Reads and writes share it; create, version change, truncate, delete take it alone. */
  lock: RwLock;
  /** Locks of blocks being read or written; dropped when idle. */
  blockLocks: Map<number, RwLock>;
}

function infoOf(e: ChunkEntry): ChunkInfo {
  return { chunkId: e.chunkId, version: e.version, lengthBytes: e.lengthBytes };
}

export interface ChunkStoreOptions {
  folders: HddFolder[];
  openFilesMax: number;
  log: Logger;
  checksumPool: ChecksumPool;
}

export interface ChunkStoreCounters {
  blockChecksumErrors: number;
}

export class ChunkStore {
  readonly disks: Disk[];
  readonly counters: ChunkStoreCounters = { blockChecksumErrors: 0 };
  /** Called once per damaged copy (the master link reports it). */
  onDamaged: (chunk: ChunkInfo) => void = () => undefined;
  private readonly chunks = new Map<number, ChunkEntry>();
  private readonly files: OpenFileCache;
  private readonly log: Logger;
  private readonly checksumPool: ChecksumPool;
  private closed = false;

  constructor(opts: ChunkStoreOptions) {
    assert(opts.folders.length > 0, 'at least one chunk folder');
    this.disks = opts.folders.map((f) => new Disk(f));
    this.files = new OpenFileCache(opts.openFilesMax);
    this.log = opts.log;
    this.checksumPool = opts.checksumPool;
  }

  get chunkCount(): number {
    return this.chunks.size;
  }

  get openFileCount(): number {
    return this.files.openCount;
  }

  /** Prepares every disk and loads the chunks found on them. */
  async start(): Promise<void> {
    const startedMs = Date.now();
    await Promise.all(this.disks.map((d) => d.prepare()));
    const found = await scanDisks(this.disks, this.checksumPool, this.log);
    for (const c of found) {
      this.chunks.set(c.chunkId, {
        chunkId: c.chunkId, version: c.version, lengthBytes: c.lengthBytes, disk: c.disk,
        damaged: c.damaged, gone: false, lock: new RwLock(), blockLocks: new Map(),
      });
      c.disk.chunkCount++;
    }
    this.log.info('chunks scanned', {
      chunks: this.chunks.size, damaged: found.filter((c) => c.damaged).length,
      disks: this.disks.length, ms: Date.now() - startedMs,
    });
  }

  /** A snapshot of every chunk held (for registration). */
  list(): ChunkInfo[] {
    const out: ChunkInfo[] = [];
    for (const e of this.chunks.values()) {
      out.push({ chunkId: e.chunkId, version: e.version, lengthBytes: e.lengthBytes });
    }
    return out;
  }

  /** Chunks known to be damaged (reported again after each registration). */
  damagedChunks(): ChunkInfo[] {
    const out: ChunkInfo[] = [];
    for (const e of this.chunks.values()) {
      if (e.damaged) out.push(infoOf(e));
    }
    return out;
  }

  get(chunkId: number): ChunkInfo | undefined {
    const e = this.chunks.get(chunkId);
    return e === undefined ? undefined : infoOf(e);
  }

  /** Total and usable (above the reserve) bytes of all disks, as last measured. */
  space(): { totalBytes: number; freeBytes: number } {
    let totalBytes = 0;
    let freeBytes = 0;
    for (const d of this.disks) {
      totalBytes += d.totalBytes;
      freeBytes += d.usableBytes;
    }
    return { totalBytes, freeBytes };
  }

  async refreshSpace(): Promise<void> {
    await Promise.all(this.disks.map((d) => d.refreshSpace().catch((err: Error) => {
      this.log.warn('cannot measure disk space', { disk: d.path, error: err.message });
    })));
  }

  /** A new empty chunk; replaces any chunk with that id. ENOSPC when every disk is at its
   * reserve. */
  async create(chunkId: number, version: number): Promise<void> {
    this.checkOpen();
    if (!Number.isSafeInteger(chunkId) || chunkId <= 0) {
      throw new FsError('EINVAL', `chunk ${chunkId}`);
    }
    if (version <= 0) throw new FsError('EINVAL', `chunk ${chunkId} version ${version}`);
    await this.refreshSpace();
    const disk = this.pickDisk();
    if (disk === null) {
      throw new FsError('ENOSPC', `chunk ${chunkId}: every disk is at its reserve`);
    }
    const existing = this.chunks.get(chunkId);
    if (existing !== undefined) {
      await existing.lock.with('exclusive', () => this.replace(existing, disk, version));
      return;
    }
    const entry: ChunkEntry = {
      chunkId, version, lengthBytes: 0, disk, damaged: false, gone: false,
      lock: new RwLock(), blockLocks: new Map(),
    };
    this.chunks.set(chunkId, entry);
    await entry.lock.with('exclusive', async () => {
      try {
        await this.files.use(chunkId, () => ChunkFile.create(disk.path, chunkId, version),
          async () => undefined);
        disk.chunkCount++;
      } catch (err) {
        entry.gone = true;
        if (this.chunks.get(chunkId) === entry) this.chunks.delete(chunkId);
        throw err;
      }
    });
  }

  private async replace(entry: ChunkEntry, disk: Disk, version: number): Promise<void> {
    if (entry.gone) return this.create(entry.chunkId, version);
    const oldPath = chunkFilePath(entry.disk.path, entry.chunkId, entry.version);
    await this.files.drop(entry.chunkId);
    await this.files.use(entry.chunkId, () => ChunkFile.create(disk.path, entry.chunkId, version),
      async () => undefined);
    const newPath = chunkFilePath(disk.path, entry.chunkId, version);
    if (oldPath !== newPath) {
      await fsCall('unlink', oldPath, () => fs.unlink(oldPath)).catch((err: FsError) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
    this.log.info('chunk replaced by a new empty one', { chunkId: entry.chunkId, version });
    entry.disk.chunkCount--;
    disk.chunkCount++;
    Object.assign(entry, { version, lengthBytes: 0, disk, damaged: false });
  }

  /** The disk with the most free space above its reserve, or null if none has any. */
  private pickDisk(): Disk | null {
    let best: Disk | null = null;
    for (const d of this.disks) {
      if (d.usableBytes > 0 && (best === null || d.usableBytes > best.usableBytes)) best = d;
    }
    return best;
  }

  async setVersion(chunkId: number, version: number, newVersion: number): Promise<void> {
    this.checkOpen();
    const entry = this.lookup(chunkId, version, newVersion);
    await entry.lock.with('exclusive', async () => {
      this.recheck(entry, version, newVersion);
      if (entry.version === newVersion) return; // a repeated order: already done
      if (newVersion <= version) {
        throw new FsError('EINVAL', `chunk ${chunkId}: version ${version} -> ${newVersion}`);
      }
      await this.withFile(entry, (f) => f.setVersion(newVersion));
      entry.version = newVersion;
    });
  }

  /** Cuts or zero-extends to `lengthBytes` and moves to `newVersion`. */
  async truncate(
    chunkId: number, version: number, newVersion: number, lengthBytes: number,
  ): Promise<void> {
    this.checkOpen();
    if (lengthBytes > CHUNK_SIZE_BYTES) {
      throw new FsError('EINVAL', `chunk ${chunkId}: length ${lengthBytes} above a chunk`);
    }
    if (newVersion <= version) {
      throw new FsError('EINVAL', `chunk ${chunkId}: version ${version} -> ${newVersion}`);
    }
    const entry = this.lookup(chunkId, version);
    await entry.lock.with('exclusive', async () => {
      this.recheck(entry, version);
      await this.withFile(entry, (f) => f.truncate(lengthBytes, newVersion));
      entry.version = newVersion;
      entry.lengthBytes = lengthBytes;
    });
  }

  /** Removes the chunk file; version 0 removes whatever version is held. */
  async delete(chunkId: number, version: number): Promise<void> {
    this.checkOpen();
    const entry = this.lookup(chunkId, version === 0 ? undefined : version);
    await entry.lock.with('exclusive', async () => {
      this.recheck(entry, version === 0 ? entry.version : version);
      await this.files.drop(chunkId);
      const filePath = chunkFilePath(entry.disk.path, chunkId, entry.version);
      await fsCall('unlink', filePath, () => fs.unlink(filePath)).catch((err: FsError) => {
        if (err.code !== 'ENOENT') throw err;
      });
      entry.gone = true;
      entry.disk.chunkCount--;
      this.chunks.delete(chunkId);
    });
  }

  /** `size` bytes at `offset`, every touched block verified; zeros past the stored length. */
  async read(chunkId: number, version: number, offset: number, size: number): Promise<Buffer> {
    this.checkOpen();
    if (size > READ_SIZE_MAX_BYTES || offset + size > CHUNK_SIZE_BYTES) {
      throw new FsError('EINVAL', `read of ${size} bytes at ${offset} in chunk ${chunkId}`);
    }
    const entry = this.lookup(chunkId, version);
    if (size === 0) return Buffer.alloc(0);
    const firstBlock = Math.floor(offset / BLOCK_SIZE_BYTES);
    const lastBlock = Math.floor((offset + size - 1) / BLOCK_SIZE_BYTES);
    return entry.lock.with('shared', async () => {
      this.recheck(entry, version);
      // Blocks are locked in ascending order, so two multi-block holders never deadlock.
      for (let b = firstBlock; b <= lastBlock; b++) {
        await this.blockLock(entry, b).acquire('shared');
      }
      try {
        return await this.withFile(entry, (f) => f.read(offset, size));
      } finally {
        for (let b = firstBlock; b <= lastBlock; b++) this.releaseBlock(entry, b, 'shared');
      }
    });
  }

  /** Writes `data` into one block; `checksum` is xxh64(data), verified by the caller. */
  async write(
    chunkId: number, version: number, blockIndex: number, offsetInBlock: number,
    data: Buffer, checksum: bigint,
  ): Promise<void> {
    this.checkOpen();
    if (blockIndex >= BLOCKS_PER_CHUNK || data.length === 0
      || offsetInBlock + data.length > BLOCK_SIZE_BYTES) {
      throw new FsError('EINVAL',
        `write of ${data.length} bytes at ${offsetInBlock} in block ${blockIndex}`);
    }
    const entry = this.lookup(chunkId, version);
    // Chunk lock first, then the block (as reads do), so lock order is the same everywhere.
    // Grants run in request order, so writes to one block still apply in arrival order.
    await entry.lock.with('shared', async () => {
      await this.blockLock(entry, blockIndex).acquire('exclusive');
      try {
        this.recheck(entry, version);
        await this.withFile(entry, async (f) => {
          await f.writeBlock(blockIndex, offsetInBlock, data, checksum);
          entry.lengthBytes = f.lengthBytes;
        });
      } finally {
        this.releaseBlock(entry, blockIndex, 'exclusive');
      }
    });
  }

  /** fsync of the chunk file. */
  async fsync(chunkId: number, version: number): Promise<void> {
    this.checkOpen();
    const entry = this.lookup(chunkId, version);
    await entry.lock.with('shared', async () => {
      this.recheck(entry, version);
      await this.withFile(entry, (f) => f.sync());
    });
  }

  /**
   * Reads the whole chunk and checks every block on a worker (scrub, replication). A bad block
   * marks the copy damaged. Returns the bad block indices.
   */
  async verifyChunk(chunkId: number): Promise<number[]> {
    this.checkOpen();
    const entry = this.lookup(chunkId);
    return entry.lock.with('exclusive', async () => {
      this.recheck(entry, entry.version);
      const filePath = chunkFilePath(entry.disk.path, chunkId, entry.version);
      const result = await this.checksumPool.verifyChunkFile(filePath);
      if (result.badBlocks.length > 0) {
        this.markDamaged(entry, `blocks ${result.badBlocks.join(',')}`);
      }
      return result.badBlocks;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    // Wait for work in progress on every chunk, then close the files.
    const idle = async (): Promise<void> => undefined;
    await Promise.all([...this.chunks.values()].map((e) => e.lock.with('exclusive', idle)));
    await this.files.closeAll();
  }

  private checkOpen(): void {
    if (this.closed) throw new FsError('EAGAIN', 'chunkserver is stopping');
  }

  /** The entry for `chunkId`, checking the version when one is given. */
  private lookup(chunkId: number, version?: number, alreadyVersion?: number): ChunkEntry {
    const entry = this.chunks.get(chunkId);
    if (entry === undefined) throw new FsError('NO_SUCH_CHUNK', `chunk ${chunkId}`);
    this.recheck(entry, version, alreadyVersion);
    return entry;
  }

  /** After an await: the chunk still exists at the version the request names. */
  private recheck(entry: ChunkEntry, version?: number, alreadyVersion?: number): void {
    if (entry.gone) throw new FsError('NO_SUCH_CHUNK', `chunk ${entry.chunkId}`);
    if (version === undefined || entry.version === version) return;
    if (alreadyVersion !== undefined && entry.version === alreadyVersion) return;
    throw new FsError('WRONG_VERSION',
      `chunk ${entry.chunkId} is version ${entry.version}, not ${version}`);
  }

  /** Runs `work` on the chunk's open file; a checksum failure marks the copy damaged. */
  private async withFile<T>(entry: ChunkEntry, work: (f: ChunkFile) => Promise<T>): Promise<T> {
    const open = (): Promise<ChunkFile> => ChunkFile.open(
      chunkFilePath(entry.disk.path, entry.chunkId, entry.version), entry.chunkId, entry.version,
      entry.lengthBytes);
    try {
      return await this.files.use(entry.chunkId, open, work);
    } catch (err) {
      if (err instanceof FsError && err.code === 'CHECKSUM_MISMATCH') {
        this.counters.blockChecksumErrors++;
        this.markDamaged(entry, err.context);
      }
      throw err;
    }
  }

  private markDamaged(entry: ChunkEntry, why: string): void {
    if (entry.damaged) return;
    entry.damaged = true;
    this.log.warn('chunk copy damaged', { chunkId: entry.chunkId, version: entry.version, why });
    this.onDamaged(infoOf(entry));
  }

  private blockLock(entry: ChunkEntry, blockIndex: number): RwLock {
    let lock = entry.blockLocks.get(blockIndex);
    if (lock === undefined) {
      lock = new RwLock();
      entry.blockLocks.set(blockIndex, lock);
    }
    return lock;
  }

  private releaseBlock(entry: ChunkEntry, blockIndex: number, mode: 'shared' | 'exclusive'): void {
    const lock = entry.blockLocks.get(blockIndex);
    assert(lock !== undefined, `block ${blockIndex} of chunk ${entry.chunkId} is locked`);
    lock.release(mode);
    if (lock.idle) entry.blockLocks.delete(blockIndex);
  }
}
