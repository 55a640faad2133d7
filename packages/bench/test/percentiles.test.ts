// Goal: latency percentiles are the nearest-rank ones and the recorder keeps to its size.
// Method: known sample sets (1..100, a single value, unsorted input) and the recorder's limits.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LatencyRecorder, percentile } from '../src/percentiles.ts';

test('nearest rank: p50 and p99 of 1..100 are 50 and 99; p100 is the largest', () => {
  const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
  assert.is(percentile(sorted, 50), 50);
  assert.is(percentile(sorted, 99), 99);
  assert.is(percentile(sorted, 100), 100);
  assert.is(percentile(Float64Array.of(7), 50), 7);
  assert.is(percentile(Float64Array.of(7), 99), 7);
  assert.is(percentile(Float64Array.of(1, 2, 3), 50), 2);
  assert.throws(() => percentile(new Float64Array(0), 50), /at least one/);
  assert.throws(() => percentile(sorted, 0), /percentile in/);
});

test('the recorder sorts what it was given, in any order, numerically', () => {
  const r = new LatencyRecorder(10);
  for (const ms of [9, 1, 10, 2, 8, 3, 7, 4, 6, 5]) r.add(ms);
  assert.equal(r.summary(), { p50Ms: 5, p99Ms: 10, count: 10 });
  const big = new LatencyRecorder(3);
  for (const ms of [100, 20, 3]) big.add(ms); // numeric order, not the strings' order
  assert.equal(big.summary(), { p50Ms: 20, p99Ms: 100, count: 3 });
});

test('the recorder refuses samples past its size, negative times, an empty summary', () => {
  const r = new LatencyRecorder(1);
  assert.throws(() => r.summary(), /at least one op/);
  r.add(1);
  assert.throws(() => r.add(1), /more ops/);
  assert.throws(() => new LatencyRecorder(2).add(-1), /not negative/);
  assert.throws(() => new LatencyRecorder(0), /positive count/);
  const timed = new LatencyRecorder(1);
  timed.since(performance.now());
  assert.is(timed.size, 1);
  assert.ok(timed.summary().p50Ms >= 0);
});

test.run();
