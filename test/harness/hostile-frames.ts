// Hostile bytes for a daemon's port, from a seed: random bytes, headers that lie about their
// length, garbage payloads under valid message types, cut frames, other links' messages, lists
// that claim billions of entries, frames dribbled a byte at a time, and well-formed messages
// whose values are hostile (edge offsets and sizes, unknown ids, over-long names).
// Well-formed values never name real objects of a test (ids are drawn far above any a test
// makes), except reads of low chunk ids on the data port, which change nothing.
import {
  MESSAGES, assert, encodeFrameHeader, encodeInto, encodedSize, type FieldType, type Fields,
  type LinkKind, type MessageDef,
} from '@antlerfs/protocol';
import type { SeededRandom } from './data.ts';

/** What one hostile connection sends, and how it ends. */
export interface HostileConnection {
  kind: string;
  /** Frames (whole or cut) the bytes carry. */
  frames: number;
  bytes: Buffer[];
  /** 'end': FIN after sending; 'reset': RST; 'wait': let the daemon decide, then FIN. */
  close: 'end' | 'reset' | 'wait';
}

/** Every message number on a link (requests and replies: both are bytes a peer can send). */
function typesOf(link: LinkKind): number[] {
  const out: number[] = [];
  for (const def of MESSAGES.values()) if (def.link === link) out.push(def.type);
  assert(out.length > 0, `messages exist on the ${link} link`);
  return out;
}

function frame(type: number, payload: Buffer, rnd: SeededRandom, lieBytes = 0): Buffer {
  const header = encodeFrameHeader(type, payload.length + lieBytes, rnd.next());
  return Buffer.concat([header, payload]);
}

/** Builds one hostile connection's bytes (recipes described in the switch below). */
export function hostileConnection(rnd: SeededRandom, link: LinkKind, payloadMaxBytes: number,
): HostileConnection {
  const c = hostileBytes(rnd, link, payloadMaxBytes);
  return { ...c, frames: c.frames ?? 1 };
}

function hostileBytes(rnd: SeededRandom, link: LinkKind, payloadMaxBytes: number,
): Omit<HostileConnection, 'frames'> & { frames?: number } {
  const types = typesOf(link);
  const allTypes = [...MESSAGES.keys()];
  const close = rnd.pick(['end', 'end', 'reset', 'wait'] as const);
  const garbage = (): Buffer => rnd.bytes(rnd.below(96));
  switch (rnd.below(10)) {
    case 8: case 9: // well-formed messages of this link with hostile values
      return wellFormed(rnd, link);
    case 0: // random bytes, no framing at all
      return { kind: 'random', bytes: [rnd.bytes(1 + rnd.below(512))], close };
    case 1: // a valid header that claims more than the link's limit (or u32 max)
      return {
        kind: 'oversized', close,
        bytes: [encodeFrameHeader(rnd.pick(types),
          rnd.pick([payloadMaxBytes + 1, 0xffffffff, payloadMaxBytes + 1 + rnd.below(1 << 20)]),
          rnd.next())],
      };
    case 2: // a valid type with a garbage payload of the length it claims
      return { kind: 'garbage-payload', close, bytes: [frame(rnd.pick(types), garbage(), rnd)] };
    case 3: // a header, then the connection ends
      return {
        kind: 'header-only', close: rnd.pick(['end', 'reset'] as const),
        bytes: [encodeFrameHeader(rnd.pick(types), 1 + rnd.below(4096), rnd.next())],
      };
    case 4: { // a frame cut short: the length says more than ever arrives
      const f = frame(rnd.pick(types), garbage(), rnd, 1 + rnd.below(1000));
      return { kind: 'truncated', close, bytes: [f.subarray(0, 1 + rnd.below(f.length))] };
    }
    case 5: // a message of another link, or an unknown number
      return {
        kind: 'wrong-type', close,
        bytes: [frame(rnd.below(2) ? rnd.pick(allTypes) : rnd.next(), garbage(), rnd)],
      };
    case 6: { // a list that claims billions of entries in a short payload
      const p = Buffer.alloc(4 + rnd.below(32));
      p.writeUInt32BE(0xffffffff - rnd.below(1000), 0);
      return { kind: 'huge-list', close, bytes: [frame(rnd.pick(types), p, rnd)] };
    }
    default: { // several frames back to back, one byte at a time for the first
      const frames: Buffer[] = [];
      const count = 2 + rnd.below(4);
      for (let i = 0; i < count; i++) frames.push(frame(rnd.pick(types), garbage(), rnd));
      const first = frames.shift()!;
      const bytes: Buffer[] = [];
      for (let i = 0; i < first.length; i++) bytes.push(first.subarray(i, i + 1));
      return { kind: 'pipelined', close, frames: count, bytes: [...bytes, ...frames] };
    }
  }
}

/** Ids drawn at or above this never name an inode, chunk or chunkserver a test created. */
const FOREIGN_ID_MIN = 1_000_000;
/** Nothing listens on port 1 of 127.0.0.1: a daemon told to go there is refused at once. */
const NOWHERE_PORT = 1;
const U32_MAX = 0xffffffff;
/** Fields that are offsets, sizes or counts get edge values; the rest are ids. */
const EDGE_FIELDS = new Set([
  'offset', 'size', 'offsetInBlock', 'blockIndex', 'length', 'lengthBytes', 'count',
  'firstIndex', 'chunkIndex', 'entriesMax', 'mode', 'setMask', 'goal', 'recursive',
  'exclusive', 'last', 'protocolVersion', 'totalBytes', 'freeBytes', 'chunkCount',
  'trashtimeS', 'atimeMs', 'mtimeMs', 'newVersion',
]);

function edgeValue(rnd: SeededRandom, max: number): number {
  const picks = [0, 1, max, max - 1, 64 * 1024, 64 * 1024 + 1, 64 * 1024 * 1024, 1 << 20,
    rnd.below(Math.min(max, U32_MAX) + 1)];
  return Math.min(max, rnd.pick(picks));
}

function hostileString(rnd: SeededRandom): string {
  const length = rnd.pick([0, 1, 255, 256, 300, rnd.below(64)]);
  const alphabet = 'ab/.\u0000\u00e9z';
  let s = '';
  for (let i = 0; i < length; i++) s += alphabet[rnd.below(alphabet.length)];
  return s;
}

function randomScalar(rnd: SeededRandom, name: string, type: string, link: LinkKind): unknown {
  const max = type === 'u8' ? 0xff : type === 'u16' ? 0xffff : type === 'u32' ? U32_MAX
    : Number.MAX_SAFE_INTEGER;
  switch (type) {
    case 'str': return name === 'host' ? '127.0.0.1' : hostileString(rnd);
    case 'bytes': return rnd.bytes(rnd.below(64));
    case 'h64': return BigInt.asUintN(64, BigInt(rnd.next()) << 32n | BigInt(rnd.next()));
    default:
      if (name === 'port') return NOWHERE_PORT;
      // Reads of low chunk ids on the data port hit real chunks: that changes nothing.
      if (name === 'chunkId' && link === 'data' && rnd.below(2) === 0) return 1 + rnd.below(4);
      if (name === 'version' && link === 'data' && rnd.below(2) === 0) return 1 + rnd.below(2);
      if (EDGE_FIELDS.has(name)) return edgeValue(rnd, max);
      return Math.min(max, FOREIGN_ID_MIN + rnd.below(U32_MAX - FOREIGN_ID_MIN));
  }
}

function randomValue(rnd: SeededRandom, fields: Fields, link: LinkKind): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, type] of fields) out[name] = randomField(rnd, name, type, link);
  return out;
}

function randomField(rnd: SeededRandom, name: string, type: FieldType, link: LinkKind): unknown {
  if (typeof type === 'string') return randomScalar(rnd, name, type, link);
  if ('list' in type) {
    return Array.from({ length: rnd.below(4) }, () => randomValue(rnd, type.list, link));
  }
  return randomValue(rnd, type.struct, link);
}

/** A frame of `def` whose struct is well formed and whose values are hostile. */
function wellFormedFrame(rnd: SeededRandom, def: MessageDef, link: LinkKind): Buffer {
  const value = randomValue(rnd, def.fields, link);
  const isReply = def.isReply;
  const structBytes = encodedSize(def.fields, value);
  const payload = Buffer.alloc((isReply ? 1 : 0) + structBytes);
  if (isReply) payload[0] = 0; // status OK, then the body
  encodeInto(def.fields, value, payload, isReply ? 1 : 0);
  // A tail (block data) of a random size, up to a little over one block.
  const tail = def.tail ? rnd.bytes(rnd.pick([0, 1, 65536, rnd.below(70_000)])) : Buffer.alloc(0);
  return frame(def.type, Buffer.concat([payload, tail]), rnd);
}

/** Up to four well-formed frames of this link, requests and replies alike. */
function wellFormed(rnd: SeededRandom, link: LinkKind): Omit<HostileConnection, 'frames'> & {
  frames: number;
} {
  const defs = [...MESSAGES.values()].filter((d) => d.link === link);
  assert(defs.length > 0, `messages exist on the ${link} link`);
  const count = 1 + rnd.below(4);
  const bytes: Buffer[] = [];
  for (let i = 0; i < count; i++) bytes.push(wellFormedFrame(rnd, rnd.pick(defs), link));
  return { kind: 'well-formed', close: rnd.pick(['end', 'wait'] as const), frames: count, bytes };
}
