// Goal: the random offsets every random-read measurement uses are the same in every run, stay
// in range and spread over the whole file. Method: two generators of one seed side by side, and
// the buckets a few thousand draws fall into.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededOffsets } from '../src/paths/path-context.ts';

test('one seed gives one sequence; another seed another', () => {
  const a = new SeededOffsets(42);
  const b = new SeededOffsets(42);
  const c = new SeededOffsets(43);
  const draws = Array.from({ length: 100 }, () => [a.next(1000), b.next(1000), c.next(1000)]);
  assert.ok(draws.every(([x, y]) => x === y));
  assert.ok(draws.some(([x, , z]) => x !== z));
});

test('draws stay in [0, n) and reach every tenth of the range', () => {
  const r = new SeededOffsets(7);
  const buckets = new Array<number>(10).fill(0);
  for (let i = 0; i < 5000; i++) {
    const v = r.next(16384);
    assert.ok(Number.isInteger(v) && v >= 0 && v < 16384, `draw ${v}`);
    buckets[Math.floor(v / 1638.4)]!++;
  }
  assert.ok(buckets.every((n) => n > 0), `buckets ${buckets.join(',')}`);
  const zero = new SeededOffsets(0);
  assert.is.not(zero.next(1e9), zero.next(1e9), 'a zero seed still moves');
});

test.run();
