// The master's side of writing and truncating file data: a new chunk in a hole is one made
// ahead (chunk-pool.ts) or created on min(goal, usable) chunkservers; an existing one gets
// version+1 on every valid holder; a shrink that cuts a chunk truncates it on its holders.
// Each change is logged before the client hears of it. One writer per chunk: the write lease,
// held by a session until WRITE_END or its disconnect (CHUNK_BUSY for everybody else).
import {
  CHUNK_SIZE_BYTES, FILE_LENGTH_MAX_BYTES, FsError, InodeType, MATOCS_CREATE, MATOCS_SET_VERSION,
  MATOCS_TRUNCATE, Status, assert, type Logger, type StatusCode,
} from '@antlerfs/protocol';
import type { Origin } from './change.ts';
import { MASTER_LEASE_SESSION, type Chunk } from './chunk-registry.ts';
import type { ChunkserverLinks } from './chunkserver-link.ts';
import { POOLED_CHUNK_VERSION, type ChunkPool } from './chunk-pool.ts';
import type { Chunkservers, Location } from './chunkservers.ts';
import type { DeletionQueue } from './deletion-queue.ts';
import { attrOf, type Attr, type FileNode } from './inode-table.ts';
import type { MetaStore } from './meta-store.ts';
import { placeCopies } from './placement.ts';

/** The version a chunk is created at, here or ahead (the pool makes its chunks at it). */
const NEW_CHUNK_VERSION = POOLED_CHUNK_VERSION;

/** Chunk indexes a file may use (FILE_LENGTH_MAX_BYTES / CHUNK_SIZE_BYTES). */
export const CHUNK_INDEX_LIMIT = FILE_LENGTH_MAX_BYTES / CHUNK_SIZE_BYTES;

/** What the write flow needs of a client session. */
export interface LeaseHolder {
  readonly id: number;
  readonly leases: Set<number>;
  readonly closed: boolean;
}

export interface PromisedChunk {
  chunkId: number;
  version: number;
  chain: Location[];
}

export interface WriteEndRequest {
  inode: number;
  chunkIndex: number;
  chunkId: number;
  length: number;
  /** 1: `chunkId` is chunk 0's promised chunk, written without WRITE_CHUNK. */
  promised: number;
}

export interface WriteChunkReply {
  length: number;
  chunkId: number;
  version: number;
  chain: Location[];
}

export interface WriteFlowOptions {
  store: MetaStore;
  log?: Logger;
  servers: Chunkservers;
  links: Pick<ChunkserverLinks, 'order'>;
  deletions: DeletionQueue;
  random?: () => number;
  /** New chunks made ahead; without it every new chunk is created when written. */
  pool?: ChunkPool;
}

export class WriteFlow {
  private readonly opts: WriteFlowOptions;
  /** inode:chunkIndex with a WRITE_CHUNK in progress (one at a time per slot). */
  private readonly busySlots = new Set<string>();

  constructor(opts: WriteFlowOptions) {
    this.opts = opts;
  }

  private get ns() {
    return this.opts.store.md.namespace;
  }

  private get registry() {
    return this.opts.store.md.chunks;
  }

  /**
   * `origin`: the client request it is for (recorded with the change). `promisedChunkId`: the
   * chunk CREATE promised this holder for chunk 0 (0: none), taken if the promise holds.
   */
  async writeChunk(
    holder: LeaseHolder, inode: number, chunkIndex: number, origin?: Origin, promisedChunkId = 0,
  ): Promise<WriteChunkReply> {
    const file = this.ns.file(inode);
    if (chunkIndex >= CHUNK_INDEX_LIMIT) throw new FsError('EFBIG', `chunk index ${chunkIndex}`);
    const slot = `${inode}:${chunkIndex}`;
    if (this.busySlots.has(slot)) {
      throw new FsError('CHUNK_BUSY', `chunk ${chunkIndex} of ${inode}`);
    }
    const chunkId = file.chunks.get(chunkIndex);
    const promised = chunkIndex === 0 ? promisedChunkId : 0;
    if (promised !== 0 && chunkId !== undefined) this.opts.pool?.release(promised, holder.id);
    this.busySlots.add(slot);
    try {
      if (chunkId === undefined) {
        return await this.newChunk(holder, inode, chunkIndex, origin, promised);
      }
      return await this.bumpChunk(holder, inode, chunkIndex, chunkId, origin);
    } finally {
      this.busySlots.delete(slot);
    }
  }

  private async newChunk(
    holder: LeaseHolder, inode: number, chunkIndex: number, origin: Origin | undefined,
    promisedChunkId: number,
  ): Promise<WriteChunkReply> {
    const { goal } = this.ns.file(inode);
    const pool = this.opts.pool;
    const redeemed = promisedChunkId === 0 ? null
      : pool?.redeem(promisedChunkId, holder.id, inode, goal) ?? null;
    const pooled = redeemed ?? pool?.take(goal) ?? null;
    // A chunk made ahead: logged as the file's at once (no await since the pool's checks).
    if (pooled !== null) {
      return this.attachNew(holder, inode, chunkIndex, pooled.chunkId, pooled.csIds, origin);
    }
    const chunkId = await this.opts.store.allocateChunkId();
    const servers = this.placeNew(inode, `no server for a chunk of ${inode}`);
    const { created, statuses } = await this.createOn(servers, chunkId, NEW_CHUNK_VERSION);
    const file = this.fileStill(inode);
    if (file === null) {
      for (const csId of created) {
        this.opts.deletions.enqueueStray(chunkId, NEW_CHUNK_VERSION, csId);
      }
      throw new FsError('ENOENT', `inode ${inode} went away during the write`);
    }
    if (created.length === 0) throw noCopyMade(statuses, `creating chunk ${chunkId}`);
    return this.attachNew(holder, inode, chunkIndex, chunkId, created, origin);
  }

  /**
   * Logs new chunk `chunkId` (version NEW_CHUNK_VERSION, copies made on `csIds`) as the file's,
   * registers its copies and the lease, and answers once the change is on disk. Called with no
   * await since the file and the copies were last checked.
   */
  private async attachNew(
    holder: LeaseHolder, inode: number, chunkIndex: number, chunkId: number, csIds: number[],
    origin: Origin | undefined,
  ): Promise<WriteChunkReply> {
    const { chunk, durable, node } = this.logNew(inode, chunkIndex, chunkId, csIds, origin);
    this.takeLease(holder, chunk);
    await durable;
    return this.reply(node, chunk, csIds);
  }

  /** Logs new chunk `chunkId` as chunk `chunkIndex` of `inode` and registers its copies. */
  private logNew(
    inode: number, chunkIndex: number, chunkId: number, csIds: number[], origin?: Origin,
  ): { chunk: Chunk; durable: Promise<void>; node: FileNode } {
    const { durable, result } = this.opts.store.commit({
      kind: 'writeChunk', inode, chunkIndex, chunkId, version: NEW_CHUNK_VERSION, origin,
    });
    const chunk = this.registry.live(chunkId);
    assert(chunk !== undefined && chunk.version === NEW_CHUNK_VERSION,
      `chunk ${chunkId} registered`);
    this.registerCopies(chunkId, csIds);
    return { chunk, durable, node: result.node as FileNode };
  }

  private async bumpChunk(
    holder: LeaseHolder, inode: number, chunkIndex: number, chunkId: number,
    origin: Origin | undefined,
  ): Promise<WriteChunkReply> {
    const chunk = this.registry.live(chunkId);
    assert(chunk !== undefined, `chunk ${chunkId} of inode ${inode} is registered`);
    if (chunk.leaseSession !== 0 && chunk.leaseSession !== holder.id) {
      throw new FsError('CHUNK_BUSY', `chunk ${chunkId} is being written`);
    }
    const holders = this.onlineValidCopies(chunk);
    if (holders.length === 0) {
      // A chunk past the file's length holds nothing any client was told is durable (WRITE_END
      // and fsync set the length first): one whose copies all went before it was written (a
      // chunkserver killed between create and first write) is made again rather than lost.
      const file = this.ns.file(inode);
      if (file.lengthBytes > chunkIndex * CHUNK_SIZE_BYTES) {
        throw new FsError('CHUNK_LOST', `chunk ${chunkId} has no valid copy`);
      }
      return await this.recreateChunk(holder, inode, chunkIndex, chunk, origin);
    }
    const version = chunk.version;
    const newVersion = version + 1;
    this.takeLease(holder, chunk); // keeps other writers and truncation off while we wait
    const statuses = await this.orderAll(chunk, holders, newVersion,
      (csId) => this.opts.links.order(csId, MATOCS_SET_VERSION, { chunkId, version, newVersion }));
    const ok = holders.filter((_, i) => statuses[i] === Status.OK);
    const file = this.fileStill(inode);
    if (file === null || file.chunks.get(chunkIndex) !== chunkId || chunk.version !== version ||
      chunk.deleting) {
      this.releaseLease(holder, chunkId);
      throw new FsError('EAGAIN', `chunk ${chunkId} changed during the version bump`);
    }
    if (ok.length === 0) {
      this.releaseLease(holder, chunkId);
      throw new FsError('CHUNK_LOST', `no holder of chunk ${chunkId} took version ${newVersion}`);
    }
    this.dropFailedHolders(chunk, holders, ok, version);
    const { durable } = this.opts.store.commit({
      kind: 'writeChunk', inode, chunkIndex, chunkId, version: newVersion, origin,
    });
    await durable;
    return this.reply(file, chunk, ok);
  }

  /** A chunk with no copy and nothing durable in it: created anew at the next version. */
  private async recreateChunk(
    holder: LeaseHolder, inode: number, chunkIndex: number, chunk: Chunk,
    origin: Origin | undefined,
  ): Promise<WriteChunkReply> {
    const version = chunk.version;
    const newVersion = version + 1;
    const servers = this.placeNew(inode, `no server for chunk ${chunk.id}`);
    this.takeLease(holder, chunk); // keeps other writers and truncation off while we wait
    const { created, statuses } = await this.createOn(servers, chunk.id, newVersion);
    const file = this.fileStill(inode);
    const unchanged = file !== null && file.chunks.get(chunkIndex) === chunk.id &&
      chunk.version === version && !chunk.deleting;
    if (!unchanged || created.length === 0) {
      this.releaseLease(holder, chunk.id);
      for (const csId of created) this.opts.deletions.enqueueStray(chunk.id, newVersion, csId);
      if (!unchanged) throw new FsError('EAGAIN', `chunk ${chunk.id} changed while made again`);
      throw noCopyMade(statuses, `making chunk ${chunk.id} again`);
    }
    this.opts.log?.warn('chunk with no copy made again (nothing of it was acknowledged)', {
      chunkId: chunk.id, inode, chunkIndex, version: newVersion, servers: created.join(','),
    });
    const { durable } = this.opts.store.commit({
      kind: 'writeChunk', inode, chunkIndex, chunkId: chunk.id, version: newVersion, origin,
    });
    this.registerCopies(chunk.id, created);
    await durable;
    return this.reply(file!, chunk, created);
  }

  /**
   * WRITE_END: the lease ends, the file grows to `lengthBytes` if that is larger. `promised`:
   * the client wrote chunk 0 into the chunk CREATE promised it and never asked for it with
   * WRITE_CHUNK; it is taken now, if the promise holds, and logged as the file's together with
   * the length (one changelog write for both, no lease).
   */
  async writeEnd(holder: LeaseHolder, p: WriteEndRequest, origin?: Origin): Promise<Attr> {
    if (p.promised !== 0) return this.writeEndPromised(holder, p, origin);
    this.releaseLease(holder, p.chunkId);
    const file = this.ns.file(p.inode);
    if (file.chunks.get(p.chunkIndex) !== p.chunkId) {
      throw new FsError('EINVAL', `chunk ${p.chunkId} is not chunk ${p.chunkIndex} of ${p.inode}`);
    }
    return this.commitLength(p, origin);
  }

  /**
   * WRITE_END of a promised chunk: NO_SUCH_CHUNK, with nothing changed and the promise deleted,
   * when it no longer holds (lapsed, another chunk 0, its servers changed); the client then asks
   * WRITE_CHUNK for a chunk and writes again. The two records join one changelog batch: no
   * await between the commits, and the reply waits for the second.
   */
  private async writeEndPromised(
    holder: LeaseHolder, p: WriteEndRequest, origin?: Origin,
  ): Promise<Attr> {
    const file = this.ns.file(p.inode);
    const slotFree = !this.busySlots.has(`${p.inode}:0`) && file.chunks.get(0) === undefined;
    const pooled = p.chunkIndex === 0 && slotFree && p.length <= CHUNK_SIZE_BYTES
      ? this.opts.pool?.redeem(p.chunkId, holder.id, p.inode, file.goal, true) ?? null
      : null;
    if (pooled === null) {
      this.opts.pool?.release(p.chunkId, holder.id);
      throw new FsError('NO_SUCH_CHUNK',
        `chunk ${p.chunkId} is not promised for chunk ${p.chunkIndex} of ${p.inode} any more`);
    }
    // No origin: a repeat of this request is known by its writeEnd record, whose durability
    // (the same batch, or a later one) is what the reply waits for and reports.
    this.logNew(p.inode, 0, p.chunkId, pooled.csIds).durable.catch(() => undefined);
    return this.commitLength(p, origin);
  }

  /** Logs the length WRITE_END reached; answers once it is on disk. */
  private async commitLength(p: WriteEndRequest, origin?: Origin): Promise<Attr> {
    if (p.length > (p.chunkIndex + 1) * CHUNK_SIZE_BYTES) {
      throw new FsError('EINVAL', `length ${p.length} lies past chunk ${p.chunkIndex}`);
    }
    const { result, durable } = this.opts.store.commit({
      kind: 'writeEnd', inode: p.inode, length: p.length, timeMs: this.opts.store.nowMs(), origin,
    });
    const attr = attrOf(result.node!);
    await durable;
    return attr;
  }

  /** Sets a file's length. Unless it grows, chunks past the end go and the last one is cut. */
  async truncate(inode: number, lengthBytes: number, origin?: Origin): Promise<void> {
    const file = this.ns.file(inode);
    if (lengthBytes > FILE_LENGTH_MAX_BYTES) throw new FsError('EFBIG', `length ${lengthBytes}`);
    let cut: { chunkId: number; version: number } | null = null;
    const firstTouched = Math.floor(lengthBytes / CHUNK_SIZE_BYTES);
    for (const [index, id] of file.chunks) {
      if (index >= firstTouched && (this.registry.live(id)?.leaseSession ?? 0) !== 0) {
        throw new FsError('CHUNK_BUSY', `chunk ${id} of ${inode} is being written`);
      }
    }
    if (lengthBytes <= file.lengthBytes) {
      const cutsAChunk = lengthBytes % CHUNK_SIZE_BYTES !== 0;
      const cutId = cutsAChunk ? file.chunks.get(firstTouched) : undefined;
      if (cutId !== undefined) cut = await this.cutChunk(inode, firstTouched, cutId, lengthBytes);
    }
    const { durable } = this.opts.store.commit({
      kind: 'truncate', inode, length: lengthBytes, timeMs: this.opts.store.nowMs(),
      cutChunkId: cut?.chunkId ?? 0, cutVersion: cut?.version ?? 0, origin,
    });
    await durable;
  }

  /** MATOCS_TRUNCATE on every valid holder of the chunk the new end falls into. */
  private async cutChunk(
    inode: number, chunkIndex: number, chunkId: number, lengthBytes: number,
  ): Promise<{ chunkId: number; version: number }> {
    const chunk = this.registry.live(chunkId);
    assert(chunk !== undefined, `chunk ${chunkId} is registered`);
    const holders = this.onlineValidCopies(chunk);
    if (holders.length === 0) throw new FsError('CHUNK_LOST', `chunk ${chunkId} has no valid copy`);
    const version = chunk.version;
    const newVersion = version + 1;
    const lengthInChunk = lengthBytes % CHUNK_SIZE_BYTES;
    chunk.leaseSession = MASTER_LEASE_SESSION;
    let statuses: StatusCode[];
    try {
      statuses = await this.orderAll(chunk, holders, newVersion, (csId) => this.opts.links.order(
        csId, MATOCS_TRUNCATE, { chunkId, version, newVersion, lengthBytes: lengthInChunk }));
    } finally {
      if (chunk.leaseSession === MASTER_LEASE_SESSION) chunk.leaseSession = 0;
    }
    const ok = holders.filter((_, i) => statuses[i] === Status.OK);
    const file = this.fileStill(inode);
    if (file === null || file.chunks.get(chunkIndex) !== chunkId || chunk.version !== version ||
      chunk.deleting) {
      throw new FsError('EAGAIN', `chunk ${chunkId} changed during truncation`);
    }
    if (ok.length === 0) {
      throw new FsError('CHUNK_LOST', `no holder of chunk ${chunkId} truncated it`);
    }
    this.dropFailedHolders(chunk, holders, ok, version);
    return { chunkId, version: newVersion };
  }

  /** A session ended: every lease it held is released. */
  releaseAll(holder: LeaseHolder): void {
    for (const chunkId of [...holder.leases]) this.releaseLease(holder, chunkId);
    this.opts.pool?.forgetHolder(holder.id);
  }

  /**
   * A chunk made ahead, promised to `holder` for chunk 0 of new file `inode` (CREATE for
   * writing), with its chain; null when the pool has none ready. Nothing is logged.
   */
  promiseChunk(holder: LeaseHolder, inode: number): PromisedChunk | null {
    const file = this.fileStill(inode);
    if (file === null || file.chunks.size > 0) return null;
    const pooled = this.opts.pool?.promise(file.goal, holder.id, inode) ?? null;
    if (pooled === null) return null;
    const chain: Location[] = [];
    for (const csId of pooled.csIds) {
      const loc = this.opts.servers.location(csId);
      if (loc === null) {
        this.opts.pool!.release(pooled.chunkId, holder.id);
        return null;
      }
      chain.push(loc);
    }
    return { chunkId: pooled.chunkId, version: POOLED_CHUNK_VERSION, chain };
  }

  private async orderAll(
    chunk: Chunk, holders: number[], newVersion: number,
    send: (csId: number) => Promise<StatusCode>,
  ): Promise<StatusCode[]> {
    chunk.pendingVersion = newVersion; // a holder re-registering meanwhile reports it: valid
    try {
      return await Promise.all(holders.map(send));
    } finally {
      chunk.pendingVersion = 0;
    }
  }

  /** Holders that missed a version change keep an old version: no longer copies, deleted. */
  private dropFailedHolders(
    chunk: Chunk, holders: number[], ok: number[], oldVersion: number,
  ): void {
    for (const csId of holders) {
      if (ok.includes(csId)) continue;
      this.registry.removeCopy(chunk.id, csId);
      this.opts.deletions.enqueueStray(chunk.id, oldVersion, csId);
    }
  }

  /** The file after an await (inode numbers are never reused), or null if it went away. */
  private fileStill(inode: number): FileNode | null {
    const node = this.ns.inodes.get(inode);
    return node !== undefined && node.type === InodeType.FILE ? node : null;
  }

  /** Servers for as many new copies as the file's goal asks (the usable ones); why none, if so. */
  private placeNew(inode: number, context: string): number[] {
    const goal = this.ns.file(inode).goal;
    const placed = placeCopies(goal, this.opts.servers.placementCandidates(), this.opts.random);
    if ('status' in placed) throw new FsError(placed.status, context);
    return placed.csIds;
  }

  /** MATOCS_CREATE on each of `servers`: those that made their copy, and every answer. */
  private async createOn(
    servers: number[], chunkId: number, version: number,
  ): Promise<{ created: number[]; statuses: StatusCode[] }> {
    const statuses = await Promise.all(servers.map(
      (csId) => this.opts.links.order(csId, MATOCS_CREATE, { chunkId, version })));
    return { created: servers.filter((_, i) => statuses[i] === Status.OK), statuses };
  }

  /** The copies just made, on the servers still online, as valid copies of the chunk. */
  private registerCopies(chunkId: number, created: number[]): void {
    for (const csId of created) {
      if (this.opts.servers.isOnline(csId)) this.registry.addCopy(chunkId, csId, true);
    }
  }

  private onlineValidCopies(chunk: Chunk): number[] {
    return this.registry.validCopies(chunk).filter((csId) => this.opts.servers.isOnline(csId));
  }

  private takeLease(holder: LeaseHolder, chunk: Chunk): void {
    if (holder.closed) return;
    chunk.leaseSession = holder.id;
    holder.leases.add(chunk.id);
  }

  private releaseLease(holder: LeaseHolder, chunkId: number): void {
    holder.leases.delete(chunkId);
    const chunk = this.registry.get(chunkId);
    if (chunk !== undefined && chunk.leaseSession === holder.id) chunk.leaseSession = 0;
  }

  private reply(file: FileNode, chunk: Chunk, order: number[]): WriteChunkReply {
    const chain: Location[] = [];
    for (const csId of order) {
      const loc = this.opts.servers.location(csId);
      if (loc !== null && chunk.copies.get(csId)?.valid === true) chain.push(loc);
    }
    return { length: file.lengthBytes, chunkId: chunk.id, version: chunk.version, chain };
  }
}

/** Why no server made its copy of a new chunk: ENOSPC when every one was full. */
function noCopyMade(statuses: StatusCode[], context: string): FsError {
  const allFull = statuses.every((st) => st === Status.ENOSPC);
  return new FsError(allFull ? 'ENOSPC' : 'NO_CHUNKSERVERS', context);
}
