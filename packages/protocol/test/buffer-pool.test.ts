// Goal: a pool hands out buffers of exactly the size asked, reuses only buffers given back (of
// that size), refuses a buffer given back twice, and keeps no more idle buffers than its limits.
// Method: BufferPool alone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BufferPool } from '../src/index.ts';

test('reuse by exact size, counted; a buffer is given back once', () => {
  const pool = new BufferPool({ perSizeMax: 4 });
  const a = pool.take(1000);
  const b = pool.take(1000);
  assert.is(a.length, 1000);
  assert.is.not(a, b, 'two buffers taken are two buffers');
  pool.give(a);
  assert.is(pool.take(2000).length, 2000, 'another size is not served by it');
  assert.is(pool.take(1000), a, 'the buffer given back is taken again');
  assert.equal(pool.counters, { reused: 1, allocated: 3 });
  pool.give(b);
  assert.throws(() => pool.give(b), /once/);
});

test('idle buffers are bounded per size and in bytes', () => {
  const perSize = new BufferPool({ perSizeMax: 2 });
  for (const buf of [1, 2, 3].map(() => perSize.take(64))) perSize.give(buf);
  assert.is(perSize.idleCount, 2);
  const bytes = new BufferPool({ perSizeMax: 100, bytesMax: 1000 });
  for (const buf of [1, 2, 3, 4].map(() => bytes.take(300))) bytes.give(buf);
  assert.is(bytes.idleCount, 3, '3 x 300 bytes fit 1,000, a fourth does not');
});

test.run();
