// The chunk registry: chunk id -> version, file references, copies on chunkservers (valid or
// not) and the write lease. Versions and references are metadata (dumped, changed only through
// the changelog); copies, leases and the deleting state are runtime, rebuilt from chunkserver
// reports. Invariant: a chunk id is never reused, and a chunk with no reference is deleting.
import { assert } from '@antlerfs/protocol';

/** The lease holder of chunk operations the master runs itself (truncation cuts). */
export const MASTER_LEASE_SESSION = 0xffffffff;

export interface Copy {
  readonly csId: number;
  /** False once the copy failed a checksum, missed a version bump or was reported bad. */
  valid: boolean;
  /** Stored length the server reported (registration, replication), -1 when unknown. */
  lengthBytes: number;
  /** The chunk version lengthBytes was reported at (a later write makes it stale). */
  lengthVersion: number;
}

export interface Chunk {
  readonly id: number;
  version: number;
  /** Names (file chunk slots) referring to this chunk. */
  refs: number;
  readonly copies: Map<number, Copy>;
  /** Session holding the write lease, 0 for none. */
  leaseSession: number;
  /** Version being set on the chunkservers right now (a bump not yet logged), 0 for none. */
  pendingVersion: number;
  /** No file refers to it any more; its copies are being deleted. */
  deleting: boolean;
}

export class ChunkRegistry {
  private readonly chunks = new Map<number, Chunk>();
  /** csId -> ids of the chunks it holds a copy of. */
  private readonly byServer = new Map<number, Set<number>>();
  private deletingCount = 0;

  /** Chunks referred to by files (deleting ones excluded). */
  get liveCount(): number {
    return this.chunks.size - this.deletingCount;
  }

  get deletingTotal(): number {
    return this.deletingCount;
  }

  get(id: number): Chunk | undefined {
    return this.chunks.get(id);
  }

  /** A chunk a file refers to; undefined for unknown and deleting chunks. */
  live(id: number): Chunk | undefined {
    const chunk = this.chunks.get(id);
    return chunk === undefined || chunk.deleting ? undefined : chunk;
  }

  values(): IterableIterator<Chunk> {
    return this.chunks.values();
  }

  add(id: number, version: number): Chunk {
    assert(id > 0 && Number.isSafeInteger(id), `chunk id ${id} valid`);
    assert(!this.chunks.has(id), `chunk id ${id} is never reused`);
    assert(version > 0, `chunk ${id} version ${version} positive`);
    const chunk: Chunk = {
      id, version, refs: 1, copies: new Map(), leaseSession: 0, pendingVersion: 0, deleting: false,
    };
    this.chunks.set(id, chunk);
    return chunk;
  }

  setVersion(id: number, version: number): void {
    const chunk = this.live(id);
    assert(chunk !== undefined, `chunk ${id} exists for a version change`);
    assert(version > chunk.version, `chunk ${id} version ${chunk.version} -> ${version} grows`);
    chunk.version = version;
  }

  /** Drops one reference; returns the chunk when that was the last (it is now deleting). */
  unref(id: number): Chunk | null {
    const chunk = this.live(id);
    assert(chunk !== undefined, `chunk ${id} exists to be released`);
    assert(chunk.refs > 0, `chunk ${id} has references`);
    chunk.refs--;
    if (chunk.refs > 0) return null;
    chunk.deleting = true;
    chunk.leaseSession = 0;
    this.deletingCount++;
    this.forgetIfDone(chunk); // no copy known (replay, or all lost): nothing to delete
    return chunk;
  }

  /** Adds or updates a copy; lengthBytes -1 keeps what is known. */
  addCopy(id: number, csId: number, valid: boolean, lengthBytes = -1): void {
    const chunk = this.chunks.get(id);
    assert(chunk !== undefined, `chunk ${id} exists for a copy`);
    const copy = chunk.copies.get(csId);
    if (copy !== undefined) {
      copy.valid = valid;
      if (lengthBytes >= 0) {
        copy.lengthBytes = lengthBytes;
        copy.lengthVersion = chunk.version;
      }
      return;
    }
    chunk.copies.set(csId, { csId, valid, lengthBytes, lengthVersion: chunk.version });
    let set = this.byServer.get(csId);
    if (set === undefined) this.byServer.set(csId, (set = new Set()));
    set.add(id);
  }

  removeCopy(id: number, csId: number): void {
    const chunk = this.chunks.get(id);
    if (chunk === undefined || !chunk.copies.delete(csId)) return;
    this.byServer.get(csId)?.delete(id);
    this.forgetIfDone(chunk);
  }

  /** A chunkserver is lost: none of its copies counts any more. */
  dropServer(csId: number): number {
    const ids = this.byServer.get(csId);
    if (ids === undefined) return 0;
    this.byServer.delete(csId);
    for (const id of ids) {
      const chunk = this.chunks.get(id);
      assert(chunk !== undefined, `chunk ${id} of server ${csId} exists`);
      chunk.copies.delete(csId);
      this.forgetIfDone(chunk);
    }
    return ids.size;
  }

  copiesOn(csId: number): number {
    return this.byServer.get(csId)?.size ?? 0;
  }

  /** csIds of the valid copies of a chunk. */
  validCopies(chunk: Chunk): number[] {
    const out: number[] = [];
    for (const copy of chunk.copies.values()) if (copy.valid) out.push(copy.csId);
    return out;
  }

  /** Sets the reference counts from the files after a dump load; returns a reason or null. */
  restoreRefs(fileChunkIds: Iterable<number>): string | null {
    for (const id of fileChunkIds) {
      const chunk = this.chunks.get(id);
      if (chunk === undefined) return `a file refers to unknown chunk ${id}`;
      chunk.refs++;
    }
    for (const chunk of this.chunks.values()) {
      chunk.refs--; // add() counted one
      if (chunk.refs <= 0) return `chunk ${chunk.id} has no file`;
    }
    return null;
  }

  private forgetIfDone(chunk: Chunk): void {
    if (!chunk.deleting || chunk.copies.size > 0) return;
    this.chunks.delete(chunk.id);
    this.deletingCount--;
    assert(this.deletingCount >= 0, 'deleting count stays non-negative');
  }
}
