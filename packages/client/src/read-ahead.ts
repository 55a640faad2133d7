// Readahead for sequential reads through a file handle, of any size (the FUSE layer reads
// 128 KiB at a time, programs often 1 MiB): once a read starts where the previous one ended,
// whole aligned segments of READ_SIZE_MAX_BYTES are fetched ahead, up to `segmentsMax` of them,
// and later reads copy from them (from the pieces each reply arrived in: one copy in all).
// Random reads go straight to the chunk reader for exactly what they ask.
import { assert, CHUNK_SIZE_BYTES, READ_SIZE_MAX_BYTES } from '@antlerfs/protocol';
import type { ChunkReader } from './chunk-reader.ts';

const SEGMENT_BYTES = READ_SIZE_MAX_BYTES;
assert(CHUNK_SIZE_BYTES % SEGMENT_BYTES === 0, 'segments never cross a chunk');

export class ReadAhead {
  private readonly reader: ChunkReader;
  private readonly segmentsMax: number;
  /** segment index -> its bytes as received (null: a hole); at most segmentsMax entries. */
  private readonly segments = new Map<number, Promise<readonly Buffer[] | null>>();
  private nextSequentialPosition = -1;

  constructor(reader: ChunkReader, segmentsMax: number) {
    assert(segmentsMax >= 1, 'segmentsMax >= 1');
    this.reader = reader;
    this.segmentsMax = segmentsMax;
  }

  /** Forgets fetched data (after this handle wrote or truncated). */
  clear(): void {
    this.segments.clear();
    this.nextSequentialPosition = -1;
  }

  async read(
    buffer: Uint8Array, offset: number, length: number, position: number,
  ): Promise<number> {
    const sequential = position === this.nextSequentialPosition;
    const first = Math.floor(position / SEGMENT_BYTES);
    if (!sequential && !this.segments.has(first)) {
      this.clear();
      const n = await this.reader.read(buffer, offset, length, position);
      this.nextSequentialPosition = position + n;
      return n;
    }
    const known = this.reader.knownLengthBytes;
    if (known < 0 || position + length > known) {
      await this.reader.refresh(Math.floor(position / CHUNK_SIZE_BYTES));
    }
    const n = Math.max(0, Math.min(length, this.reader.knownLengthBytes - position));
    this.nextSequentialPosition = position + n;
    if (n === 0) return 0;
    this.dropBefore(first);
    this.prefetch(first);
    let done = 0;
    while (done < n) {
      const at = position + done;
      const index = Math.floor(at / SEGMENT_BYTES);
      const inSegment = at - index * SEGMENT_BYTES;
      const take = Math.min(n - done, SEGMENT_BYTES - inSegment);
      const parts = await this.segment(index);
      if (parts === null) buffer.fill(0, offset + done, offset + done + take);
      else copyOut(parts, inSegment, take, buffer, offset + done);
      done += take;
    }
    return n;
  }

  private dropBefore(index: number): void {
    for (const key of this.segments.keys()) if (key < index) this.segments.delete(key);
  }

  /** Starts fetches for the segments from `first` on that lie in the file, up to the bound. */
  private prefetch(first: number): void {
    const lastInFile = Math.ceil(this.reader.knownLengthBytes / SEGMENT_BYTES) - 1;
    for (let i = first; i <= lastInFile && this.segments.size < this.segmentsMax; i++) {
      if (!this.segments.has(i)) this.segments.set(i, this.fetchSegment(i));
    }
  }

  private segment(index: number): Promise<readonly Buffer[] | null> {
    let p = this.segments.get(index);
    if (p === undefined) {
      p = this.fetchSegment(index);
      this.segments.set(index, p);
    }
    return p;
  }

  private fetchSegment(index: number): Promise<readonly Buffer[] | null> {
    const position = index * SEGMENT_BYTES;
    const p = this.reader.fetchParts({
      chunkIndex: Math.floor(position / CHUNK_SIZE_BYTES),
      offsetInChunk: position % CHUNK_SIZE_BYTES,
      sizeBytes: SEGMENT_BYTES, rangeOffset: 0,
    });
    // A failed segment is forgotten so the next read asks again; the error reaches the reader
    // that awaits it.
    p.catch(() => { if (this.segments.get(index) === p) this.segments.delete(index); });
    return p;
  }
}

/** Copies `bytes` bytes from `from` on of the pieces `parts` into `dest` at `destOffset`. */
function copyOut(
  parts: readonly Buffer[], from: number, bytes: number, dest: Uint8Array, destOffset: number,
): void {
  let skip = from;
  let done = 0;
  for (const p of parts) {
    if (done === bytes) break;
    if (skip >= p.length) {
      skip -= p.length;
      continue;
    }
    const take = Math.min(p.length - skip, bytes - done);
    dest.set(p.subarray(skip, skip + take), destOffset + done);
    done += take;
    skip = 0;
  }
  assert(done === bytes, `copied ${done} of ${bytes} bytes from a segment`);
}
