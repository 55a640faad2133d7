// The chunk files held open, at most OPEN_FILES_MAX. Least recently used idle files are closed to
// make room; when every open file is in use, an opener waits for one to go idle. A file is in use
// from `use()` until its work settles, so it is never closed under a read or a write, and a chunk
// is reopened only once its previous handle has finished closing (one writer of its header).
import { assert } from '@antlerfs/protocol';
import type { ChunkFile } from './chunk-file.ts';

interface Slot {
  opening: Promise<ChunkFile>;
  /** The file once opened (the common case skips awaiting `opening`). */
  file: ChunkFile | null;
  users: number;
}

export class OpenFileCache {
  private readonly filesMax: number;
  /** Map order is recency order: the first idle slot is the least recently used. */
  private readonly slots = new Map<number, Slot>();
  /** Handles being closed (header brought up to date), by chunk. */
  private readonly closing = new Map<number, Promise<void>>();
  private waiters: (() => void)[] = [];

  constructor(filesMax: number) {
    assert(Number.isInteger(filesMax) && filesMax >= 1, `OPEN_FILES_MAX ${filesMax}`);
    this.filesMax = filesMax;
  }

  /** Files open or still closing (what counts against the bound). */
  get openCount(): number {
    return this.slots.size + this.closing.size;
  }

  /** Runs `work` on the chunk's open file, opening it with `open` if it is not open. */
  async use<T>(
    chunkId: number, open: () => Promise<ChunkFile>, work: (file: ChunkFile) => Promise<T>,
  ): Promise<T> {
    // An open file (the usual case on the data path) is taken without waiting on anything.
    const cached = this.slots.get(chunkId);
    const slot = cached !== undefined && cached.file !== null
      ? this.reuse(chunkId, cached) : await this.takeSlot(chunkId, open);
    try {
      const file = slot.file ?? await slot.opening;
      return await work(file);
    } finally {
      slot.users--;
      assert(slot.users >= 0, 'file users never negative');
      if (slot.users === 0) this.wakeAll();
    }
  }

  /**
   * The chunk's slot with one more user (counted before any await, so it cannot be closed
   * under the caller). Open and closing files together stay within the bound.
   */
  private async takeSlot(chunkId: number, open: () => Promise<ChunkFile>): Promise<Slot> {
    // Each pass returns, or waits for a close or for a user to finish: bounded by those.
    for (;;) {
      const slot = this.slots.get(chunkId);
      if (slot !== undefined) return this.reuse(chunkId, slot);
      const previous = this.closing.get(chunkId);
      if (previous !== undefined) {
        await previous;
        continue;
      }
      if (this.slots.size + this.closing.size < this.filesMax) return this.openSlot(chunkId, open);
      const victim = this.leastRecentIdle();
      if (victim === null) {
        await new Promise<void>((resolve) => this.waiters.push(resolve));
        continue;
      }
      const victimSlot = this.slots.get(victim)!;
      this.slots.delete(victim);
      await this.closeSlot(victim, victimSlot);
    }
  }

  /** One more user of a slot in the map, which becomes the most recently used. */
  private reuse(chunkId: number, slot: Slot): Slot {
    this.slots.delete(chunkId);
    this.slots.set(chunkId, slot);
    slot.users++;
    return slot;
  }

  private openSlot(chunkId: number, open: () => Promise<ChunkFile>): Slot {
    const opening = open();
    const slot: Slot = { opening, file: null, users: 1 };
    this.slots.set(chunkId, slot);
    opening.then((file) => { slot.file = file; }, () => {
      if (this.slots.get(chunkId) === slot) this.slots.delete(chunkId);
      this.wakeAll();
    });
    return slot;
  }

  private leastRecentIdle(): number | null {
    for (const [chunkId, slot] of this.slots) {
      if (slot.users === 0) return chunkId;
    }
    return null;
  }

  /** Closes the chunk's file if open (the caller holds the chunk exclusively). */
  async drop(chunkId: number): Promise<void> {
    const slot = this.slots.get(chunkId);
    if (slot === undefined) return;
    assert(slot.users === 0, `chunk ${chunkId} file dropped while in use`);
    this.slots.delete(chunkId);
    this.wakeAll();
    await this.closeSlot(chunkId, slot);
  }

  /** Closes a slot's file (already out of the map), tracked so the chunk is not reopened early. */
  private async closeSlot(chunkId: number, slot: Slot): Promise<void> {
    const closed = slot.opening.then((f) => f.close(), () => undefined);
    const tracked = closed.finally(() => {
      if (this.closing.get(chunkId) === tracked) this.closing.delete(chunkId);
      this.wakeAll();
    });
    this.closing.set(chunkId, tracked);
    await tracked;
  }

  async closeAll(): Promise<void> {
    const slots = [...this.slots];
    this.slots.clear();
    await Promise.all(slots.map(([chunkId, slot]) => this.closeSlot(chunkId, slot)));
    await Promise.all([...this.closing.values()]);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Every waiter re-checks (few wait at once; each takes what it needs or waits again). */
  private wakeAll(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
