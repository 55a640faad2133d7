// Readahead for sequential reads through a file handle, of any size (the FUSE layer reads
// 128 KiB at a time, programs often 1 MiB): once a read starts where the previous one ended,
// whole aligned segments of READ_SIZE_MAX_BYTES are fetched ahead, up to `segmentsMax` of them,
// and later reads copy from them (from the pieces each reply arrived in: one copy in all).
// Random reads go straight to the chunk reader for exactly what they ask. The start of a file
// may be asked for before any read (startFirst: an open for reading), so the first read from
// the start finds its bytes on their way.
import {
  assert, BLOCK_SIZE_BYTES, CHUNK_SIZE_BYTES, READ_SIZE_MAX_BYTES,
} from '@antlerfs/protocol';
import type { ChunkReader, Fetched } from './chunk-reader.ts';

const SEGMENT_BYTES = READ_SIZE_MAX_BYTES;
assert(CHUNK_SIZE_BYTES % SEGMENT_BYTES === 0, 'segments never cross a chunk');

/** A segment fetched or being fetched (null: a hole), and the reads copying from it now. */
interface Segment {
  readonly fetched: Promise<Fetched | null>;
  /** Bytes asked for from the segment's start: whole blocks up to the file's end then. */
  readonly sizeBytes: number;
  /** Reads that took it and have not finished copying from it. */
  users: number;
  /** Out of the map: its receive buffers go back once no read uses it. */
  dropped: boolean;
}

export class ReadAhead {
  private readonly reader: ChunkReader;
  private readonly segmentsMax: number;
  /** segment index -> its segment; at most segmentsMax entries. */
  private readonly segments = new Map<number, Segment>();
  private nextSequentialPosition = -1;
  /** The file's first bytes asked for ahead of any read (startFirst), for the next read. */
  private first: { sizeBytes: number; fetched: Promise<Fetched | null> } | null = null;

  constructor(reader: ChunkReader, segmentsMax: number) {
    assert(segmentsMax >= 1, 'segmentsMax >= 1');
    this.reader = reader;
    this.segmentsMax = segmentsMax;
  }

  /** Forgets fetched data (after this handle wrote or truncated). */
  clear(): void {
    for (const index of [...this.segments.keys()]) this.drop(index);
    this.nextSequentialPosition = -1;
    this.dropFirst();
  }

  /**
   * Starts fetching the file's first `bytes` (whole blocks of the first chunk, at most one
   * segment) for the next read, which uses them if it lies within them.
   */
  startFirst(bytes: number): void {
    assert(bytes > 0 && bytes <= SEGMENT_BYTES, `first bytes ${bytes}`);
    this.clear();
    const sizeBytes = Math.ceil(bytes / BLOCK_SIZE_BYTES) * BLOCK_SIZE_BYTES;
    const fetched = this.reader.fetchParts({
      chunkIndex: 0, offsetInChunk: 0, sizeBytes, rangeOffset: 0,
    });
    fetched.catch(() => undefined); // the read then asks again, and gets the error itself
    this.first = { sizeBytes, fetched };
  }

  async read(
    buffer: Uint8Array, offset: number, length: number, position: number,
  ): Promise<number> {
    const fromFirst = await this.readFirst(buffer, offset, length, position);
    if (fromFirst >= 0) return fromFirst;
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
      // A segment fetched before the file grew is fetched again, to the new end.
      if ((this.segments.get(index)?.sizeBytes ?? SEGMENT_BYTES) < inSegment + take) {
        this.drop(index);
      }
      const segment = this.segment(index);
      segment.users++;
      try {
        const got = await segment.fetched;
        if (got === null) buffer.fill(0, offset + done, offset + done + take);
        else copyOut(got.parts, inSegment, take, buffer, offset + done);
      } finally {
        segment.users--;
        releaseIfUnused(segment);
      }
      done += take;
    }
    return n;
  }

  /** The next read from the bytes startFirst fetched: its length, or -1 when it cannot. */
  private async readFirst(
    buffer: Uint8Array, offset: number, length: number, position: number,
  ): Promise<number> {
    const first = this.first;
    if (first === null) return -1;
    this.first = null;
    const known = this.reader.knownLengthBytes;
    const n = Math.max(0, Math.min(length, known - position));
    let got: Fetched | null | undefined;
    if (known >= 0 && position + n <= first.sizeBytes) {
      got = await first.fetched.catch(() => undefined);
    }
    if (got === undefined) {
      releaseWhenFetched(first.fetched);
      return -1;
    }
    if (got === null) buffer.fill(0, offset, offset + n);
    else {
      copyOut(got.parts, position, n, buffer, offset);
      got.release();
    }
    this.nextSequentialPosition = position + n;
    return n;
  }

  private dropFirst(): void {
    if (this.first !== null) releaseWhenFetched(this.first.fetched);
    this.first = null;
  }

  private dropBefore(index: number): void {
    for (const key of [...this.segments.keys()]) if (key < index) this.drop(key);
  }

  private drop(index: number): void {
    const segment = this.segments.get(index);
    if (segment === undefined) return;
    this.segments.delete(index);
    segment.dropped = true;
    releaseIfUnused(segment);
  }

  /** Starts fetches for the segments from `first` on that lie in the file, up to the bound. */
  private prefetch(first: number): void {
    const lastInFile = Math.ceil(this.reader.knownLengthBytes / SEGMENT_BYTES) - 1;
    for (let i = first; i <= lastInFile && this.segments.size < this.segmentsMax; i++) {
      if (!this.segments.has(i)) this.segments.set(i, this.fetchSegment(i));
    }
  }

  private segment(index: number): Segment {
    let segment = this.segments.get(index);
    if (segment === undefined) {
      segment = this.fetchSegment(index);
      this.segments.set(index, segment);
    }
    return segment;
  }

  private fetchSegment(index: number): Segment {
    const position = index * SEGMENT_BYTES;
    // Not past the file's end (a chunkserver pads a short chunk with zeros to any size).
    const known = this.reader.knownLengthBytes;
    const inFile = known < 0 ? SEGMENT_BYTES : known - position;
    const blocks = Math.ceil(Math.min(Math.max(inFile, 1), SEGMENT_BYTES) / BLOCK_SIZE_BYTES);
    const sizeBytes = blocks * BLOCK_SIZE_BYTES;
    const fetched = this.reader.fetchParts({
      chunkIndex: Math.floor(position / CHUNK_SIZE_BYTES),
      offsetInChunk: position % CHUNK_SIZE_BYTES,
      sizeBytes, rangeOffset: 0,
    });
    const segment: Segment = { fetched, sizeBytes, users: 0, dropped: false };
    // A failed segment is forgotten so the next read asks again; the error reaches the reader
    // that awaits it.
    fetched.catch(() => { if (this.segments.get(index) === segment) this.segments.delete(index); });
    return segment;
  }
}

/** A segment dropped and read by nobody gives its receive buffers back (once fetched). */
function releaseIfUnused(segment: Segment): void {
  if (!segment.dropped || segment.users > 0) return;
  releaseWhenFetched(segment.fetched);
}

/** Gives a fetch's receive buffers back once it is in (nothing to give for a hole or error). */
function releaseWhenFetched(fetched: Promise<Fetched | null>): void {
  fetched.then((got) => got?.release(), () => undefined);
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
