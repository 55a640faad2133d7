// A first-come-first-served reader/writer lock for async work. The chunk store keeps one per
// chunk (reads and writes shared; create, version change, truncate, delete exclusive) and one
// per block being touched (reads shared; writes exclusive), so writes to one block apply in the
// order they arrived and a read never sees a block half written.
import { assert } from '@antlerfs/protocol';

type Mode = 'shared' | 'exclusive';

interface Waiter {
  mode: Mode;
  grant: () => void;
}

export class RwLock {
  private sharedHolders = 0;
  private exclusiveHeld = false;
  private readonly waiters: Waiter[] = [];

  /** No holder and no waiter: the owner may drop this lock. */
  get idle(): boolean {
    return this.sharedHolders === 0 && !this.exclusiveHeld && this.waiters.length === 0;
  }

  /** Runs `work` holding the lock in `mode`; releases it however `work` ends. */
  async with<T>(mode: Mode, work: () => Promise<T>): Promise<T> {
    await this.acquire(mode);
    try {
      return await work();
    } finally {
      this.release(mode);
    }
  }

  /** Takes the lock at once if nobody holds it against `mode` or waits; false otherwise. */
  tryAcquire(mode: Mode): boolean {
    // Queue behind earlier waiters even when compatible, so a writer is never starved.
    if (this.waiters.length > 0 || !this.compatible(mode)) return false;
    this.take(mode);
    return true;
  }

  acquire(mode: Mode): Promise<void> {
    if (this.tryAcquire(mode)) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ mode, grant: () => { this.take(mode); resolve(); } });
    });
  }

  release(mode: Mode): void {
    if (mode === 'exclusive') {
      assert(this.exclusiveHeld, 'release of an exclusive lock held');
      this.exclusiveHeld = false;
    } else {
      assert(this.sharedHolders > 0, 'release of a shared lock held');
      this.sharedHolders--;
    }
    // Grant waiters in order while they are compatible with what is held.
    while (this.waiters.length > 0 && this.compatible(this.waiters[0]!.mode)) {
      this.waiters.shift()!.grant();
    }
  }

  private compatible(mode: Mode): boolean {
    if (this.exclusiveHeld) return false;
    return mode === 'shared' || this.sharedHolders === 0;
  }

  private take(mode: Mode): void {
    if (mode === 'exclusive') {
      assert(!this.exclusiveHeld && this.sharedHolders === 0, 'exclusive lock is free');
      this.exclusiveHeld = true;
    } else {
      assert(!this.exclusiveHeld, 'no exclusive holder');
      this.sharedHolders++;
    }
  }
}
