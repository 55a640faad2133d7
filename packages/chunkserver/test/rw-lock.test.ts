// Goal: the reader/writer lock grants in arrival order, lets readers share, keeps a writer
// alone, and does not let later readers overtake a waiting writer (nor a tryAcquire).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RwLock } from '../src/rw-lock.ts';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('readers share, a writer waits for them and excludes later readers', async () => {
  const lock = new RwLock();
  const events: string[] = [];
  let release1!: () => void;
  const r1 = lock.with('shared', () => new Promise<void>((r) => {
    events.push('r1');
    release1 = r;
  }));
  const r2 = lock.with('shared', async () => { events.push('r2'); });
  await tick();
  const w = lock.with('exclusive', async () => { events.push('w'); });
  const r3 = lock.with('shared', async () => { events.push('r3'); });
  await tick();
  assert.equal(events, ['r1', 'r2'], 'writer waits for r1; r3 waits behind the writer');
  release1();
  await Promise.all([r1, r2, w, r3]);
  assert.equal(events, ['r1', 'r2', 'w', 'r3']);
  assert.ok(lock.idle);
});

test('exclusive holders run one at a time in arrival order, even when work throws', async () => {
  const lock = new RwLock();
  const order: number[] = [];
  let inside = 0;
  const jobs = Array.from({ length: 20 }, (_, i) => lock.with('exclusive', async () => {
    inside++;
    assert.is(inside, 1, 'alone');
    await tick();
    order.push(i);
    inside--;
    if (i % 5 === 0) throw new Error(`job ${i}`);
  }).catch(() => undefined));
  await Promise.all(jobs);
  assert.equal(order, Array.from({ length: 20 }, (_, i) => i));
  assert.ok(lock.idle);
});

test('tryAcquire takes a free lock at once and never jumps a waiter', async () => {
  const lock = new RwLock();
  assert.ok(lock.tryAcquire('shared'));
  assert.ok(lock.tryAcquire('shared'), 'readers share');
  assert.not.ok(lock.tryAcquire('exclusive'), 'a writer does not get in beside readers');
  const writer = lock.acquire('exclusive');
  assert.not.ok(lock.tryAcquire('shared'), 'a reader does not overtake the waiting writer');
  lock.release('shared');
  lock.release('shared');
  await writer;
  assert.not.ok(lock.tryAcquire('shared'), 'the writer holds it alone');
  lock.release('exclusive');
  assert.ok(lock.idle);
});

test.run();
