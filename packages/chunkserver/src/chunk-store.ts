// The chunks this server holds: id -> version, disk, stored length, damage. Owns the disks (scan
// at start, folder choice for new chunks, free space less the reserve, health), the open-file
// cache and the locks that order work on a chunk. Every operation names the version it expects
// and fails with NO_SUCH_CHUNK / WRONG_VERSION otherwise. A damaged copy (a block failed its
// checksum) is no longer read from; a lost copy (file gone, folder failing) is dropped from the
// map and reported. All disk I/O is async and runs through its disk's io() (error accounting).
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  BLOCK_SIZE_BYTES, BLOCKS_PER_CHUNK, CHUNK_SIZE_BYTES, FsError, READ_SIZE_MAX_BYTES, assert,
  type Logger,
} from '@antlerfs/protocol';
import {
  ChunkFile, HEADER_BYTES, KEEP_CACHE, chunkFilePath, fsCall, syncFolder, type CachePolicy,
} from './chunk-file.ts';
import type { ChecksumPool } from './checksum-pool.ts';
import { Disk } from './disk.ts';
import type { HddFolder } from './hdd-config.ts';
import { OpenFileCache } from './open-file-cache.ts';
import { RwLock } from './rw-lock.ts';
import { scanDisks } from './chunk-scan.ts';
import { takeSpareAs } from './spare-files.ts';

export interface ChunkInfo {
  chunkId: number;
  version: number;
  lengthBytes: number;
}

interface ChunkEntry extends ChunkInfo {
  disk: Disk;
  /** A block failed its checksum; the master has been (or will be) told. Not read from. */
  damaged: boolean;
  /** The copy is gone (file missing, folder damaged); it leaves the map once work on it ends. */
  lost: boolean;
  /** Set once the chunk is deleted; work that waited on its lock then fails. */
  gone: boolean;
  /** The file's name is durable in its folder (false from create until the first fsync). */
  nameSynced: boolean;
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
  /** Device errors on a folder before it is damaged (HDD_IO_ERRORS_MAX). */
  ioErrorsMax?: number;
  /** Emptied files of deleted chunks kept per folder for new chunks (HDD_SPARE_FILES_MAX). */
  spareFilesMax?: number;
  /** What chunk files do with the page cache of written data (default: keep it). */
  cache?: CachePolicy;
}

export interface ChunkStoreCounters {
  blockChecksumErrors: number;
  /** Copies given up: file gone, or on a damaged folder. */
  chunksLost: number;
}

const IO_ERRORS_MAX_DEFAULT = 3;
/**
 * Space measured this recently is good enough to place a new chunk (one statfs per burst of
 * creates, not one each): a create uses a header's worth, and the writes that fill a disk are
 * not checked against the reserve at create time anyway. A create that finds no room measures
 * again at once, so a disk freed meanwhile is used.
 */
const CREATE_SPACE_AGE_MS_MAX = 250;

export class ChunkStore {
  readonly disks: Disk[];
  readonly counters: ChunkStoreCounters = { blockChecksumErrors: 0, chunksLost: 0 };
  /** Called once per damaged copy (the master link reports it). */
  onDamaged: (chunk: ChunkInfo) => void = () => undefined;
  /** Called once per lost copy (the master link reports it). */
  onLost: (chunk: ChunkInfo) => void = () => undefined;
  private readonly chunks = new Map<number, ChunkEntry>();
  private readonly files: OpenFileCache;
  private readonly log: Logger;
  /** What chunk files do with the page cache of written data. */
  readonly cache: CachePolicy;
  private readonly checksumPool: ChecksumPool;
  private closed = false;

  constructor(opts: ChunkStoreOptions) {
    assert(opts.folders.length > 0, 'at least one chunk folder');
    const ioErrorsMax = opts.ioErrorsMax ?? IO_ERRORS_MAX_DEFAULT;
    this.disks = opts.folders.map((f) => new Disk(f, ioErrorsMax, opts.spareFilesMax));
    for (const d of this.disks) {
      d.onDamaged = (disk, lastError) => this.diskDamaged(disk, lastError);
    }
    this.files = new OpenFileCache(opts.openFilesMax);
    this.log = opts.log;
    this.cache = opts.cache ?? KEEP_CACHE;
    this.checksumPool = opts.checksumPool;
  }

  get chunkCount(): number {
    return this.chunks.size;
  }

  get openFileCount(): number {
    return this.files.openCount;
  }

  /**
   * Prepares every disk and loads the chunks found on them. A folder that cannot be prepared or
   * listed is damaged and left out; start fails only if no folder is usable.
   */
  async start(): Promise<void> {
    const startedMs = Date.now();
    await Promise.all(this.disks.map((d) => d.prepare().catch((err: Error) => {
      d.markDamaged(`cannot prepare: ${err.message}`);
    })));
    const found = await scanDisks(this.disks.filter((d) => !d.damaged), this.checksumPool,
      this.log);
    if (this.disks.every((d) => d.damaged)) {
      throw new FsError('EIO', `no usable chunk folder among ${this.disks.length}`);
    }
    for (const c of found) {
      if (c.disk.damaged) continue; // the folder failed during the scan
      this.chunks.set(c.chunkId, {
        chunkId: c.chunkId, version: c.version, lengthBytes: c.lengthBytes, disk: c.disk,
        damaged: c.damaged, lost: false, gone: false, nameSynced: true, lock: new RwLock(),
        blockLocks: new Map(),
      });
      c.disk.chunkCount++;
    }
    this.log.info('chunks scanned', {
      chunks: this.chunks.size, damaged: found.filter((c) => c.damaged).length,
      disks: this.disks.length, damagedDisks: this.disks.filter((d) => d.damaged).length,
      ms: Date.now() - startedMs,
    });
  }

  /** A snapshot of every chunk held (for registration). */
  list(): ChunkInfo[] {
    const out: ChunkInfo[] = [];
    for (const e of this.chunks.values()) {
      if (!e.lost) out.push(infoOf(e));
    }
    return out;
  }

  /** Chunks known to be damaged (reported again after each registration). */
  damagedChunks(): ChunkInfo[] {
    const out: ChunkInfo[] = [];
    for (const e of this.chunks.values()) {
      if (e.damaged && !e.lost) out.push(infoOf(e));
    }
    return out;
  }

  get(chunkId: number): ChunkInfo | undefined {
    const e = this.chunks.get(chunkId);
    return e === undefined || e.lost ? undefined : infoOf(e);
  }

  isDamaged(chunkId: number): boolean {
    return this.chunks.get(chunkId)?.damaged === true;
  }

  /** Total and usable (above the reserve) bytes of the healthy disks, as last measured. */
  space(): { totalBytes: number; freeBytes: number } {
    let totalBytes = 0;
    let freeBytes = 0;
    for (const d of this.disks) {
      if (d.damaged) continue;
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

  /**
   * A new empty chunk; replaces any chunk with that id. ENOSPC when every disk is at its
   * reserve. Not fsynced: it holds nothing durable yet, and fsync() makes its name durable.
   * With `background`, a fresh chunk's file is made after this resolves, under the chunk's
   * lock (taken before returning), so every later request on it waits for the file; a failure
   * then reports the copy lost. That takes two trips to the thread pool off the master's wait.
   */
  async create(chunkId: number, version: number, opts = { background: false }): Promise<void> {
    this.checkOpen();
    if (!Number.isSafeInteger(chunkId) || chunkId <= 0) {
      throw new FsError('EINVAL', `chunk ${chunkId}`);
    }
    if (version <= 0) throw new FsError('EINVAL', `chunk ${chunkId} version ${version}`);
    const nowMs = Date.now();
    const stale = this.disks.some((d) => nowMs - d.spaceMeasuredAtMs > CREATE_SPACE_AGE_MS_MAX);
    if (stale) await this.refreshSpace();
    let disk = this.pickDisk();
    if (disk === null && !stale) {
      await this.refreshSpace();
      disk = this.pickDisk();
    }
    if (disk === null) {
      throw new FsError('ENOSPC', `chunk ${chunkId}: every disk is at its reserve`);
    }
    const existing = this.chunks.get(chunkId);
    if (existing !== undefined) {
      await existing.lock.with('exclusive', () => this.replace(existing, disk, version));
      return;
    }
    const entry = newEntry(chunkId, version, 0, disk);
    entry.nameSynced = false;
    this.chunks.set(chunkId, entry);
    // A fresh lock: with() takes it before its first await.
    const making = entry.lock.with('exclusive', async () => {
      try {
        await disk.io(() => this.files.use(chunkId, () => this.newFile(disk, chunkId, version),
          async () => undefined), true);
        disk.chunkCount++;
      } catch (err) {
        entry.gone = true;
        if (this.chunks.get(chunkId) === entry) this.chunks.delete(chunkId);
        throw err;
      }
    });
    if (!opts.background) return making;
    making.catch((err: Error) => {
      this.counters.chunksLost++;
      this.log.warn('chunk copy lost: its file could not be created', {
        chunkId, version, error: err.message,
      });
      this.onLost(infoOf(entry));
    });
  }

  private async replace(entry: ChunkEntry, disk: Disk, version: number): Promise<void> {
    await this.settleLost(entry);
    if (entry.gone) return this.create(entry.chunkId, version);
    const oldPath = chunkFilePath(entry.disk.path, entry.chunkId, entry.version);
    await this.files.drop(entry.chunkId);
    await disk.io(() => this.files.use(entry.chunkId,
      () => this.newFile(disk, entry.chunkId, version), async () => undefined), true);
    const newPath = chunkFilePath(disk.path, entry.chunkId, version);
    if (oldPath !== newPath) await discardFile(entry.disk, oldPath);
    this.log.info('chunk replaced by a new empty one', { chunkId: entry.chunkId, version });
    entry.disk.chunkCount--;
    disk.chunkCount++;
    Object.assign(entry, { version, lengthBytes: 0, disk, damaged: false, nameSynced: false });
  }

  /** A new empty chunk file, from one of the disk's spares when there is one. */
  private async newFile(disk: Disk, chunkId: number, version: number): Promise<ChunkFile> {
    await takeSpareAs(disk.spares, chunkFilePath(disk.path, chunkId, version));
    return ChunkFile.create(disk.path, chunkId, version, this.cache);
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
      entry.nameSynced = true; // renamed to the new version and its folder synced
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
      entry.nameSynced = true; // renamed to the new version and its folder synced
    });
  }

  /** Removes the chunk file; version 0 removes whatever version is held. */
  async delete(chunkId: number, version: number): Promise<void> {
    this.checkOpen();
    const entry = this.lookup(chunkId, version === 0 ? undefined : version);
    await entry.lock.with('exclusive', async () => {
      this.recheck(entry, version === 0 ? entry.version : version);
      await this.files.drop(chunkId);
      await discardFile(entry.disk, chunkFilePath(entry.disk.path, chunkId, entry.version));
      this.forget(entry);
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
    // A free lock is taken without a wait (the common case on the data path).
    if (!entry.lock.tryAcquire('shared')) await entry.lock.acquire('shared');
    try {
      this.recheck(entry, version);
      refuseDamaged(entry);
      // Blocks are locked in ascending order, so two multi-block holders never deadlock.
      for (let b = firstBlock; b <= lastBlock; b++) {
        const lock = this.blockLock(entry, b);
        if (!lock.tryAcquire('shared')) await lock.acquire('shared');
      }
      try {
        return await this.withFile(entry, (f) => f.read(offset, size));
      } finally {
        for (let b = firstBlock; b <= lastBlock; b++) this.releaseBlock(entry, b, 'shared');
      }
    } finally {
      entry.lock.release('shared');
    }
  }

  /**
   * Writes `data` (a Buffer, or the pieces it arrived in) into one block; `checksum` is
   * xxh64(data), verified by the caller.
   */
  async write(
    chunkId: number, version: number, blockIndex: number, offsetInBlock: number,
    data: Buffer | readonly Buffer[], checksum: bigint,
  ): Promise<void> {
    this.checkOpen();
    const dataBytes = byteLength(data);
    if (blockIndex >= BLOCKS_PER_CHUNK || dataBytes === 0
      || offsetInBlock + dataBytes > BLOCK_SIZE_BYTES) {
      throw new FsError('EINVAL',
        `write of ${dataBytes} bytes at ${offsetInBlock} in block ${blockIndex}`);
    }
    const entry = this.lookup(chunkId, version);
    // Chunk lock first, then the block (as reads do), so lock order is the same everywhere.
    // Grants run in request order, so writes to one block still apply in arrival order.
    if (!entry.lock.tryAcquire('shared')) await entry.lock.acquire('shared');
    try {
      const blockLock = this.blockLock(entry, blockIndex);
      if (!blockLock.tryAcquire('exclusive')) await blockLock.acquire('exclusive');
      try {
        this.recheck(entry, version);
        await this.withFile(entry, async (f) => {
          await f.writeBlock(blockIndex, offsetInBlock, data, checksum);
          entry.lengthBytes = f.lengthBytes;
        });
      } finally {
        this.releaseBlock(entry, blockIndex, 'exclusive');
      }
    } finally {
      entry.lock.release('shared');
    }
  }

  /**
   * fsync of the chunk file, and of its folder (and the spare folder) the first time after the
   * chunk was created.
   */
  async fsync(chunkId: number, version: number): Promise<void> {
    this.checkOpen();
    const entry = this.lookup(chunkId, version);
    await entry.lock.with('shared', async () => {
      this.recheck(entry, version);
      await this.withFile(entry, (f) => f.sync());
      if (entry.nameSynced) return;
      const folder = path.dirname(chunkFilePath(entry.disk.path, chunkId, entry.version));
      await this.onDisk(entry, () => syncFolder(folder));
      // Its file may be a spare: that name must not come back after a power cut.
      await this.onDisk(entry, () => entry.disk.spares.syncTaken());
      entry.nameSynced = true;
    });
  }

  /**
   * Reads the whole chunk and checks every block on a worker (scrub). A bad block marks the copy
   * damaged. Returns the bad block indices.
   */
  async verifyChunk(chunkId: number): Promise<number[]> {
    this.checkOpen();
    const entry = this.lookup(chunkId);
    return entry.lock.with('exclusive', async () => {
      this.recheck(entry, entry.version);
      // The worker reads the file itself: a new chunk's header may still be in memory only.
      await this.withFile(entry, (f) => f.settleHeader());
      const filePath = chunkFilePath(entry.disk.path, chunkId, entry.version);
      const result = await this.onDisk(entry, () => this.checksumPool.verifyChunkFile(filePath));
      if (result.badBlocks.length > 0) {
        this.markDamaged(entry, `blocks ${result.badBlocks.join(',')}`);
      }
      return result.badBlocks;
    });
  }

  /**
   * The stored length and the checksum of every block up to it (8 bytes each, big-endian), for a
   * replicating peer. A damaged copy is refused.
   */
  async checksums(
    chunkId: number, version: number,
  ): Promise<{ lengthBytes: number; table: Buffer }> {
    this.checkOpen();
    const entry = this.lookup(chunkId, version);
    return entry.lock.with('shared', async () => {
      this.recheck(entry, version);
      refuseDamaged(entry);
      return this.withFile(entry, async (f) => ({
        lengthBytes: f.lengthBytes,
        table: f.checksumsOf(Math.ceil(f.lengthBytes / BLOCK_SIZE_BYTES)),
      }));
    });
  }

  /** The healthy disk with the most room for a replica of `lengthBytes`; ENOSPC if none. */
  async diskForReplica(lengthBytes: number): Promise<Disk> {
    this.checkOpen();
    assert(lengthBytes >= 0 && lengthBytes <= CHUNK_SIZE_BYTES, `length ${lengthBytes}`);
    await this.refreshSpace();
    const disk = this.pickDisk();
    if (disk === null || disk.usableBytes < HEADER_BYTES + lengthBytes) {
      throw new FsError('ENOSPC', `no disk has room for a replica of ${lengthBytes} bytes`);
    }
    return disk;
  }

  /**
   * Takes a verified, synced replica at `tempPath` on `disk` as the chunk's copy: renamed into
   * place, replacing any copy of that id (whatever its version), then served.
   */
  async installReplica(
    replica: { chunkId: number; version: number; lengthBytes: number; disk: Disk },
    tempPath: string,
  ): Promise<void> {
    this.checkOpen();
    const { chunkId, version, lengthBytes, disk } = replica;
    const finalPath = chunkFilePath(disk.path, chunkId, version);
    const existing = this.chunks.get(chunkId);
    if (existing === undefined) {
      const entry = newEntry(chunkId, version, lengthBytes, disk);
      this.chunks.set(chunkId, entry);
      await entry.lock.with('exclusive', async () => {
        try {
          await disk.io(() => renameInto(tempPath, finalPath));
          disk.chunkCount++;
        } catch (err) {
          entry.gone = true;
          if (this.chunks.get(chunkId) === entry) this.chunks.delete(chunkId);
          throw err;
        }
      });
      return;
    }
    await existing.lock.with('exclusive', async () => {
      // Deleted or lost while we waited: install as a new chunk.
      await this.settleLost(existing);
      if (existing.gone) return this.installReplica(replica, tempPath);
      await this.files.drop(chunkId);
      const oldPath = chunkFilePath(existing.disk.path, chunkId, existing.version);
      if (oldPath !== finalPath) await discardFile(existing.disk, oldPath);
      try {
        await disk.io(() => renameInto(tempPath, finalPath));
      } catch (err) {
        // The old file may be gone already: this id has no copy here any more.
        if (oldPath !== finalPath) this.markLost(existing, (err as Error).message);
        throw err;
      }
      existing.disk.chunkCount--;
      disk.chunkCount++;
      Object.assign(existing, { version, lengthBytes, disk, damaged: false, nameSynced: true });
      this.log.info('chunk replaced by a replica', { chunkId, version, lengthBytes });
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
    if (entry.gone || entry.lost) throw new FsError('NO_SUCH_CHUNK', `chunk ${entry.chunkId}`);
    if (version === undefined || entry.version === version) return;
    if (alreadyVersion !== undefined && entry.version === alreadyVersion) return;
    throw new FsError('WRONG_VERSION',
      `chunk ${entry.chunkId} is version ${entry.version}, not ${version}`);
  }

  /** Runs `work` on the chunk's open file; a checksum failure marks the copy damaged. */
  private async withFile<T>(entry: ChunkEntry, work: (f: ChunkFile) => Promise<T>): Promise<T> {
    const open = (): Promise<ChunkFile> => ChunkFile.open(
      chunkFilePath(entry.disk.path, entry.chunkId, entry.version), entry.chunkId, entry.version,
      entry.lengthBytes, this.cache);
    try {
      return await this.onDisk(entry, () => this.files.use(entry.chunkId, open, work));
    } catch (err) {
      if (err instanceof FsError && err.code === 'CHECKSUM_MISMATCH') {
        this.counters.blockChecksumErrors++;
        this.markDamaged(entry, err.context);
      }
      throw err;
    }
  }

  /**
   * Runs I/O on the chunk's file through its disk. The file missing (deleted by hand, folder
   * removed) means the copy is lost; the caller gets NO_SUCH_CHUNK.
   */
  private async onDisk<T>(entry: ChunkEntry, call: () => Promise<T>): Promise<T> {
    try {
      return await entry.disk.io(call);
    } catch (err) {
      if (!(err instanceof FsError && err.code === 'ENOENT')) throw err;
      this.markLost(entry, err.message);
      throw new FsError('NO_SUCH_CHUNK', `chunk ${entry.chunkId}: ${err.context}`);
    }
  }

  private markDamaged(entry: ChunkEntry, why: string): void {
    if (entry.damaged) return;
    entry.damaged = true;
    this.log.warn('chunk copy damaged', { chunkId: entry.chunkId, version: entry.version, why });
    this.onDamaged(infoOf(entry));
  }

  /**
   * Gives up a copy: no longer listed or served, reported lost; it leaves the map (file handle
   * closed) once the work holding its lock ends. `quiet` when a whole folder goes at once.
   */
  private markLost(entry: ChunkEntry, why: string, quiet = false): void {
    if (entry.lost || entry.gone) return;
    entry.lost = true;
    this.counters.chunksLost++;
    if (!quiet) {
      this.log.warn('chunk copy lost', { chunkId: entry.chunkId, version: entry.version, why });
    }
    this.onLost(infoOf(entry));
    // Queued now, before any later order for this id, so that order finds the entry gone.
    void entry.lock.with('exclusive', async () => {
      if (entry.gone) return;
      await this.files.drop(entry.chunkId);
      this.forget(entry);
    }).catch((err: Error) => {
      this.log.error('cannot release a lost chunk', { chunkId: entry.chunkId, error: err.message });
    });
  }

  /** A lost entry whose removal has not run yet is removed now (lock held by the caller). */
  private async settleLost(entry: ChunkEntry): Promise<void> {
    if (!entry.lost || entry.gone) return;
    await this.files.drop(entry.chunkId);
    this.forget(entry);
  }

  /** Removes an entry from the map (its lock held exclusively by the caller). */
  private forget(entry: ChunkEntry): void {
    entry.gone = true;
    entry.disk.chunkCount--;
    if (this.chunks.get(entry.chunkId) === entry) this.chunks.delete(entry.chunkId);
  }

  /** A folder crossed its error limit: its chunks are given up and reported lost. */
  private diskDamaged(disk: Disk, lastError: string): void {
    const onIt = [...this.chunks.values()].filter((e) => e.disk === disk && !e.lost && !e.gone);
    this.log.error('chunk folder damaged: its chunks are reported lost, it takes no new chunks', {
      disk: disk.path, ioErrors: disk.ioErrors, chunks: onIt.length, lastError,
    });
    for (const e of onIt) this.markLost(e, `chunk folder ${disk.path} damaged`, true);
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

function byteLength(data: Buffer | readonly Buffer[]): number {
  if (Buffer.isBuffer(data)) return data.length;
  let n = 0;
  for (const p of data) n += p.length;
  return n;
}

function newEntry(chunkId: number, version: number, lengthBytes: number, disk: Disk): ChunkEntry {
  return {
    chunkId, version, lengthBytes, disk, damaged: false, lost: false, gone: false,
    nameSynced: true, lock: new RwLock(), blockLocks: new Map(),
  };
}

/** A damaged copy is not served: every block of it is suspect until it is replaced. */
function refuseDamaged(entry: ChunkEntry): void {
  if (entry.damaged) {
    throw new FsError('CHECKSUM_MISMATCH', `chunk ${entry.chunkId} copy is damaged`);
  }
}

/**
 * Removes a chunk file through its disk: kept as a spare while the disk keeps fewer than its
 * limit, unlinked otherwise or when it cannot be moved. A file already gone is fine.
 */
async function discardFile(disk: Disk, filePath: string): Promise<void> {
  const discard = async (): Promise<void> => {
    if (!await disk.spares.keep(filePath)) {
      await fsCall('unlink', filePath, () => fs.unlink(filePath));
    }
  };
  await disk.io(discard).catch((err: FsError) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** Renames a finished file into place and syncs the folder so the name survives a power cut. */
async function renameInto(tempPath: string, finalPath: string): Promise<void> {
  await fsCall('rename', tempPath, () => fs.rename(tempPath, finalPath));
  await syncFolder(path.dirname(finalPath));
}
