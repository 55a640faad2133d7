// Goal: READ reply buffers are reused only when given back, never twice, and the idle pool is
// bounded; reads larger than the pool's size get buffers of their own that are not kept.
// Method: ReadBuffers alone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { READ_BUFFERS_IDLE_MAX, ReadBuffers } from '../src/fuse/read-buffers.ts';

test('buffers given back are reused; the idle pool is bounded', () => {
  const pool = new ReadBuffers(1024);
  const a = pool.take(100);
  assert.is(a.length, 1024, 'a pool-sized buffer for a smaller read');
  const b = pool.take(1024);
  assert.ok(a !== b, 'two reads in flight never share a buffer');
  pool.give(a);
  assert.ok(pool.take(10) === a, 'reused once given back');
  const big = pool.take(4096);
  assert.is(big.length, 4096);
  pool.give(big);
  assert.is(pool.idleCount, 0, 'a larger buffer is not kept');
  const many = Array.from({ length: READ_BUFFERS_IDLE_MAX + 5 }, () => pool.take(1));
  for (const buf of many) pool.give(buf);
  assert.is(pool.idleCount, READ_BUFFERS_IDLE_MAX);
  const again = new ReadBuffers(1024);
  const c = again.take(1);
  again.give(c);
  assert.throws(() => again.give(c), /once/);
});

test.run();
