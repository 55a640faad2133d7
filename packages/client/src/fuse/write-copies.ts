// Buffers for the data of small WRITEs, reused: such data is copied out of the request buffer
// (which the device reads the next request into) and kept by the file handle until every copy
// acknowledged it. A fresh buffer per write is external memory for V8 and fresh pages for the
// kernel; a 64 KiB write stream through the mount made a gigabyte of each per GiB written. A
// copy goes back once the handle says so (never after a failed write: a send may still read it).
import { BufferPool } from '@antlerfs/protocol';

/** The smallest size class: below it a write's data is copied into a buffer of this size. */
export const WRITE_COPY_MIN_BYTES = 4096;
/**
 * Idle buffers kept per size class: enough for a stream of writes of one size in flight
 * between acknowledgements, and few enough that checking a give-back is cheap (at most 16 MiB
 * over the classes up to 256 KiB).
 */
export const WRITE_COPIES_IDLE_PER_CLASS = 64;

export class WriteCopies {
  /** Buffers by size class (powers of two from WRITE_COPY_MIN_BYTES). */
  private readonly pool = new BufferPool({ perSizeMax: WRITE_COPIES_IDLE_PER_CLASS });

  /** Copies made into a buffer given back before (counters). */
  get reused(): number {
    return this.pool.counters.reused;
  }

  get idleCount(): number {
    return this.pool.idleCount;
  }

  /** `data` copied into a buffer of its size class; `back` gives that buffer back. */
  copy(data: Buffer): { copy: Buffer; back: () => void } {
    const buffer = this.pool.take(sizeClass(data.length));
    data.copy(buffer);
    return { copy: buffer.subarray(0, data.length), back: () => this.pool.give(buffer) };
  }
}

/** The power of two at or above `bytes`, at least WRITE_COPY_MIN_BYTES. */
export function sizeClass(bytes: number): number {
  let size = WRITE_COPY_MIN_BYTES;
  while (size < bytes) size *= 2;
  return size;
}
