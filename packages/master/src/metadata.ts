// All the master's metadata: the namespace, the chunk registry, the counters that hand out
// inode numbers, chunk ids and chunkserver ids, the cluster id and the windows of applied
// client requests, at a version (the last change applied).
// apply() is the one deterministic function that the live path and replay share: it validates
// a change (FsError, nothing touched) and then performs it completely. No I/O here.
import crypto from 'node:crypto';
import {
  CHUNK_SIZE_BYTES, FsError, InodeType, ROOT_INODE, assert, assertNever,
} from '@antlerfs/protocol';
import { ChunkRegistry, type Chunk } from './chunk-registry.ts';
import { CHANGE_KIND_NUMBERS, type Change, type ChangeOf } from './change.ts';
import { INODE_MAX, attrOf, type Node } from './inode-table.ts';
import { Namespace } from './namespace.ts';
import { RequestWindows } from './request-window.ts';

/** Longest cluster id a change may state (ours are 32 hex digits). */
export const CLUSTER_ID_MAX_BYTES = 64;

/** A new random cluster id: 128 bits as hex. */
export function newClusterId(): string {
  return crypto.randomBytes(16).toString('hex');
}

export interface ApplyResult {
  /** The inode the change created or changed, when there is one. */
  node?: Node;
  /** setGoal / setTrashtime: how many inodes changed. */
  changed?: number;
}

export class Metadata {
  /** Version of the last change applied (0: a new file system). */
  version = 0;
  /**
   * Version the metadata was loaded at (a dump's): no directory's names changed after it
   * without a change applied here, so it stands in for names versions older than it.
   */
  loadedVersion = 0;
  readonly namespace: Namespace;
  readonly chunks = new ChunkRegistry();
  /** The next inode number to hand out (numbers are not reused). */
  nextInode = ROOT_INODE + 1;
  /** Chunk ids below this may exist somewhere; ids are handed out only below it. */
  chunkIdLimit = 1;
  nextCsId = 1;
  readonly csIds = new Set<number>();
  /** Chunkservers marked for removal: their copies do not count and they get no new chunks. */
  readonly drainCsIds = new Set<number>();
  /** Random id of this file system, made when it was created ('' in a dump from before ids). */
  clusterId = '';
  /** Recently applied requests of retrying clients, filled from each change's origin. */
  readonly requests = new RequestWindows();
  /** Runtime hook: a chunk lost its last reference (the deletion queue takes its copies). */
  onChunkFreed: ((chunk: Chunk) => void) | null = null;

  constructor(namespace: Namespace) {
    this.namespace = namespace;
  }

  static fresh(
    opts: { timeMs: number; goal: number; trashtimeS: number; clusterId?: string },
  ): Metadata {
    const md = new Metadata(Namespace.fresh(opts));
    md.clusterId = opts.clusterId ?? newClusterId();
    return md;
  }

  /** Applies one change at version `version` (asserted to be the next one). */
  apply(version: number, change: Change): ApplyResult {
    assert(version === this.version + 1, `change version ${version} follows ${this.version}`);
    const result = this.perform(change);
    this.version = version;
    this.stampNames(version, change, result);
    if (change.origin !== undefined) {
      this.requests.record(change.origin.clientId, {
        requestId: change.origin.requestId, version, kind: CHANGE_KIND_NUMBERS[change.kind],
        attr: result.node === undefined ? null : attrOf(result.node), changed: result.changed ?? 0,
      });
    }
    return result;
  }

  /** The names version of directory `inode` (see the folder stamps of the protocol). */
  namesVersionOf(inode: number): number {
    const dir = this.namespace.dir(inode);
    return Math.max(dir.namesVersion, this.loadedVersion);
  }

  /** Records `version` as the names version of every folder whose entries `change` changed. */
  private stampNames(version: number, change: Change, result: ApplyResult): void {
    const ns = this.namespace;
    switch (change.kind) {
      case 'create':
        if (result.node?.type === InodeType.DIR) ns.dir(result.node.inode).namesVersion = version;
        ns.dir(change.parent).namesVersion = version;
        return;
      case 'unlink': case 'rmdir': case 'link':
        ns.dir(change.parent).namesVersion = version;
        return;
      case 'rename': case 'exchange':
        ns.dir(change.srcParent).namesVersion = version;
        ns.dir(change.dstParent).namesVersion = version;
        return;
      default:
    }
  }

  /** Every chunk id that a file refers to (dump loading counts references with it). */
  *fileChunkIds(): Generator<number> {
    for (const node of this.namespace.inodes.values()) {
      if (node.type === InodeType.FILE) yield* node.chunks.values();
    }
  }

  private perform(change: Change): ApplyResult {
    const ns = this.namespace;
    switch (change.kind) {
      case 'create': return { node: this.create(change) };
      case 'unlink': this.release(ns.unlink(change.parent, change.name, change.timeMs)); return {};
      case 'rmdir': ns.rmdir(change.parent, change.name, change.timeMs); return {};
      case 'rename': this.release(ns.rename(change)); return {};
      case 'exchange': ns.exchange(change); return {};
      case 'link':
        return { node: ns.link(change.inode, change.parent, change.name, change.timeMs) };
      case 'setattr': return { node: ns.setattr(change) };
      case 'truncate': return { node: this.truncate(change) };
      case 'setGoal': {
        const { inode, goal, recursive, timeMs } = change;
        return { changed: ns.setGoal(inode, goal, recursive !== 0, timeMs) };
      }
      case 'setTrashtime': {
        const { inode, trashtimeS, recursive, timeMs } = change;
        return { changed: ns.setTrashtime(inode, trashtimeS, recursive !== 0, timeMs) };
      }
      case 'writeChunk': return { node: this.writeChunk(change) };
      case 'writeEnd': return { node: ns.writeEnd(change.inode, change.length, change.timeMs) };
      case 'chunkVersion': this.chunks.setVersion(change.chunkId, change.version); return {};
      case 'chunkserverAdd':
        this.csIds.add(change.csId);
        this.nextCsId = Math.max(this.nextCsId, change.csId + 1);
        return {};
      case 'chunkIdReserve':
        assert(change.chunkIdLimit > this.chunkIdLimit, 'chunk id reservations grow');
        this.chunkIdLimit = change.chunkIdLimit;
        return {};
      case 'clusterId': this.setClusterId(change.clusterId); return {};
      case 'chunkserverDrain':
        if (!this.csIds.has(change.csId)) throw new FsError('ENOENT', `chunkserver ${change.csId}`);
        if (change.drain !== 0) this.drainCsIds.add(change.csId);
        else this.drainCsIds.delete(change.csId);
        return {};
      default: return assertNever(change, 'change kind');
    }
  }

  private setClusterId(clusterId: string): void {
    if (clusterId === '' || Buffer.byteLength(clusterId) > CLUSTER_ID_MAX_BYTES) {
      throw new FsError('EINVAL', `cluster id "${clusterId}"`);
    }
    if (this.clusterId !== '' && this.clusterId !== clusterId) {
      throw new FsError('EINVAL', `cluster id ${clusterId} is not this file system's ` +
        `(${this.clusterId}): a changelog of another cluster`);
    }
    this.clusterId = clusterId;
  }

  private create(change: ChangeOf<'create'>): Node {
    if (change.inode > INODE_MAX) throw new FsError('ENOSPC', 'inode numbers exhausted');
    assert(change.inode >= this.nextInode, `inode ${change.inode} was never handed out`);
    const node = this.namespace.create(change);
    this.nextInode = change.inode + 1;
    return node;
  }

  private truncate(change: ChangeOf<'truncate'>): Node {
    const file = this.namespace.file(change.inode);
    if (change.cutChunkId !== 0) {
      const index = Math.floor(change.length / CHUNK_SIZE_BYTES);
      const chunk = this.chunks.live(change.cutChunkId);
      if (file.chunks.get(index) !== change.cutChunkId || chunk === undefined) {
        throw new FsError('EINVAL', `chunk ${change.cutChunkId} is not at index ${index}`);
      }
      if (change.cutVersion <= chunk.version) throw new FsError('EINVAL', 'cut version is old');
    }
    this.release(this.namespace.truncate(change.inode, change.length, change.timeMs));
    if (change.cutChunkId !== 0) this.chunks.setVersion(change.cutChunkId, change.cutVersion);
    return file;
  }

  private writeChunk(change: ChangeOf<'writeChunk'>): Node {
    const file = this.namespace.file(change.inode);
    const current = file.chunks.get(change.chunkIndex);
    if (current === undefined) {
      assert(change.chunkId < this.chunkIdLimit, `chunk id ${change.chunkId} was reserved`);
      assert(this.chunks.get(change.chunkId) === undefined, `chunk id ${change.chunkId} is new`);
      this.namespace.setChunk(change.inode, change.chunkIndex, change.chunkId);
      this.chunks.add(change.chunkId, change.version);
    } else {
      assert(current === change.chunkId,
        `chunk ${change.chunkId} is at index ${change.chunkIndex}`);
      this.chunks.setVersion(change.chunkId, change.version);
    }
    return file;
  }

  private release(chunkIds: number[]): void {
    for (const id of chunkIds) {
      const chunk = this.chunks.unref(id);
      if (chunk !== null && this.onChunkFreed !== null) this.onChunkFreed(chunk);
    }
  }
}
