// Goal: small WRITE data is copied into buffers of its size class, a buffer is used again only
// after it was given back (so a copy still being sent keeps its bytes), never given back twice,
// and the idle buffers are bounded.
// Method: WriteCopies alone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  WRITE_COPIES_IDLE_PER_CLASS, WRITE_COPY_MIN_BYTES, WriteCopies, sizeClass,
} from '../src/fuse/write-copies.ts';

test('size classes are powers of two from the minimum', () => {
  assert.is(sizeClass(1), WRITE_COPY_MIN_BYTES);
  assert.is(sizeClass(WRITE_COPY_MIN_BYTES), WRITE_COPY_MIN_BYTES);
  assert.is(sizeClass(WRITE_COPY_MIN_BYTES + 1), 2 * WRITE_COPY_MIN_BYTES);
  assert.is(sizeClass(65536), 65536);
  assert.is(sizeClass(200_000), 262_144);
});

test('copies keep their bytes until given back; then the buffer is reused', () => {
  const pool = new WriteCopies();
  const one = pool.copy(Buffer.alloc(5000, 1));
  const two = pool.copy(Buffer.alloc(5000, 2));
  assert.is(one.copy.length, 5000);
  assert.ok(one.copy.equals(Buffer.alloc(5000, 1)), 'a copy not given back keeps its bytes');
  assert.ok(two.copy.equals(Buffer.alloc(5000, 2)));
  assert.is.not(one.copy.buffer, two.copy.buffer, 'two copies in flight never share memory');
  one.back();
  const three = pool.copy(Buffer.alloc(6000, 3));
  assert.is(three.copy.buffer, one.copy.buffer, 'the same size class reuses a given-back buffer');
  assert.is(pool.reused, 1);
  assert.ok(two.copy.equals(Buffer.alloc(5000, 2)), 'the other copy is untouched');
  const other = pool.copy(Buffer.alloc(100, 4));
  assert.is.not(other.copy.buffer, one.copy.buffer, 'another class does not take it');
  three.back();
  assert.throws(() => three.back(), /once/);
});

test('idle buffers are bounded per size class', () => {
  const pool = new WriteCopies();
  for (const size of [4096, 65536]) {
    const copies = Array.from({ length: WRITE_COPIES_IDLE_PER_CLASS + 4 },
      () => pool.copy(Buffer.alloc(size)));
    for (const c of copies) c.back();
  }
  assert.is(pool.idleCount, 2 * WRITE_COPIES_IDLE_PER_CLASS);
});

test.run();
