// Goal: the chunk pool hands out only chunks whose every copy was made and whose servers are
// still the ones it made them on, and deletes every chunk it gives up. Method: a real
// Chunkservers table with stand-in links, an order function that answers as told (and records
// each order), a recorded stray list, and a clock the test moves. Promises: bound to one holder,
// file and goal, redeemed once, deleted (never pooled again) when they lapse.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CHUNK_SIZE_BYTES, Status, type Link, type StatusCode } from '@antlerfs/protocol';
import {
  ChunkPool, POOL_IDLE_MS, POOLED_CHUNK_VERSION, PROMISE_TTL_MS,
} from '../src/chunk-pool.ts';
import { Chunkservers } from '../src/chunkservers.ts';

interface Rig {
  pool: ChunkPool;
  servers: Chunkservers;
  orders: Array<{ csId: number; chunkId: number; version: number }>;
  strays: Array<{ chunkId: number; version: number; csId: number }>;
  /** The status each server answers MATOCS_CREATE with. */
  answers: Map<number, StatusCode>;
  clock: { now: number };
  connect(csId: number): void;
}

function rig(size: number, serverCount = 3): Rig {
  const servers = new Chunkservers();
  const orders: Rig['orders'] = [];
  const strays: Rig['strays'] = [];
  const answers = new Map<number, StatusCode>();
  const clock = { now: 1_000_000 };
  let nextChunkId = 100;
  const connect = (csId: number): void => {
    const old = servers.get(csId);
    if (old?.link !== null && old?.link !== undefined) servers.lost(csId, clock.now);
    const link = { closed: false } as unknown as Link;
    const cs = servers.online({ csId, host: '127.0.0.1', port: 9000 + csId,
      totalBytes: 100 * CHUNK_SIZE_BYTES, freeBytes: 100 * CHUNK_SIZE_BYTES, link,
      nowMs: clock.now });
    cs.listComplete = true;
  };
  for (let csId = 1; csId <= serverCount; csId++) connect(csId);
  const pool = new ChunkPool({
    size, servers,
    order: async (csId, chunkId, version) => {
      orders.push({ csId, chunkId, version });
      return answers.get(csId) ?? Status.OK;
    },
    allocateChunkId: async () => nextChunkId++,
    deletions: {
      enqueueStray: (chunkId, version, csId) => strays.push({ chunkId, version, csId }),
    },
    nowMs: () => clock.now,
  });
  return { pool, servers, orders, strays, answers, clock, connect };
}

/** Lets the pool's creations (promises) run to their end. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

test('an empty pool misses, fills to its size, then hands out chunks made on goal servers',
  async () => {
    const r = rig(4);
    assert.is(r.pool.take(2), null, 'nothing made yet');
    await settle();
    assert.is(r.pool.size, 4);
    assert.is(r.orders.length, 8, 'two creations per chunk of goal 2');
    assert.ok(r.orders.every((o) => o.version === POOLED_CHUNK_VERSION));
    const made = new Set(r.orders.map((o) => o.chunkId));
    const got = r.pool.take(2)!;
    assert.ok(made.has(got.chunkId));
    assert.is(got.csIds.length, 2);
    assert.is(new Set(got.csIds).size, 2, 'distinct servers');
    assert.equal(r.orders.filter((o) => o.chunkId === got.chunkId).map((o) => o.csId).sort(),
      [...got.csIds].sort(), 'made on exactly the servers it names');
    assert.not.ok(r.pool.holds(got.chunkId), 'a chunk taken is no longer the pool\'s');
    assert.ok([...made].filter((id) => id !== got.chunkId).every((id) => r.pool.holds(id)));
    assert.equal(r.pool.counters.taken, 1);
    assert.equal(r.pool.counters.missed, 1);
    assert.equal(r.strays, []);
  });

test('a chunk is never handed out twice', async () => {
  const r = rig(3);
  r.pool.take(1);
  await settle();
  const ids = new Set<number>();
  for (let i = 0; i < 30; i++) {
    const got = r.pool.take(1);
    if (got !== null) {
      assert.not.ok(ids.has(got.chunkId), `chunk ${got.chunkId} handed out again`);
      ids.add(got.chunkId);
    }
    await settle();
  }
  assert.is(ids.size, 30, 'every take after the first fill found one');
});

test('a server that registered again, went away or is draining: its chunks are deleted',
  async () => {
    const r = rig(6, 3);
    r.pool.take(3);
    await settle();
    assert.is(r.pool.size, 6);
    r.connect(2); // a new link: the empty files may be gone with the old process
    assert.is(r.pool.take(3), null, 'no chunk on server 2\'s old link is handed out');
    assert.is(r.strays.length, 6 * 3, 'every copy of every chunk given up is deleted');
    assert.ok(r.strays.every((s) => s.version === POOLED_CHUNK_VERSION));
    await settle();
    assert.ok(r.pool.take(3) !== null, 'made again on the new link');
    r.strays.length = 0;
    r.servers.drainIds = new Set([1]);
    r.pool.tick();
    assert.is(r.pool.size, 0, 'the tick gives up chunks on a draining server');
    assert.ok(r.strays.some((s) => s.csId === 1));
  });

test('a failed creation deletes the copies made and waits before trying again', async () => {
  const r = rig(2, 2);
  r.answers.set(2, Status.ENOSPC);
  r.pool.take(2);
  await settle();
  assert.is(r.pool.size, 0);
  assert.ok(r.pool.counters.failed >= 1);
  assert.ok(r.strays.length >= 1 && r.strays.every((s) => s.csId === 1),
    'only the copy server 1 made is deleted');
  const ordersBefore = r.orders.length;
  r.answers.delete(2);
  assert.is(r.pool.take(2), null);
  await settle();
  assert.is(r.orders.length, ordersBefore, 'no new creation within the retry delay');
  r.clock.now += 2000;
  r.pool.take(2);
  await settle();
  assert.is(r.pool.size, 2, 'filled once the delay passed');
});

test('an idle pool is emptied; a smaller size or stop deletes chunks; size 0 makes nothing',
  async () => {
  const r = rig(3);
  r.pool.take(2);
  await settle();
  r.pool.setSize(2);
  assert.is(r.pool.size, 2, 'cut to the new size');
  assert.is(r.strays.length, 2, 'the chunk past it deleted (both copies)');
  r.pool.setSize(3);
  r.pool.take(2);
  await settle();
  assert.is(r.pool.size, 3, 'grown again on the next take');
  r.strays.length = 0;
  r.clock.now += POOL_IDLE_MS - 1;
  r.pool.tick();
  assert.is(r.pool.size, 3, 'not idle yet');
  r.clock.now += 1;
  r.pool.tick();
  assert.is(r.pool.size, 0);
  assert.is(r.strays.length, 3 * 2);
  r.pool.take(1);
  await settle();
  r.pool.stop();
  assert.is(r.pool.size, 0);
  assert.is(r.strays.length, 3 * 2 + 3);
  assert.is(r.pool.take(1), null, 'a stopped pool hands out nothing');

  const off = rig(0);
  assert.is(off.pool.take(2), null);
  await settle();
  assert.equal(off.orders, [], 'no creation when the pool is off');
});

/** A pool of `size` chunks of goal 2, filled. */
async function filled(size: number): Promise<Rig> {
  const r = rig(size);
  r.pool.take(2); // the first take makes the goal's pool
  await settle();
  assert.is(r.pool.size, size);
  return r;
}

test('a promise takes a ready chunk without refill; its holder redeems it once, for its file',
  async () => {
    const r = await filled(3);
    const made = r.orders.length;
    const p = r.pool.promise(2, 7, 500)!;
    assert.ok(p !== null);
    assert.is(r.pool.size, 2, 'taken from the ready ones');
    assert.ok(r.pool.holds(p.chunkId), 'a promised chunk is kept when a server lists it');
    await settle();
    assert.is(r.orders.length, made, 'a promise makes nothing');
    assert.is(r.pool.redeem(p.chunkId, 8, 500, 2), null, 'another holder cannot');
    assert.is(r.pool.promisedCount, 1, 'and leaves it alone');
    const got = r.pool.redeem(p.chunkId, 7, 500, 2)!;
    assert.equal(got, p);
    assert.not.ok(r.pool.holds(p.chunkId));
    assert.is(r.pool.redeem(p.chunkId, 7, 500, 2), null, 'once');
    await settle();
    assert.is(r.pool.size, 3, 'redeeming tops the pool up');
    assert.equal(r.strays, []);
    assert.equal([r.pool.counters.promised, r.pool.counters.redeemed, r.pool.counters.lapsed],
      [1, 1, 0]);
  });

test('a holder that redeemed its last promise gets its next one refilled at once', async () => {
  const r = await filled(3);
  const first = r.pool.promise(2, 7, 500)!;
  r.pool.redeem(first.chunkId, 7, 500, 2, true);
  await settle();
  assert.is(r.pool.size, 3, 'the redeem refilled');
  assert.equal([r.pool.counters.redeemed, r.pool.counters.redeemedAtEnd], [1, 1]);
  const made = r.orders.length;
  r.pool.promise(2, 7, 501);
  await settle();
  assert.is(r.pool.size, 3, 'a writing holder\'s promise refills before its redeem');
  assert.ok(r.orders.length > made);
  // Another holder, and this one once a promise of it lapsed: no refill at the promise.
  const other = r.orders.length;
  r.pool.promise(2, 8, 502);
  await settle();
  assert.is(r.orders.length, other, 'a holder that never redeemed');
  const lapsing = r.pool.promise(2, 7, 503)!;
  r.pool.release(lapsing.chunkId, 7);
  r.pool.take(2); // tops the pool up again
  await settle();
  const before = r.orders.length;
  r.pool.promise(2, 7, 504);
  await settle();
  assert.is(r.orders.length, before, 'nor one whose last promise lapsed');
});

test('promises that do not hold are deleted, never pooled again', async () => {
  const r = await filled(6);
  const strayIds = (): number[] => [...new Set(r.strays.map((s) => s.chunkId))];
  // Another file or goal: the holder's promise is deleted, nothing handed out.
  const a = r.pool.promise(2, 7, 500)!;
  assert.is(r.pool.redeem(a.chunkId, 7, 501, 2), null);
  const b = r.pool.promise(2, 7, 502)!;
  assert.is(r.pool.redeem(b.chunkId, 7, 502, 3), null);
  assert.equal(strayIds(), [a.chunkId, b.chunkId]);
  assert.equal(r.strays.filter((s) => s.chunkId === a.chunkId).map((s) => s.csId).sort(),
    [...a.csIds].sort(), 'every copy deleted');
  // Lapsed in time: at the tick, and at a redeem after it.
  const c = r.pool.promise(2, 7, 503)!;
  const d = r.pool.promise(2, 7, 504)!;
  r.clock.now += PROMISE_TTL_MS;
  assert.is(r.pool.redeem(c.chunkId, 7, 503, 2), null);
  r.pool.tick();
  assert.ok(strayIds().includes(c.chunkId) && strayIds().includes(d.chunkId));
  // The session ended; released because the file's chunk 0 got another chunk.
  const e = r.pool.promise(2, 9, 505)!;
  const f = r.pool.promise(2, 9, 506)!;
  r.pool.forgetHolder(9);
  assert.ok(strayIds().includes(e.chunkId) && strayIds().includes(f.chunkId));
  assert.is(r.pool.promisedCount, 0);
  assert.is(r.pool.counters.lapsed, 6);
  for (const id of strayIds()) assert.not.ok(r.pool.holds(id));
  // A server that registered again since: the promise does not hold.
  r.pool.take(2); // promises took the pool empty: a take refills it
  await settle();
  const h = r.pool.promise(2, 7, 508)!;
  r.pool.release(h.chunkId, 8);
  assert.is(r.pool.promisedCount, 1, 'release by another holder: kept');
  r.pool.release(h.chunkId, 7);
  assert.is(r.pool.promisedCount, 0, 'by its own: deleted');
  assert.ok(strayIds().includes(h.chunkId));
  const g = r.pool.promise(2, 7, 507)!;
  assert.ok(r.pool.promise(2, 7, 509) !== null);
  r.connect(g.csIds[0]!);
  assert.is(r.pool.redeem(g.chunkId, 7, 507, 2), null);
  assert.ok(strayIds().includes(g.chunkId));
  r.pool.stop();
  assert.is(r.pool.promisedCount, 0, 'stop deletes promised chunks too');
});

test('no promise from an empty, missing or disabled pool', async () => {
  const r = rig(2);
  assert.is(r.pool.promise(2, 7, 500), null, 'no pool of that goal yet');
  const r2 = await filled(1);
  assert.ok(r2.pool.promise(2, 7, 500) !== null);
  assert.is(r2.pool.promise(2, 7, 501), null, 'emptied by promises: no refill for them');
  const off = rig(0);
  off.pool.take(2);
  assert.is(off.pool.promise(2, 7, 500), null);
});

test.run();
