// Test data: a seeded, fast generator of file contents of any size, and sha256 helpers.
// A file is a 1 MiB random pattern (from the seed) rotated by a different amount in every MiB,
// so chunks and MiBs differ from each other, yet 200 MiB costs only copies, never a PRNG pass.
// Data is produced in pieces, so a large file is streamed and never held whole.
import { createHash } from 'node:crypto';
import { assert } from '@antlerfs/protocol';

export const MIB = 1024 * 1024;
export const KIB = 1024;
/** Size of the repeating pattern and of the pieces the generator hands out. */
export const PATTERN_BYTES = MIB;
/** Odd, so the per-MiB rotation `mib * ROTATION_STEP mod 1 MiB` differs for every MiB < 1 Mi. */
const ROTATION_STEP = 1_000_003;

/** xorshift32: small, fast and good enough to make test bytes and choices reproducible. */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    assert(Number.isInteger(seed), 'seed is an integer');
    // Avoid the all-zero state, which xorshift never leaves.
    this.state = (seed ^ 0x9e3779b9) >>> 0 || 0x6d2b79f5;
  }

  /** Next 32-bit unsigned value. */
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }

  /** Integer in [0, n). */
  below(n: number): number {
    assert(n > 0 && n <= 2 ** 32, 'range of below()');
    return Math.floor((this.next() / 2 ** 32) * n);
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) out.writeUInt32LE(this.next(), i);
    for (; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }

  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, 'pick from a non-empty list');
    return items[this.below(items.length)]!;
  }
}

/** Patterns kept for reuse: a test with hundreds of seeds must not keep hundreds of MiB. */
const PATTERNS_CACHED_MAX = 8;
const patterns = new Map<number, Buffer>();

function pattern(seed: number): Buffer {
  let p = patterns.get(seed);
  if (p === undefined) {
    p = new SeededRandom(seed).bytes(PATTERN_BYTES);
    if (patterns.size >= PATTERNS_CACHED_MAX) patterns.delete(patterns.keys().next().value!);
    patterns.set(seed, p);
  }
  return p;
}

/** The MiB with index `mib` of the file of `seed`: the pattern rotated by a per-MiB amount. */
function mibOf(seed: number, mib: number): Buffer {
  const p = pattern(seed);
  const rotation = (mib * ROTATION_STEP) % PATTERN_BYTES;
  const out = Buffer.allocUnsafe(PATTERN_BYTES);
  p.copy(out, 0, rotation);
  p.copy(out, PATTERN_BYTES - rotation, 0, rotation);
  return out;
}

/** The contents of file (seed, sizeBytes), in pieces of at most 1 MiB, in order. */
export function* contentPieces(seed: number, sizeBytes: number): Generator<Buffer> {
  assert(Number.isSafeInteger(sizeBytes) && sizeBytes >= 0, 'size is a byte count');
  const mibs = Math.ceil(sizeBytes / PATTERN_BYTES);
  for (let mib = 0; mib < mibs; mib++) {
    const piece = mibOf(seed, mib);
    const left = sizeBytes - mib * PATTERN_BYTES;
    yield left < PATTERN_BYTES ? piece.subarray(0, left) : piece;
  }
}

/** The whole contents at once (for small files only). */
export function content(seed: number, sizeBytes: number): Buffer {
  assert(sizeBytes <= 256 * MIB, 'content() is for files that fit in memory comfortably');
  const out = Buffer.allocUnsafe(sizeBytes);
  let o = 0;
  for (const piece of contentPieces(seed, sizeBytes)) o += piece.copy(out, o);
  assert(o === sizeBytes, 'content filled');
  return out;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** sha256 of file (seed, sizeBytes), computed without holding it. */
export function contentSha256(seed: number, sizeBytes: number): string {
  const h = createHash('sha256');
  for (const piece of contentPieces(seed, sizeBytes)) h.update(piece);
  return h.digest('hex');
}

/** sha256 and length of everything an (async) iterable of byte pieces yields. */
export async function streamSha256(
  pieces: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<{ sha256: string; sizeBytes: number }> {
  const h = createHash('sha256');
  let sizeBytes = 0;
  for await (const piece of pieces) {
    h.update(piece);
    sizeBytes += piece.length;
  }
  return { sha256: h.digest('hex'), sizeBytes };
}
