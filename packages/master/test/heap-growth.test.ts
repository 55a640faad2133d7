// Goal: the heap growth limit is set once per process (a second call is a bug). Method: call it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HEAP_GROWING_PERCENT, limitHeapGrowth } from '../src/heap-growth.ts';

test('limits once; a second call asserts', () => {
  assert.ok(HEAP_GROWING_PERCENT > 0 && HEAP_GROWING_PERCENT <= 100);
  limitHeapGrowth();
  assert.throws(() => limitHeapGrowth(), /once/);
});

test.run();
