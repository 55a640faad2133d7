// Framing: type:32 length:32 requestId:32, then `length` payload bytes. The reader checks the
// type against the link and the length against the link's limit before allocating anything.
import { assert } from './assert.ts';
import { FRAME_HEADER_BYTES } from './constants.ts';
import type { Invalid } from './codec.ts';
import { MESSAGES, type LinkKind, type MessageDef } from './message-types.ts';

export interface Frame {
  def: MessageDef;
  requestId: number;
  /** The payload: a view into the socket's chunk when it arrived whole, else one reassembly. */
  payload: Buffer;
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
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  // Header of the frame being assembled, or null while waiting for one.
  private header: { def: MessageDef; length: number; requestId: number } | null = null;

  constructor(link: LinkKind, payloadMaxBytes: number) {
    this.link = link;
    this.payloadMaxBytes = payloadMaxBytes;
  }

  /** Feeds bytes; returns the complete frames, or an Invalid reason (close the connection). */
  push(chunk: Buffer): Frame[] | Invalid {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.header === null) {
        if (this.pendingBytes < FRAME_HEADER_BYTES) return frames;
        const h = this.take(FRAME_HEADER_BYTES);
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
      if (this.pendingBytes < this.header.length) return frames;
      const payload = this.take(this.header.length);
      frames.push({ def: this.header.def, requestId: this.header.requestId, payload });
      this.header = null;
    }
  }

  /** Removes `n` bytes from the front; a view when they lie in one chunk. */
  private take(n: number): Buffer {
    assert(n <= this.pendingBytes, 'take within pending');
    this.pendingBytes -= n;
    if (n === 0) return Buffer.alloc(0);
    const first = this.pending[0]!;
    if (first.length >= n) {
      if (first.length === n) this.pending.shift();
      else this.pending[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.pending[0]!;
      const want = n - filled;
      if (c.length <= want) {
        c.copy(out, filled);
        filled += c.length;
        this.pending.shift();
      } else {
        c.copy(out, filled, 0, want);
        this.pending[0] = c.subarray(want);
        filled += want;
      }
    }
    return out;
  }
}
