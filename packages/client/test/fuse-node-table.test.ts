// Goal: the kernel's lookup counts: each entry handed over counts one, FORGET gives counts back,
// a node at zero is dropped with what was remembered about it, the root stays, and a forget of
// more than was given is refused and counted (it would be a bug in our counting).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NodeTable } from '../src/fuse/node-table.ts';

test('lookups and forgets', () => {
  const t = new NodeTable();
  assert.is(t.lookups(1), 1, 'the root is held from the mount on');
  t.remember(5);
  t.remember(5);
  t.remember(9);
  assert.is(t.lookups(5), 2);
  assert.ok(t.forget(5, 1));
  assert.is(t.lookups(5), 1);
  assert.ok(t.forget(5, 1));
  assert.is(t.lookups(5), 0);
  assert.is(t.size, 2, 'root and 9');
  assert.not.ok(t.forget(5, 1), 'a forgotten node');
  assert.not.ok(t.forget(9, 2), 'more than was given');
  assert.is(t.unknownForgets, 2);
  assert.ok(t.forget(1, 1));
  assert.is(t.lookups(1), 0);
  assert.is(t.size, 1, 'the root entry stays even at zero');
  assert.throws(() => t.remember(0), /node id/);
});

test('versions of cached file data', () => {
  const t = new NodeTable();
  t.remember(4);
  assert.is(t.noteCachedVersion(4, '10:100'), 'unknown');
  assert.is(t.noteCachedVersion(4, '10:100'), 'same');
  assert.is(t.noteCachedVersion(4, '11:200'), 'changed');
  t.dataChanged(4);
  assert.is(t.noteCachedVersion(4, '11:200'), 'unknown');
  assert.is(t.noteCachedVersion(77, '1:1'), 'unknown', 'a node the kernel does not hold');
  t.forget(4, 1);
  t.remember(4);
  assert.is(t.noteCachedVersion(4, '11:200'), 'unknown', 'forgotten with its node');
});

test.run();
