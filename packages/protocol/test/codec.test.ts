// Goal: every message in the table encodes and decodes back to the same value, and hostile bytes
// (truncated, oversized, random, split at every boundary) give a reason, never an exception.
// Method: a value generator driven by each message's schema, a fixed-seed PRNG, bounded loops.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  FRAME_HEADER_BYTES, FrameReader, MESSAGES, decodeFrom, encodeInto, encodedSize, isInvalid,
  type FieldType, type Fields,
} from '../src/index.ts';

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sample(type: FieldType, rnd: () => number): unknown {
  if (typeof type === 'string') {
    switch (type) {
      case 'u8': return Math.floor(rnd() * 256);
      case 'u16': return Math.floor(rnd() * 65536);
      case 'u32': return Math.floor(rnd() * 2 ** 32);
      case 'u64': return Math.floor(rnd() * Number.MAX_SAFE_INTEGER);
      case 'h64': return BigInt(Math.floor(rnd() * 2 ** 32)) << 32n | BigInt(Math.floor(rnd() * 2 ** 32));
      case 'str': return 'né/' + Math.floor(rnd() * 1e9).toString(36);
      case 'bytes': return Buffer.from([1, 2, 3, Math.floor(rnd() * 256)]);
    }
  }
  if ('list' in type) {
    const n = Math.floor(rnd() * 4);
    return Array.from({ length: n }, () => sampleStruct(type.list, rnd));
  }
  return sampleStruct(type.struct, rnd);
}

function sampleStruct(fields: Fields, rnd: () => number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, type] of fields) out[name] = sample(type, rnd);
  return out;
}

test('every message in the table round-trips', () => {
  const rnd = prng(42);
  assert.ok(MESSAGES.size >= 40, `table has ${MESSAGES.size} messages`);
  for (const def of MESSAGES.values()) {
    for (let i = 0; i < 20; i++) {
      const value = sampleStruct(def.fields, rnd);
      const size = encodedSize(def.fields, value);
      const buf = Buffer.alloc(size);
      assert.is(encodeInto(def.fields, value, buf, 0), size, def.name);
      const back = decodeFrom(def.fields, buf, 0);
      if (isInvalid(back)) throw new Error(`${def.name}: ${back.invalid}`);
      assert.equal(back.value, value, def.name);
      assert.is(back.offset, size);
      // Every truncation is refused with a reason (a struct with fields cannot be shorter).
      for (let cut = 0; cut < size; cut += Math.max(1, Math.floor(size / 7))) {
        const r = decodeFrom(def.fields, buf.subarray(0, cut), 0);
        assert.ok(isInvalid(r), `${def.name} truncated at ${cut} of ${size} decoded`);
      }
    }
  }
});

test('random bytes never throw in any decoder', () => {
  const rnd = prng(7);
  for (const def of MESSAGES.values()) {
    for (let i = 0; i < 200; i++) {
      const buf = Buffer.alloc(Math.floor(rnd() * 64));
      for (let j = 0; j < buf.length; j++) buf[j] = Math.floor(rnd() * 256);
      decodeFrom(def.fields, buf, 0); // returns a value or a reason; must not throw
    }
  }
});

test('frames split at every byte boundary reassemble; bad headers give reasons', () => {
  const def = [...MESSAGES.values()].find((d) => d.link === 'data' && d.tail)!;
  const rnd = prng(3);
  const body = sampleStruct(def.fields, rnd);
  const structBytes = encodedSize(def.fields, body);
  const tail = Buffer.alloc(1000, 9);
  const frame = Buffer.alloc(FRAME_HEADER_BYTES + structBytes + tail.length);
  frame.writeUInt32BE(def.type, 0);
  frame.writeUInt32BE(structBytes + tail.length, 4);
  frame.writeUInt32BE(77, 8);
  encodeInto(def.fields, body, frame, FRAME_HEADER_BYTES);
  tail.copy(frame, FRAME_HEADER_BYTES + structBytes);
  const two = Buffer.concat([frame, frame]);
  for (let split = 0; split <= two.length; split++) {
    const reader = new FrameReader('data', 1 << 20);
    const a = reader.push(two.subarray(0, split));
    const b = reader.push(two.subarray(split));
    assert.not.ok(isInvalid(a) || isInvalid(b));
    const frames = [...(a as []), ...(b as [])] as { requestId: number; payload: Buffer }[];
    assert.is(frames.length, 2, `split at ${split}`);
    for (const f of frames) {
      assert.is(f.requestId, 77);
      assert.ok(f.payload.equals(frame.subarray(FRAME_HEADER_BYTES)));
    }
  }
  const oversized = Buffer.from(frame.subarray(0, FRAME_HEADER_BYTES));
  oversized.writeUInt32BE(2 ** 31, 4);
  assert.ok(isInvalid(new FrameReader('data', 1 << 20).push(oversized)));
  const wrongLink = Buffer.from(frame.subarray(0, FRAME_HEADER_BYTES));
  assert.ok(isInvalid(new FrameReader('client-master', 1 << 20).push(wrongLink)));
});

test.run();
