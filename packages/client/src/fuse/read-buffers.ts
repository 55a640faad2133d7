// Buffers for READ replies, reused: a 1 MiB read would otherwise allocate 1 MiB outside the V8
// heap per request, and that external memory drives frequent full garbage collections. A
// buffer goes back only once its reply is written (the kernel copies it during the write) and
// only after a read that succeeded: after a failure, parts of the read may still land in it.
import { assert, BufferPool } from '@antlerfs/protocol';

/** Idle buffers kept: enough for the reads the kernel keeps in flight (readahead + others). */
export const READ_BUFFERS_IDLE_MAX = 32;

export class ReadBuffers {
  private readonly sizeBytes: number;
  private readonly pool = new BufferPool({ perSizeMax: READ_BUFFERS_IDLE_MAX });

  /** `sizeBytes`: the largest read the kernel sends (max_read, the negotiated request size). */
  constructor(sizeBytes: number) {
    assert(Number.isSafeInteger(sizeBytes) && sizeBytes > 0, `read buffer size ${sizeBytes}`);
    this.sizeBytes = sizeBytes;
  }

  get idleCount(): number {
    return this.pool.idleCount;
  }

  /** A buffer of at least `sizeBytes` (larger reads than the pool's size get their own). */
  take(sizeBytes: number): Buffer {
    if (sizeBytes > this.sizeBytes) return Buffer.allocUnsafe(sizeBytes);
    return this.pool.take(this.sizeBytes);
  }

  /** Gives back a buffer from take() whose contents nobody uses any more. */
  give(buffer: Buffer): void {
    if (buffer.length === this.sizeBytes) this.pool.give(buffer);
  }
}
