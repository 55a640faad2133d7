// Chunks made ahead of the writes that need them: for each goal in use, a few new chunks
// already created (empty, version 1) on the servers placement chose, so the first write into a
// hole of a file takes one instead of waiting for MATOCS_CREATE on every server (a round trip
// to each, then the changelog write, one after the other). A small file's write is then one
// master round trip shorter in time. A pooled chunk belongs to no file and is in no change
// record until a write takes it; the master forgets the pool when it stops, and the servers'
// next registration reports its chunks as unknown, which deletes them.
//
// A pooled chunk is handed out only while each of its servers is still online on the link it
// was made through, fully registered, not draining and not full: a server that went away and
// came back may have lost the (not yet fsynced) empty file. Anything else is deleted (stray),
// at the latest by the next tick, so a server being drained is soon rid of them too.
//
// A CREATE for writing may be given a pooled chunk as a promise (promise): the client sends its
// first data there at once and names it in WRITE_CHUNK, which takes that chunk (redeem) while
// the data is on its way, instead of the two waiting for each other; a small write names it
// only in its WRITE_END, which takes it with the length (redeemed at the end: one request and
// one changelog write for both). A promise is in memory
// only, bound to one session, file and goal. It takes no refill unless its session redeemed its
// last promise (a run of creates that write nothing empties the pool instead of making chunks
// for nothing; one that writes gets the refill early, while its data is on its way, not at the
// redeem, where it would compete with the next file's writes). One not redeemed within
// PROMISE_TTL_MS, or whose session ended, is deleted, never pooled again: it may hold data.
import {
  CHUNK_SIZE_BYTES, GOAL_MAX, MATOCS_CREATE, Status, assert, type Link, type Logger,
  type StatusCode,
} from '@antlerfs/protocol';
import type { Chunkservers } from './chunkservers.ts';
import type { DeletionQueue } from './deletion-queue.ts';
import { placeCopies } from './placement.ts';

/** The version a new chunk starts at (as WriteFlow's own new chunks). */
export const POOLED_CHUNK_VERSION = 1;
/** Creations of one goal's pool on their way at once. */
const MAKING_PER_GOAL_MAX = 2;
/** After a failed creation, that goal's pool waits this long before it tries again. */
const RETRY_AFTER_MS = 1000;
/** A goal's pool nobody took from for this long is emptied (its chunks deleted). */
export const POOL_IDLE_MS = 60_000;
/** A promise not redeemed for this long lapses (its chunk deleted). */
export const PROMISE_TTL_MS = 10_000;
/** Promises held at once, all sessions together. */
const PROMISES_MAX = 4096;
const TICK_MS = 1000;

export interface PooledChunk {
  chunkId: number;
  /** Servers holding an empty copy, in placement order. */
  csIds: number[];
}

interface Entry extends PooledChunk {
  /** Each server's link at creation: the copy is trusted only while that link lives. */
  links: Link[];
}

/** A chunk promised to a session for chunk 0 of a file it created. */
interface Promised {
  entry: Entry;
  goal: number;
  holderId: number;
  inode: number;
  expiresAtMs: number;
}

interface GoalPool {
  entries: Entry[];
  making: number;
  lastTakenMs: number;
  retryAtMs: number;
}

export interface ChunkPoolOptions {
  /** Chunks kept ready per goal in use; 0 turns the pool off (see setSize). */
  size: number;
  servers: Chunkservers;
  order: (csId: number, chunkId: number, version: number) => Promise<StatusCode>;
  allocateChunkId: () => Promise<number>;
  deletions: Pick<DeletionQueue, 'enqueueStray'>;
  log?: Logger;
  random?: () => number;
  nowMs?: () => number;
}

export class ChunkPool {
  readonly counters = {
    taken: 0, missed: 0, made: 0, discarded: 0, failed: 0, promised: 0, redeemed: 0, lapsed: 0,
    /** Of `redeemed`, those taken by WRITE_END (no WRITE_CHUNK asked for them). */
    redeemedAtEnd: 0,
  };
  private readonly opts: ChunkPoolOptions;
  private sizeWanted: number;
  private readonly nowMs: () => number;
  private readonly pools = new Map<number, GoalPool>();
  /** Ids of every chunk pooled, promised or being made: a chunk list naming one keeps it. */
  private readonly ids = new Set<number>();
  private readonly promised = new Map<number, Promised>();
  /** Holders whose last promise was redeemed: their next promise refills the pool. */
  private readonly redeemingHolders = new Set<number>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(opts: ChunkPoolOptions) {
    this.opts = opts;
    this.nowMs = opts.nowMs ?? Date.now;
    this.sizeWanted = 0;
    this.setSize(opts.size);
  }

  /** A new size (a config reload); chunks past it are deleted at once. */
  setSize(size: number): void {
    assert(Number.isInteger(size) && size >= 0, `pool size ${size}`);
    this.sizeWanted = size;
    for (const pool of this.pools.values()) {
      for (const entry of pool.entries.splice(size)) this.discard(entry);
    }
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  /** Deletes every pooled chunk and makes no more. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const pool of this.pools.values()) this.empty(pool);
    for (const chunkId of [...this.promised.keys()]) this.lapse(chunkId);
  }

  /** Whether `chunkId` is pooled, promised or being made (a server listing it keeps it). */
  holds(chunkId: number): boolean {
    return this.ids.has(chunkId);
  }

  /** Chunks ready now, all goals together. */
  get size(): number {
    let n = 0;
    for (const pool of this.pools.values()) n += pool.entries.length;
    return n;
  }

  /**
   * A ready chunk for a new chunk of a file of `goal` whose servers are all still usable, or
   * null; the pool of that goal is topped up either way. The caller logs the chunk as the
   * file's (version POOLED_CHUNK_VERSION) before any await, so it is never in two places.
   */
  take(goal: number): PooledChunk | null {
    if (this.sizeWanted === 0 || this.stopped) return null;
    assert(Number.isInteger(goal) && goal >= 1 && goal <= GOAL_MAX, `goal ${goal}`);
    const pool = this.poolOf(goal);
    const found = this.firstUsable(pool);
    if (found === null) {
      this.counters.missed++;
    } else {
      this.counters.taken++;
      this.ids.delete(found.chunkId);
    }
    this.refill(goal, pool);
    return found === null ? null : { chunkId: found.chunkId, csIds: found.csIds };
  }

  /**
   * A ready chunk promised to holder `holderId` for chunk 0 of new file `inode` of `goal`, or
   * null (none ready, or too many promises out). Refilled now only for a holder whose last
   * promise was redeemed; otherwise redeem() refills.
   */
  promise(goal: number, holderId: number, inode: number): PooledChunk | null {
    if (this.sizeWanted === 0 || this.stopped || this.promised.size >= PROMISES_MAX) return null;
    assert(Number.isInteger(goal) && goal >= 1 && goal <= GOAL_MAX, `goal ${goal}`);
    const pool = this.pools.get(goal);
    const found = pool === undefined ? null : this.firstUsable(pool);
    if (found === null) return null;
    this.counters.promised++;
    this.promised.set(found.chunkId, {
      entry: found, goal, holderId, inode, expiresAtMs: this.nowMs() + PROMISE_TTL_MS,
    });
    if (this.redeemingHolders.has(holderId)) this.refill(goal, pool!);
    return { chunkId: found.chunkId, csIds: found.csIds };
  }

  /**
   * The chunk promised to `holderId` as `chunkId`, taken for chunk 0 of `inode` (of `goal`) if
   * the promise still holds (the caller logs it before any await, as with take()); null if it
   * does not. A promise of this holder that does not hold is deleted; others are left alone.
   * `atEnd`: WRITE_END takes it (counted apart).
   */
  redeem(
    chunkId: number, holderId: number, inode: number, goal: number, atEnd = false,
  ): PooledChunk | null {
    const p = this.promised.get(chunkId);
    if (p === undefined || p.holderId !== holderId) return null;
    const holds = p.inode === inode && p.goal === goal && this.nowMs() < p.expiresAtMs &&
      this.usable(p.entry);
    if (!holds) {
      this.lapse(chunkId);
      return null;
    }
    this.promised.delete(chunkId);
    this.ids.delete(chunkId);
    this.counters.redeemed++;
    if (atEnd) this.counters.redeemedAtEnd++;
    this.redeemingHolders.add(holderId);
    const pool = this.poolOf(goal);
    pool.lastTakenMs = this.nowMs();
    this.refill(goal, pool);
    return { chunkId, csIds: p.entry.csIds };
  }

  /** Deletes `holderId`'s promise `chunkId` (its chunk 0 got another chunk), if it is one. */
  release(chunkId: number, holderId: number): void {
    if (this.promised.get(chunkId)?.holderId === holderId) this.lapse(chunkId);
  }

  /** Deletes every promise of `holderId` (its session ended). */
  forgetHolder(holderId: number): void {
    for (const [chunkId, p] of this.promised) if (p.holderId === holderId) this.lapse(chunkId);
    this.redeemingHolders.delete(holderId);
  }

  get promisedCount(): number {
    return this.promised.size;
  }

  /** A promise that will not be redeemed: its chunk is deleted (it may hold data). */
  private lapse(chunkId: number): void {
    const p = this.promised.get(chunkId);
    assert(p !== undefined, `chunk ${chunkId} is promised`);
    this.promised.delete(chunkId);
    this.redeemingHolders.delete(p.holderId);
    this.counters.lapsed++;
    this.discard(p.entry);
  }

  /** The oldest ready entry whose servers are all usable (out of the pool); those before it go. */
  private firstUsable(pool: GoalPool): Entry | null {
    pool.lastTakenMs = this.nowMs();
    while (pool.entries.length > 0) {
      const entry = pool.entries.shift()!;
      if (this.usable(entry)) return entry;
      this.discard(entry);
    }
    return null;
  }

  private poolOf(goal: number): GoalPool {
    let pool = this.pools.get(goal);
    if (pool === undefined) {
      pool = { entries: [], making: 0, lastTakenMs: this.nowMs(), retryAtMs: 0 };
      this.pools.set(goal, pool);
    }
    return pool;
  }

  private usable(entry: Entry): boolean {
    const { servers } = this.opts;
    return entry.csIds.every((csId, i) => {
      const cs = servers.get(csId);
      return cs !== undefined && cs.link === entry.links[i] && !cs.link.closed &&
        servers.takesNewChunks(cs) && cs.freeBytes >= CHUNK_SIZE_BYTES;
    });
  }

  private refill(goal: number, pool: GoalPool): void {
    while (!this.stopped && pool.entries.length + pool.making < this.sizeWanted &&
      pool.making < MAKING_PER_GOAL_MAX && this.nowMs() >= pool.retryAtMs) {
      pool.making++;
      void this.make(goal, pool).catch((err: unknown) => {
        this.counters.failed++;
        pool.retryAtMs = this.nowMs() + RETRY_AFTER_MS;
        this.opts.log?.warn('chunk pool: a chunk could not be made ahead', {
          goal, error: (err as Error).message,
        });
      }).finally(() => {
        pool.making--;
        if (this.pools.get(goal) === pool) this.refill(goal, pool);
      });
    }
  }

  /** One chunk for `goal`'s pool: placed, created on every server, then ready. */
  private async make(goal: number, pool: GoalPool): Promise<void> {
    const chunkId = await this.opts.allocateChunkId();
    const placed = placeCopies(goal, this.opts.servers.placementCandidates(), this.opts.random);
    if ('status' in placed) throw new Error(`no placement: ${placed.status}`);
    const links = placed.csIds.map((csId) => this.opts.servers.get(csId)!.link!);
    // Listed before the orders go out: a chunk list sent meanwhile must not delete it.
    this.ids.add(chunkId);
    const statuses = await Promise.all(placed.csIds.map(
      (csId) => this.opts.order(csId, chunkId, POOLED_CHUNK_VERSION)));
    const entry: Entry = { chunkId, csIds: placed.csIds, links };
    const made = statuses.every((s) => s === Status.OK);
    const unwanted = this.stopped || this.pools.get(goal) !== pool ||
      pool.entries.length >= this.sizeWanted;
    if (!made || unwanted) {
      this.discard(entry, placed.csIds.filter((_, i) => statuses[i] === Status.OK));
      if (!made) throw new Error(`create answered ${statuses.join(',')}`);
      return;
    }
    this.counters.made++;
    pool.entries.push(entry);
  }

  /** Forgets a chunk and deletes its copies on `csIds` (all of its servers by default). */
  private discard(entry: Entry, csIds: number[] = entry.csIds): void {
    this.ids.delete(entry.chunkId);
    this.counters.discarded++;
    for (const csId of csIds) {
      this.opts.deletions.enqueueStray(entry.chunkId, POOLED_CHUNK_VERSION, csId);
    }
  }

  private empty(pool: GoalPool): void {
    for (const entry of pool.entries) this.discard(entry);
    pool.entries = [];
  }

  /** The periodic checks (every TICK_MS): unusable chunks, idle pools, lapsed promises. */
  tick(): void {
    const now = this.nowMs();
    for (const [chunkId, p] of this.promised) if (now >= p.expiresAtMs) this.lapse(chunkId);
    for (const [goal, pool] of this.pools) {
      if (now - pool.lastTakenMs >= POOL_IDLE_MS && pool.making === 0) {
        this.empty(pool);
        this.pools.delete(goal);
        continue;
      }
      const kept = pool.entries.filter((e) => this.usable(e));
      if (kept.length === pool.entries.length) continue;
      for (const e of pool.entries) if (!kept.includes(e)) this.discard(e);
      pool.entries = kept;
    }
  }
}

/** The order a pool sends: MATOCS_CREATE through the master's chunkserver links. */
export function createOrder(
  links: { order: (csId: number, def: typeof MATOCS_CREATE, body: { chunkId: number;
    version: number }) => Promise<StatusCode> },
): ChunkPoolOptions['order'] {
  return (csId, chunkId, version) => links.order(csId, MATOCS_CREATE, { chunkId, version });
}
