// Goal: the little-endian struct codec lays fields out as C does, round-trips every width
// (64-bit values past 2^32, negative i64), zero-fills what a value leaves out, and refuses
// values that do not fit or structs whose fields disagree with their declared size.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defineStruct, readStruct, writeStruct } from '../src/fuse/struct-codec.ts';

const S = defineStruct('sample', 32, [
  ['a', 'u16'], ['b', 'u16'], ['c', 'i32'], ['d', 'u64'], ['e', 'i64'], ['f', 'u32'], ['g', 'u32'],
]);

test('offsets follow the declaration, values round-trip', () => {
  assert.equal(S.fields.map((f) => f.offset), [0, 2, 4, 8, 16, 24, 28]);
  const buf = Buffer.alloc(40, 0xff);
  const value = {
    a: 0xbeef, b: 1, c: -5, d: 5 * 2 ** 32 + 7, e: -(2 ** 40) - 3, f: 0xffffffff, g: 0,
  };
  assert.is(writeStruct(S, value, buf, 4), 36);
  assert.equal(readStruct(S, buf, 4), value);
  // Little-endian on the wire.
  assert.is(buf.readUInt16LE(4), 0xbeef);
  assert.is(buf.readUInt32LE(12), 7);
  assert.is(buf.readUInt32LE(16), 5);
  assert.is(buf[3], 0xff, 'bytes before the struct untouched');
  assert.is(buf[36], 0xff, 'bytes after the struct untouched');
});

test('fields left out are written as zero', () => {
  const buf = Buffer.alloc(32, 0xaa);
  writeStruct(S, { d: 9 }, buf, 0);
  assert.equal(readStruct(S, buf, 0), { a: 0, b: 0, c: 0, d: 9, e: 0, f: 0, g: 0 });
});

test('values that do not fit, and wrong layouts, are refused', () => {
  const buf = Buffer.alloc(32);
  assert.throws(() => writeStruct(S, { a: 0x10000 }, buf, 0), /fits u16/);
  assert.throws(() => writeStruct(S, { f: -1 }, buf, 0), /fits u32/);
  assert.throws(() => writeStruct(S, { d: -1 }, buf, 0), /fits u64/);
  assert.throws(() => writeStruct(S, { d: 1.5 }, buf, 0), /safe integer/);
  assert.throws(() => writeStruct(S, {}, buf, 1), /fits the buffer/);
  assert.throws(() => readStruct(S, buf, 8), /inside the buffer/);
  assert.throws(() => defineStruct('short', 8, [['x', 'u32']]), /header says 8/);
  assert.throws(() => defineStruct('odd', 12, [['x', 'u32'], ['y', 'u64']]), /aligned/);
});

test.run();
