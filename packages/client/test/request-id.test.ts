// Goal: request ids follow the Link's numbering (1..REQUEST_ID_MAX, then 1 again), and the
// distance between two ids is counted forward around that circle.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  nextRequestId, previousRequestId, REQUEST_ID_MAX, requestIdDistance,
} from '../src/request-id.ts';

test('next and previous wrap like the Link', () => {
  assert.is(nextRequestId(1), 2);
  assert.is(nextRequestId(REQUEST_ID_MAX), 1);
  assert.is(previousRequestId(1), REQUEST_ID_MAX);
  assert.is(previousRequestId(10), 9);
  assert.throws(() => nextRequestId(0));
  assert.throws(() => previousRequestId(REQUEST_ID_MAX + 1));
});

test('distance counts forward across the wrap', () => {
  assert.is(requestIdDistance(5, 5), 0);
  assert.is(requestIdDistance(5, 9), 4);
  assert.is(requestIdDistance(REQUEST_ID_MAX - 1, 2), 3);
  assert.is(requestIdDistance(9, 5), REQUEST_ID_MAX - 4);
});

test.run();
