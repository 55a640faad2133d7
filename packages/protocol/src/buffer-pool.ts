// Buffers given back for reuse, by exact size. A buffer allocated per request (a socket read, a
// 1 MiB read reply, a write's copy) is memory outside the V8 heap, and V8 starts a full
// collection per 64 MB of it; it is also fresh pages for the kernel to fault in. Whoever takes
// a buffer gives it back only once nothing reads it; a buffer never given back is left to the
// garbage collector, so a missed give-back costs speed, never bytes.
import { assert } from './assert.ts';

export interface BufferPoolLimits {
  /** Idle buffers kept per size (also keeps the check of a give-back cheap). */
  perSizeMax: number;
  /** Idle bytes kept over all sizes. */
  bytesMax?: number;
}

export class BufferPool {
  private readonly limits: BufferPoolLimits;
  private readonly idle = new Map<number, Buffer[]>();
  private idleBytes = 0;
  /** Buffers taken from those given back, and those that had to be allocated. */
  readonly counters = { reused: 0, allocated: 0 };

  constructor(limits: BufferPoolLimits) {
    assert(limits.perSizeMax >= 0, 'perSizeMax >= 0');
    this.limits = limits;
  }

  /** A buffer of exactly `bytes`: one given back if there is one, else a new one. */
  take(bytes: number): Buffer {
    const kept = this.idle.get(bytes)?.pop();
    if (kept !== undefined) {
      this.idleBytes -= bytes;
      this.counters.reused++;
      return kept;
    }
    this.counters.allocated++;
    return Buffer.allocUnsafe(bytes);
  }

  /** Gives back a whole buffer (not a view) that nobody reads any more; kept within limits. */
  give(buffer: Buffer): void {
    let list = this.idle.get(buffer.length);
    if (list === undefined) this.idle.set(buffer.length, list = []);
    assert(!list.includes(buffer), 'a buffer is given back once');
    if (list.length >= this.limits.perSizeMax) return;
    if (this.idleBytes + buffer.length > (this.limits.bytesMax ?? Infinity)) return;
    list.push(buffer);
    this.idleBytes += buffer.length;
  }

  /** Buffers waiting to be taken again. */
  get idleCount(): number {
    let n = 0;
    for (const list of this.idle.values()) n += list.length;
    return n;
  }
}
