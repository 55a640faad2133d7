// Goal: the folder cache keeps at most entriesMax folders (least recently used first), trusts
// an entry for ttlMs only, is off at ttlMs 0, and forgets a path and all below it at once.
// Method: an injected clock; no sockets.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FolderCache } from '../src/folder-cache.ts';

function clock() {
  const c = { ms: 0, now: () => c.ms };
  return c;
}

test('an entry is trusted for ttlMs, then looked up again', () => {
  const c = clock();
  const cache = new FolderCache({ entriesMax: 8, ttlMs: 1000, nowMs: c.now });
  cache.put('/a', 7);
  assert.is(cache.get('/a'), 7);
  c.ms = 999;
  assert.is(cache.get('/a'), 7);
  c.ms = 1000;
  assert.is(cache.get('/a'), null, 'expired');
  assert.is(cache.size, 0, 'an expired entry is dropped when met');
  assert.is(cache.hits, 2);
});

test('ttlMs 0 turns the cache off', () => {
  const cache = new FolderCache({ entriesMax: 8, ttlMs: 0 });
  cache.put('/a', 7);
  assert.is(cache.get('/a'), null);
  assert.is(cache.enabled, false);
});

test('the least recently used entry goes first past entriesMax', () => {
  const cache = new FolderCache({ entriesMax: 3, ttlMs: 1000, nowMs: () => 0 });
  cache.put('/a', 2);
  cache.put('/b', 3);
  cache.put('/c', 4);
  assert.is(cache.get('/a'), 2, 'used: now the newest');
  cache.put('/d', 5);
  assert.is(cache.size, 3);
  assert.is(cache.get('/b'), null, 'the least recently used went');
  assert.equal([cache.get('/a'), cache.get('/c'), cache.get('/d')], [2, 4, 5]);
});

test('dropTree forgets a path and everything below it, nothing beside it', () => {
  const cache = new FolderCache({ entriesMax: 16, ttlMs: 1000, nowMs: () => 0 });
  for (const [i, p] of ['/a', '/a/b', '/a/b/c', '/ab', '/x/a'].entries()) cache.put(p, i + 2);
  cache.dropTree('/a');
  assert.equal(['/a', '/a/b', '/a/b/c'].map((p) => cache.get(p)), [null, null, null]);
  assert.equal([cache.get('/ab'), cache.get('/x/a')], [5, 6], 'siblings and look-alikes stay');
  cache.dropTree('/');
  assert.is(cache.size, 0, 'below the root is everything');
});

test('drop counts an entry found wrong', () => {
  const cache = new FolderCache({ entriesMax: 4, ttlMs: 1000, nowMs: () => 0 });
  cache.put('/a', 2);
  cache.drop('/a');
  cache.drop('/a');
  assert.is(cache.get('/a'), null);
  assert.is(cache.stale, 1, 'only an entry that was there counts');
});

test.run();
