// Goal: the token bucket's arithmetic with an injected clock and sleep (no real waiting): a full
// bucket lets a burst through, then takers wait for exactly their share in the order they asked;
// a request larger than the bucket goes into debt; idle time refills up to the burst only; a
// rate of 0 never waits; close() wakes sleepers and refuses later takers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TokenBucket } from '../src/token-bucket.ts';

/** A clock that only moves when a taker sleeps (or the test moves it). */
function fakeTime(): {
  now: () => number; advance: (ms: number) => void; sleeps: number[];
  sleep: (ms: number, wake: AbortSignal) => Promise<void>;
} {
  let nowMs = 1_000_000;
  const sleeps: number[] = [];
  return {
    now: () => nowMs,
    advance: (ms) => { nowMs += ms; },
    sleeps,
    sleep: async (ms) => { sleeps.push(ms); },
  };
}

test('a burst passes, then each taker waits for its share in order', async () => {
  const t = fakeTime();
  const bucket = new TokenBucket({
    bytesPerSecond: 1000, burstBytes: 1000, nowMs: t.now, sleepMs: t.sleep,
  });
  assert.is(await bucket.take(600), true);
  assert.is(await bucket.take(400), true);
  assert.equal(t.sleeps, [], 'the burst needs no wait');
  // Three takers at the same instant: 500, 500, 1000 bytes owed at 1000 bytes/s.
  assert.is(bucket.reserve(500), 500);
  assert.is(bucket.reserve(500), 1000);
  assert.is(bucket.reserve(1000), 2000);
  // Two seconds later the debt is paid off; the bucket is empty, not full.
  t.advance(2000);
  assert.is(bucket.reserve(100), 100);
});

test('a take larger than the bucket goes into debt; idle time refills only to the burst', () => {
  const t = fakeTime();
  const bucket = new TokenBucket({
    bytesPerSecond: 8 * 1024 * 1024, burstBytes: 1024 * 1024, nowMs: t.now, sleepMs: t.sleep,
  });
  // A 64 MiB chunk at 8 MiB/s with 1 MiB in the bucket: 63 MiB owed, 7.875 s.
  assert.is(bucket.reserve(64 * 1024 * 1024), 7875);
  t.advance(7875 + 3_600_000);
  assert.is(bucket.reserve(1024 * 1024), 0, 'an hour idle refills one burst');
  assert.is(bucket.reserve(1), 1, 'and no more');
});

test('rate 0 never waits; close wakes sleepers and refuses later takers', async () => {
  const unlimited = new TokenBucket({ bytesPerSecond: 0 });
  for (let i = 0; i < 100; i++) assert.is(await unlimited.take(1024 ** 3), true);
  const slow = new TokenBucket({ bytesPerSecond: 1, burstBytes: 0 });
  const waiting = slow.take(3600); // an hour at 1 byte/s, woken by close()
  slow.close();
  assert.is(await waiting, false);
  assert.is(await slow.take(1), false);
  assert.ok(slow.closed);
});

test.run();
