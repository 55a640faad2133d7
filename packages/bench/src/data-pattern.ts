// The bytes the bench writes: a file's n-th io is a window of a random pool at an offset that
// differs for every io, so each MiB of a file is distinct (a misplaced block changes the sha256)
// and no per-write generation or copy sits inside a timed loop. Windows are never mutated, so a
// client may hold on to them until its write is acknowledged.
import crypto from 'node:crypto';
import { assert } from '@antlerfs/protocol';

/** Distinct window offsets: POOL_SPAN_BYTES / OFFSET_STEP_BYTES = 262144 ios before a repeat. */
const POOL_SPAN_BYTES = 4 * 1024 * 1024;
const OFFSET_STEP_BYTES = 16;
/** Odd and prime, hence coprime to the number of offsets: consecutive ios land far apart. */
const OFFSET_STRIDE = 7919;

export class DataPattern {
  readonly ioSizeBytes: number;
  private readonly pool: Buffer;

  constructor(ioSizeBytes: number, seed = 'antler-bench') {
    assert(ioSizeBytes > 0, 'io size is positive');
    this.ioSizeBytes = ioSizeBytes;
    this.pool = Buffer.allocUnsafe(POOL_SPAN_BYTES + ioSizeBytes);
    // Seeded so two runs write the same bytes: a keyed stream cipher over zeros.
    const key = crypto.createHash('sha256').update(seed).digest();
    const cipher = crypto.createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
    const out = cipher.update(Buffer.alloc(this.pool.length));
    out.copy(this.pool);
  }

  /** Number of ios of a file of `sizeBytes` (the last one may be short). */
  ioCount(sizeBytes: number): number {
    return Math.ceil(sizeBytes / this.ioSizeBytes);
  }

  /** The bytes of io `index` of a file of `sizeBytes`: a view, never to be written to. */
  io(index: number, sizeBytes: number): Buffer {
    const start = index * this.ioSizeBytes;
    assert(index >= 0 && start < sizeBytes, `io ${index} lies inside the file`);
    const length = Math.min(this.ioSizeBytes, sizeBytes - start);
    const steps = POOL_SPAN_BYTES / OFFSET_STEP_BYTES;
    const offset = ((index * OFFSET_STRIDE) % steps) * OFFSET_STEP_BYTES;
    return this.pool.subarray(offset, offset + length);
  }

  /**
   * Whether `data` equals the file's bytes at `fileOffset` (memcmp speed, cheap enough to sit
   * in a timed loop; the range may span ios when a read came back short).
   */
  matches(fileOffset: number, data: Uint8Array, sizeBytes: number): boolean {
    if (fileOffset < 0 || fileOffset + data.length > sizeBytes) return false;
    let checked = 0;
    // Bounded: each round covers the rest of one io, at least one byte.
    for (let round = 0; checked < data.length && round <= data.length; round++) {
      const at = fileOffset + checked;
      const index = Math.floor(at / this.ioSizeBytes);
      const io = this.io(index, sizeBytes);
      const from = at - index * this.ioSizeBytes;
      const n = Math.min(io.length - from, data.length - checked);
      if (Buffer.compare(io.subarray(from, from + n), data.subarray(checked, checked + n)) !== 0) {
        return false;
      }
      checked += n;
    }
    return checked === data.length;
  }

  /** sha256 (hex) of a whole file of `sizeBytes`, computed before any timed loop. */
  sha256(sizeBytes: number): string {
    const hash = crypto.createHash('sha256');
    const count = this.ioCount(sizeBytes);
    for (let i = 0; i < count; i++) hash.update(this.io(i, sizeBytes));
    return hash.digest('hex');
  }
}
