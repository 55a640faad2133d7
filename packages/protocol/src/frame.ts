// Framing: type:32 length:32 requestId:32, then `length` payload bytes. The reader checks the
// type against the link and the length against the link's limit before allocating anything.
// A payload that spans several socket reads is kept as the list of views it arrived in (never
// copied by the reader); `payload` joins them only when a caller asks for one Buffer.
import { assert } from './assert.ts';
import { BufferPool } from './buffer-pool.ts';
import { FRAME_HEADER_BYTES } from './constants.ts';
import type { Invalid } from './codec.ts';
import { MESSAGES, type LinkKind, type MessageDef } from './message-types.ts';

const EMPTY = Buffer.alloc(0);

/**
 * Socket reads land in slabs of this size (when the link hands the reader its read buffers):
 * several frames per read and no allocation per read; a slab lives while a view of it does.
 */
export const SLAB_BYTES = 256 * 1024;
/**
 * Bytes of buffers given back (see Frame.release) kept for the next reads. A chunkserver that
 * took a fresh slab per read allocated its whole write rate, and V8 starts a full collection
 * per 64 MB of new buffers: a third of its CPU at goal 2 went to marking.
 */
export const FREE_BYTES_MAX = 32 * 1024 * 1024;
/** Slabs, and payload buffers of a link's largest payload, given back: one per process. */
const readBuffers = new BufferPool({
  perSizeMax: FREE_BYTES_MAX / SLAB_BYTES, bytesMax: FREE_BYTES_MAX,
});

/**
 * A read buffer and the holds on it: one by its reader while it reads into it or any bytes not
 * yet framed lie in it, one by each frame with views in it that will say when it is done
 * (Frame.release). A buffer whose last hold goes is reused; one whose frames never say so is
 * left to the garbage collector like any buffer.
 */
interface Slab {
  readonly buf: Buffer;
  holds: number;
}

/** Read buffers this process took from those given back, and those it had to allocate. */
export const slabCounters = readBuffers.counters;

function newSlab(bytes: number): Slab {
  return { buf: readBuffers.take(bytes), holds: 1 };
}

function dropHold(slab: Slab): void {
  assert(slab.holds > 0, 'a slab hold is dropped once');
  if (--slab.holds === 0) readBuffers.give(slab.buf);
}

/** Read buffers waiting for reuse. */
export function freeSlabCount(): number {
  return readBuffers.idleCount;
}

/** A slab with less room than this is left for a fresh one, so no read is tiny. */
const SLAB_READ_MIN_BYTES = 64 * 1024;
/**
 * A payload still missing at least this many bytes is read straight into a buffer of its own,
 * so a large reply (1 MiB of read data) arrives in one piece without a copy.
 */
const DIRECT_READ_MIN_BYTES = 128 * 1024;

/** One received frame. Its views stay valid as long as the caller keeps them. */
export class Frame {
  readonly def: MessageDef;
  readonly requestId: number;
  /** The payload as it arrived: views of the socket's chunks, in order (at least one). */
  readonly parts: readonly Buffer[];
  private joined: Buffer | null;
  /** Slabs its parts lie in, held until release(). */
  private slabs: Slab[] | null;

  constructor(def: MessageDef, requestId: number, parts: Buffer[], slabs: Slab[] | null = null) {
    assert(parts.length >= 1, 'a frame payload has at least one part');
    this.def = def;
    this.requestId = requestId;
    this.parts = parts;
    this.joined = parts.length === 1 ? parts[0]! : null;
    this.slabs = slabs;
  }

  /**
   * Says that nothing reads or keeps a view of this frame's bytes any more (nor of a reply
   * decoded from it): the slabs they lie in may be read into again. Called only by a receiver
   * that knows where every view went; once is enough, twice changes nothing.
   */
  release(): void {
    const slabs = this.slabs;
    this.slabs = null;
    if (slabs !== null) for (const s of slabs) dropHold(s);
  }

  /** The payload as one Buffer: a view when it arrived whole, else one reassembly (cached). */
  get payload(): Buffer {
    this.joined ??= Buffer.concat(this.parts as Buffer[]);
    return this.joined;
  }

  get payloadBytes(): number {
    if (this.joined !== null) return this.joined.length;
    let n = 0;
    for (const p of this.parts) n += p.length;
    return n;
  }
}

export function encodeFrameHeader(type: number, payloadBytes: number, requestId: number): Buffer {
  assert(payloadBytes >= 0 && payloadBytes <= 0xffffffff, 'payload length fits u32');
  const h = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  h.writeUInt32BE(type, 0);
  h.writeUInt32BE(payloadBytes, 4);
  h.writeUInt32BE(requestId >>> 0, 8);
  return h;
}

/** Incremental frame parser for one connection. */
export class FrameReader {
  private readonly link: LinkKind;
  private readonly payloadMaxBytes: number;
  /** Received bytes not yet taken, in order (index `pendingFirst` on). */
  private pending: Buffer[] = [];
  private pendingFirst = 0;
  private pendingBytes = 0;
  // Header of the frame being assembled, or null while waiting for one.
  private header: { def: MessageDef; length: number; requestId: number } | null = null;
  /** Where socket reads land (readBuffer/pushRead): the slab and its bytes used. */
  private slab: Slab | null = null;
  private slabUsedBytes = 0;
  /** Earlier slabs still held by this reader: bytes not yet framed may lie in them. */
  private olderSlabs: Slab[] = [];
  /**
   * The rest of a large payload being read straight into a buffer of its own (of the link's
   * largest payload, so given-back ones fit any), up to directEndBytes.
   */
  private direct: Slab | null = null;
  private directFilledBytes = 0;
  private directEndBytes = 0;

  constructor(link: LinkKind, payloadMaxBytes: number) {
    this.link = link;
    this.payloadMaxBytes = payloadMaxBytes;
  }

  /** Payload bytes the frame being assembled still needs (0 when none is under way). */
  get payloadBytesMissing(): number {
    return this.header === null ? 0 : Math.max(0, this.header.length - this.pendingBytes);
  }

  /**
   * The buffer the next socket read should fill (a link that reads into its own buffers): the
   * free part of a slab, or the rest of a large payload. pushRead() then takes what was read.
   */
  readBuffer(): Buffer {
    if (this.direct === null && this.payloadBytesMissing >= DIRECT_READ_MIN_BYTES) {
      this.direct = newSlab(this.payloadMaxBytes);
      this.directFilledBytes = 0;
      this.directEndBytes = this.payloadBytesMissing;
    }
    if (this.direct !== null) {
      return this.direct.buf.subarray(this.directFilledBytes, this.directEndBytes);
    }
    if (this.slab === null || SLAB_BYTES - this.slabUsedBytes < SLAB_READ_MIN_BYTES) {
      if (this.slab !== null) this.olderSlabs.push(this.slab);
      this.slab = newSlab(SLAB_BYTES);
      this.slabUsedBytes = 0;
    }
    return this.slab.buf.subarray(this.slabUsedBytes);
  }

  /** Takes `bytes` just read into the buffer readBuffer() gave; returns push()'s result. */
  pushRead(bytes: number): Frame[] | Invalid {
    assert(bytes > 0, 'a read brings bytes');
    let chunk: Buffer;
    if (this.direct !== null) {
      const end = this.directFilledBytes + bytes;
      assert(end <= this.directEndBytes, 'a read fits the payload buffer');
      chunk = this.direct.buf.subarray(this.directFilledBytes, end);
      this.directFilledBytes = end;
      if (end === this.directEndBytes) {
        // Filled: its frame completes now and takes a hold; the reader lets go below.
        this.olderSlabs.push(this.direct);
        this.direct = null;
      }
    } else {
      assert(this.slab !== null, 'a slab was handed out');
      const end = this.slabUsedBytes + bytes;
      assert(end <= SLAB_BYTES, 'a read fits the slab');
      chunk = this.slab.buf.subarray(this.slabUsedBytes, end);
      this.slabUsedBytes = end;
    }
    return this.push(chunk);
  }

  /** Feeds bytes; returns the complete frames, or an Invalid reason (close the connection). */
  push(chunk: Buffer): Frame[] | Invalid {
    if (chunk.length > 0) this.append(chunk);
    const frames: Frame[] = [];
    for (;;) {
      if (this.header === null) {
        if (this.pendingBytes < FRAME_HEADER_BYTES) break;
        const h = this.takeHeader();
        const type = h.readUInt32BE(0);
        const length = h.readUInt32BE(4);
        const requestId = h.readUInt32BE(8);
        const def = MESSAGES.get(type);
        if (def === undefined) return { invalid: `unknown message type ${type}` };
        if (def.link !== this.link) {
          return { invalid: `message ${def.name} does not belong on a ${this.link} link` };
        }
        if (length > this.payloadMaxBytes) {
          return { invalid: `${def.name} length ${length} exceeds limit ${this.payloadMaxBytes}` };
        }
        this.header = { def, length, requestId };
      }
      if (this.pendingBytes < this.header.length) break;
      const parts = this.take(this.header.length);
      frames.push(new Frame(this.header.def, this.header.requestId, parts, this.holdSlabs(parts)));
      this.header = null;
    }
    this.compact();
    this.dropOlderSlabs();
    return frames;
  }

  /** A hold on each slab `parts` lie in, for their frame (null when none does). */
  private holdSlabs(parts: readonly Buffer[]): Slab[] | null {
    if (this.slab === null && this.olderSlabs.length === 0) return null;
    let held: Slab[] | null = null;
    for (const p of parts) {
      const slab = this.slabOf(p);
      if (slab === null || held?.includes(slab)) continue;
      slab.holds++;
      (held ??= []).push(slab);
    }
    return held;
  }

  private slabOf(view: Buffer): Slab | null {
    if (this.slab !== null && view.buffer === this.slab.buf.buffer) return this.slab;
    for (const s of this.olderSlabs) if (view.buffer === s.buf.buffer) return s;
    return null;
  }

  /** Lets go of earlier slabs that hold no bytes still waiting to be framed. */
  private dropOlderSlabs(): void {
    if (this.olderSlabs.length === 0) return;
    const kept: Slab[] = [];
    for (const s of this.olderSlabs) {
      if (this.pending.some((c) => c.buffer === s.buf.buffer)) kept.push(s);
      else dropHold(s);
    }
    this.olderSlabs = kept;
  }

  /** Queues a chunk; one that continues the last in memory (the same slab) joins its view. */
  private append(chunk: Buffer): void {
    this.pendingBytes += chunk.length;
    const lastIndex = this.pending.length - 1;
    if (lastIndex >= this.pendingFirst) {
      const last = this.pending[lastIndex]!;
      if (last.buffer === chunk.buffer && last.byteOffset + last.length === chunk.byteOffset) {
        this.pending[lastIndex] = Buffer.from(last.buffer, last.byteOffset,
          last.length + chunk.length);
        return;
      }
    }
    this.pending.push(chunk);
  }

  /** The 12 header bytes: a view when they lie in one chunk, else a small copy. */
  private takeHeader(): Buffer {
    const first = this.pending[this.pendingFirst]!;
    if (first.length >= FRAME_HEADER_BYTES) return this.take(FRAME_HEADER_BYTES)[0]!;
    return Buffer.concat(this.take(FRAME_HEADER_BYTES));
  }

  /** Removes `n` bytes from the front as views of the chunks they lie in (never copied). */
  private take(n: number): Buffer[] {
    assert(n <= this.pendingBytes, 'take within pending');
    this.pendingBytes -= n;
    if (n === 0) return [EMPTY];
    const out: Buffer[] = [];
    let want = n;
    // Each pass takes a whole chunk or ends: bounded by the chunks pending.
    while (want > 0) {
      const c = this.pending[this.pendingFirst]!;
      if (c.length <= want) {
        out.push(c);
        want -= c.length;
        this.pending[this.pendingFirst++] = EMPTY;
      } else {
        out.push(c.subarray(0, want));
        this.pending[this.pendingFirst] = c.subarray(want);
        want = 0;
      }
    }
    return out;
  }

  /** Drops the taken chunks from the front of the list. */
  private compact(): void {
    if (this.pendingFirst === 0) return;
    if (this.pendingFirst === this.pending.length) this.pending = [];
    else this.pending = this.pending.slice(this.pendingFirst);
    this.pendingFirst = 0;
  }
}
