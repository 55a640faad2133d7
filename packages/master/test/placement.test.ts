// Goal: placement picks distinct servers, as many as the goal or as there are usable servers,
// skips full ones, answers NO_CHUNKSERVERS / ENOSPC, and weights by free space. Method: a
// seeded random source and a bounded number of draws.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CHUNK_SIZE_BYTES } from '@antlerfs/protocol';
import { placeCopies } from '../src/placement.ts';

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const GiB = 1024 ** 3;
const servers = [1, 2, 3, 4, 5].map((csId) => ({ csId, freeBytes: csId * 10 * GiB }));

test('distinct servers, count = min(goal, usable)', () => {
  const random = seeded(1);
  for (let i = 0; i < 500; i++) {
    const goal = 1 + (i % 9);
    const r = placeCopies(goal, servers, random);
    assert.ok('csIds' in r);
    if (!('csIds' in r)) return;
    assert.is(r.csIds.length, Math.min(goal, servers.length));
    assert.is(new Set(r.csIds).size, r.csIds.length, 'distinct');
  }
});

test('goal above the server count gives every server', () => {
  const r = placeCopies(9, servers.slice(0, 2), seeded(2));
  assert.ok('csIds' in r && [...r.csIds].sort().join() === '1,2');
});

test('full servers are skipped; none usable -> ENOSPC; none at all -> NO_CHUNKSERVERS', () => {
  const some = [
    { csId: 1, freeBytes: CHUNK_SIZE_BYTES - 1 }, { csId: 2, freeBytes: CHUNK_SIZE_BYTES },
    { csId: 3, freeBytes: 0 },
  ];
  for (let i = 0; i < 50; i++) {
    const r = placeCopies(3, some, seeded(i));
    assert.equal(r, { csIds: [2] });
  }
  assert.equal(placeCopies(2, [some[0]!, some[2]!]), { status: 'ENOSPC' });
  assert.equal(placeCopies(2, []), { status: 'NO_CHUNKSERVERS' });
});

test('weighted by free space, random among equals', () => {
  const random = seeded(3);
  const counts = new Map<number, number>();
  const draws = 20_000;
  for (let i = 0; i < draws; i++) {
    const r = placeCopies(1, servers, random);
    if ('csIds' in r) counts.set(r.csIds[0]!, (counts.get(r.csIds[0]!) ?? 0) + 1);
  }
  // Expected shares 1/15 .. 5/15; a loose band keeps this a check of the weighting, not luck.
  for (const cs of servers) {
    const share = (counts.get(cs.csId) ?? 0) / draws;
    assert.ok(Math.abs(share - cs.csId / 15) < 0.02, `server ${cs.csId} share ${share}`);
  }
  const equal = [{ csId: 1, freeBytes: GiB }, { csId: 2, freeBytes: GiB }];
  let first = 0;
  for (let i = 0; i < 2000; i++) {
    const r = placeCopies(1, equal, random);
    if ('csIds' in r && r.csIds[0] === 1) first++;
  }
  assert.ok(first > 800 && first < 1200, `equals split evenly: ${first} of 2000`);
});

test.run();
