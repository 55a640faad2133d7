// A token bucket that bounds a byte rate (replication bandwidth, scrub speed). Takers may ask for
// more than the bucket holds: the bucket goes into debt and each taker waits until its share has
// accrued, so concurrent takers are served at the rate in the order they asked. A rate of 0 means
// unlimited. The clock and the sleep are injectable so the arithmetic is tested without timing.
import { assert } from '@antlerfs/protocol';

export interface TokenBucketOptions {
  /** Bytes per second; 0 = no limit. */
  bytesPerSecond: number;
  /** Bytes that may accrue while idle (a burst); at least one second's worth by default. */
  burstBytes?: number;
  nowMs?: () => number;
  sleepMs?: (ms: number, wake: AbortSignal) => Promise<void>;
}

/** Sleeps `ms`, or less if `wake` aborts first (or has already). */
export function sleepUntilWoken(ms: number, wake: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (wake.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      wake.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    wake.addEventListener('abort', done);
  });
}

export class TokenBucket {
  readonly bytesPerSecond: number;
  private readonly burstBytes: number;
  private readonly nowMs: () => number;
  private readonly sleepMs: (ms: number, wake: AbortSignal) => Promise<void>;
  /** Bytes available now; negative while takers wait for bytes already promised to them. */
  private tokens: number;
  private lastMs: number;
  private readonly closer = new AbortController();

  constructor(opts: TokenBucketOptions) {
    assert(Number.isSafeInteger(opts.bytesPerSecond) && opts.bytesPerSecond >= 0,
      `rate ${opts.bytesPerSecond} bytes/s`);
    this.bytesPerSecond = opts.bytesPerSecond;
    this.burstBytes = opts.burstBytes ?? opts.bytesPerSecond;
    assert(this.burstBytes >= 0, 'burst is not negative');
    this.nowMs = opts.nowMs ?? Date.now;
    this.sleepMs = opts.sleepMs ?? sleepUntilWoken;
    this.tokens = this.burstBytes;
    this.lastMs = this.nowMs();
  }

  get closed(): boolean {
    return this.closer.signal.aborted;
  }

  /**
   * Takes `bytes`, waiting until they have accrued. Returns false if the bucket was closed
   * (the caller should stop), true otherwise.
   */
  async take(bytes: number): Promise<boolean> {
    assert(Number.isSafeInteger(bytes) && bytes >= 0, `take of ${bytes} bytes`);
    if (this.closed) return false;
    if (this.bytesPerSecond === 0) return true;
    const waitMs = this.reserve(bytes);
    if (waitMs > 0) await this.sleepMs(waitMs, this.closer.signal);
    return !this.closed;
  }

  /** Takes `bytes` from the bucket now (into debt if need be); returns how long to wait. */
  reserve(bytes: number): number {
    const now = this.nowMs();
    const accrued = ((now - this.lastMs) * this.bytesPerSecond) / 1000;
    this.lastMs = now;
    this.tokens = Math.min(this.burstBytes, this.tokens + accrued) - bytes;
    if (this.tokens >= 0) return 0;
    return Math.ceil((-this.tokens * 1000) / this.bytesPerSecond);
  }

  /** Wakes every waiting taker (they return false) and refuses later ones. */
  close(): void {
    this.closer.abort();
  }
}
