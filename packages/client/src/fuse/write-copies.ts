// Buffers for the data of small WRITEs, reused: such data is copied out of the request buffer
// (which the device reads the next request into) and kept by the file handle until every copy
// acknowledged it. A fresh buffer per write is external memory for V8 and fresh pages for the
// kernel; a 64 KiB write stream through the mount made a gigabyte of each per GiB written. A
// copy goes back once the handle says so (never after a failed write: a send may still read it).
import { assert } from '@antlerfs/protocol';

/** The smallest size class: below it a write's data is copied into a buffer of this size. */
export const WRITE_COPY_MIN_BYTES = 4096;
/**
 * Idle buffers kept per size class: enough for a stream of writes of one size in flight
 * between acknowledgements, and few enough that checking a give-back is cheap (at most 16 MiB
 * over the classes up to 256 KiB).
 */
export const WRITE_COPIES_IDLE_PER_CLASS = 64;

export class WriteCopies {
  /** Idle buffers by size (powers of two from WRITE_COPY_MIN_BYTES). */
  private readonly idle = new Map<number, Buffer[]>();
  /** Copies made into a buffer given back before (counters). */
  reused = 0;

  /** `data` copied into a buffer of its size class; `back` gives that buffer back. */
  copy(data: Buffer): { copy: Buffer; back: () => void } {
    const size = sizeClass(data.length);
    const whole = this.idle.get(size)?.pop();
    if (whole !== undefined) this.reused++;
    const buffer = whole ?? Buffer.allocUnsafe(size);
    data.copy(buffer);
    return { copy: buffer.subarray(0, data.length), back: () => this.give(buffer) };
  }

  get idleCount(): number {
    let n = 0;
    for (const list of this.idle.values()) n += list.length;
    return n;
  }

  private give(buffer: Buffer): void {
    let list = this.idle.get(buffer.length);
    if (list === undefined) this.idle.set(buffer.length, list = []);
    assert(!list.includes(buffer), 'a write copy is given back once');
    if (list.length < WRITE_COPIES_IDLE_PER_CLASS) list.push(buffer);
  }
}

/** The power of two at or above `bytes`, at least WRITE_COPY_MIN_BYTES. */
export function sizeClass(bytes: number): number {
  let size = WRITE_COPY_MIN_BYTES;
  while (size < bytes) size *= 2;
  return size;
}
