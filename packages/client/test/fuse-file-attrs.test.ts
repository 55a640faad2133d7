// Goal: file attributes kept for LOOKUPs are the master's, for the attribute timeout at most
// (with what is left of it), never a directory's, bounded in number, dropped on any change
// here (also when the answer was asked for before the change), and moved to a rename's
// ctime. (LOOKUPs answered from them through a real mount: test/cluster/mount-two-mounts.)
// Method: FileAttrs with an injected clock.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InodeType } from '@antlerfs/protocol';
import type { Attr } from '../src/index.ts';
import { FILE_ATTRS_MAX, FileAttrs } from '../src/fuse/file-attrs.ts';

function attr(inode: number, type: Attr['type'] = InodeType.FILE, ctimeMs = 5): Attr {
  return {
    inode, type, mode: 0o644, uid: 0, gid: 0, atimeMs: 5, mtimeMs: 5, ctimeMs, nlink: 1,
    length: 10, goal: 1, trashtimeS: 0,
  };
}

test('kept for the timeout with what is left of it; changes drop them; renames move ctime', () => {
  const c = { ms: 0 };
  const fa = new FileAttrs({ attrMs: 1000, nowMs: () => c.ms });
  fa.fetched(attr(7), fa.since());
  fa.fetched(attr(8, InodeType.DIR), fa.since());
  fa.fetched(attr(9, InodeType.SYMLINK), fa.since());
  assert.is(fa.get(8), null, 'directories are not kept here');
  c.ms = 400;
  assert.equal(fa.get(7), { attr: attr(7), remainingMs: 600 });
  assert.ok(fa.get(9) !== null);
  const beforeRename = fa.since();
  fa.renamed(7, 450);
  assert.is(fa.get(7)?.attr.ctimeMs, 450);
  fa.fetched(attr(7), beforeRename); // asked for before the rename: its ctime is the old one
  assert.is(fa.get(7)?.attr.ctimeMs, 450);
  fa.renamed(7, 100); // older than what is known: not trusted
  assert.is(fa.get(7), null);
  fa.fetched(attr(7), fa.since());
  fa.renamed(7, null);
  assert.is(fa.get(7), null, 'a rename whose ctime is not known drops them');
  fa.changed(9);
  assert.is(fa.get(9), null);
  fa.fetched(attr(10), fa.since());
  c.ms = 1400;
  assert.is(fa.get(10), null, 'expired');
  assert.is(fa.size, 0);
  const never = new FileAttrs({ attrMs: 0 });
  never.fetched(attr(1), 0);
  assert.is(never.get(1), null, 'a timeout of 0 keeps nothing');
});

test('attributes asked for before a change here and answered after it are not kept', () => {
  const fa = new FileAttrs({ attrMs: 1000, nowMs: () => 0 });
  const mark = fa.since();
  fa.changed(7); // e.g. opened, written and closed while a READDIR was on its way
  fa.fetched(attr(7), mark);
  assert.is(fa.get(7), null);
  fa.fetched(attr(8), mark);
  assert.ok(fa.get(8) !== null, 'other inodes are kept');
  fa.fetched(attr(7), fa.since());
  assert.ok(fa.get(7) !== null, 'asked for after the change: kept');
  // Past the bound of changes remembered, a forgotten inode counts as just changed.
  for (let i = 1; i <= FILE_ATTRS_MAX + 1; i++) fa.changed(1000 + i);
  fa.fetched(attr(1001), mark);
  assert.is(fa.get(1001), null);
});

test('bounded: past FILE_ATTRS_MAX the oldest goes', () => {
  const fa = new FileAttrs({ attrMs: 1000, nowMs: () => 0 });
  for (let i = 1; i <= FILE_ATTRS_MAX + 10; i++) fa.fetched(attr(i), fa.since());
  assert.is(fa.size, FILE_ATTRS_MAX);
  assert.is(fa.get(1), null);
  assert.ok(fa.get(FILE_ATTRS_MAX + 10) !== null);
});

test.run();
