// Synchronous mode (SYNC_METALOGGERS = N > 0): a change counts as durable only once N
// metaloggers have acknowledged a version at or above it, so losing the master's whole disk
// loses nothing a client was told. A change waits at most SYNC_TIMEOUT_MS for that (then
// EAGAIN: it is applied and on this disk, and a retrying client is answered from its record);
// with fewer than N metaloggers streaming, client changes wait as long before they are even
// applied. N = 0 makes every wait resolve at once.
import { FsError, assert } from '@antlerfs/protocol';

/** What the sync state knows of one metalogger: the version it has on its disk. */
export interface AckSource {
  ackedVersion: number;
}

interface Waiter {
  version: number;
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class MetaloggerSync {
  private requiredCount: number;
  timeoutMs: number;
  private readonly streaming = new Set<AckSource>();
  /** Highest version held by `required` metaloggers at once (never goes down). */
  private synced = 0;
  /** Sorted by version. Bounded by the requests in flight: each waits for one version. */
  private waiters: Waiter[] = [];
  private readyWaiters: Waiter[] = [];

  constructor(opts: { required: number; timeoutMs: number }) {
    assert(opts.required >= 0 && opts.timeoutMs > 0, 'sync settings in range');
    this.requiredCount = opts.required;
    this.timeoutMs = opts.timeoutMs;
  }

  get required(): number {
    return this.requiredCount;
  }

  get syncedVersion(): number {
    return this.synced;
  }

  get streamingCount(): number {
    return this.streaming.size;
  }

  /** A SIGHUP reload may change N; waits that are now satisfied end. */
  setRequired(required: number): void {
    assert(required >= 0, 'SYNC_METALOGGERS >= 0');
    this.requiredCount = required;
    this.recompute();
    this.wakeReady();
  }

  /** A metalogger starts streaming; what it already holds counts as acknowledged. */
  started(source: AckSource): void {
    this.streaming.add(source);
    this.recompute();
    this.wakeReady();
  }

  /** A metalogger's ackedVersion went up. */
  acked(source: AckSource): void {
    assert(this.streaming.has(source), 'acks come from streaming metaloggers');
    this.recompute();
  }

  /** A metalogger left; versions it acknowledged stay counted (they are on its disk). */
  ended(source: AckSource): void {
    this.streaming.delete(source);
  }

  /** Resolves once `required` metaloggers hold `version`; EAGAIN after SYNC_TIMEOUT_MS. */
  whenAcked(version: number): Promise<void> {
    if (this.requiredCount === 0 || version <= this.synced) return Promise.resolve();
    return this.wait(this.waiters, version, () => new FsError('EAGAIN',
      `version ${version} not acknowledged by ${this.requiredCount} metalogger(s) within ` +
      `${this.timeoutMs} ms (SYNC_METALOGGERS)`));
  }

  /** Resolves once `required` metaloggers are streaming; EAGAIN after SYNC_TIMEOUT_MS. */
  whenReady(): Promise<void> {
    if (this.streaming.size >= this.requiredCount) return Promise.resolve();
    return this.wait(this.readyWaiters, 0, () => new FsError('EAGAIN',
      `${this.streaming.size} of ${this.requiredCount} metalogger(s) connected for ` +
      `${this.timeoutMs} ms (SYNC_METALOGGERS)`));
  }

  /** Ends every wait with ENOTCONN (the master stops). */
  close(): void {
    for (const w of [...this.waiters, ...this.readyWaiters]) {
      clearTimeout(w.timer);
      w.reject(new FsError('ENOTCONN', 'the master is stopping'));
    }
    this.waiters = [];
    this.readyWaiters = [];
  }

  private wait(queue: Waiter[], version: number, timeoutError: () => Error): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        version, resolve, reject,
        timer: setTimeout(() => {
          const i = queue.indexOf(waiter);
          if (i >= 0) queue.splice(i, 1);
          reject(timeoutError());
        }, this.timeoutMs),
      };
      // Versions mostly arrive in order: insert from the end.
      let i = queue.length;
      while (i > 0 && queue[i - 1]!.version > version) i--;
      queue.splice(i, 0, waiter);
    });
  }

  private recompute(): void {
    if (this.requiredCount === 0) {
      this.release(this.waiters, Number.MAX_SAFE_INTEGER);
      return;
    }
    if (this.streaming.size < this.requiredCount) return;
    const versions = [...this.streaming].map((s) => s.ackedVersion).sort((a, b) => b - a);
    const held = versions[this.requiredCount - 1]!;
    if (held > this.synced) this.synced = held;
    this.release(this.waiters, this.synced);
  }

  private wakeReady(): void {
    if (this.streaming.size >= this.requiredCount) this.release(this.readyWaiters, 0);
  }

  /** Resolves the waiters for versions up to `version` (the queue is sorted). */
  private release(queue: Waiter[], version: number): void {
    let n = 0;
    while (n < queue.length && queue[n]!.version <= version) n++;
    if (n === 0) return;
    for (const w of queue.splice(0, n)) {
      clearTimeout(w.timer);
      w.resolve();
    }
  }
}
