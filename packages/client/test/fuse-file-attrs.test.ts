// Goal: file attributes kept for LOOKUPs are the master's, for the attribute timeout at most
// (with what is left of it), never a directory's, bounded in number, dropped on any change
// here, and moved to a rename's ctime. (LOOKUPs answered from them through a real mount:
// test/cluster/mount-two-mounts.test.ts.) Method: FileAttrs with an injected clock.
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
  fa.fetched(attr(7));
  fa.fetched(attr(8, InodeType.DIR));
  fa.fetched(attr(9, InodeType.SYMLINK));
  assert.is(fa.get(8), null, 'directories are not kept here');
  c.ms = 400;
  assert.equal(fa.get(7), { attr: attr(7), remainingMs: 600 });
  assert.ok(fa.get(9) !== null);
  fa.renamed(7, 450);
  assert.is(fa.get(7)?.attr.ctimeMs, 450);
  fa.renamed(7, 100); // older than what is known: not trusted
  assert.is(fa.get(7), null);
  fa.fetched(attr(7));
  fa.renamed(7, null);
  assert.is(fa.get(7), null, 'a rename whose ctime is not known drops them');
  fa.changed(9);
  assert.is(fa.get(9), null);
  fa.fetched(attr(10));
  c.ms = 1400;
  assert.is(fa.get(10), null, 'expired');
  assert.is(fa.size, 0);
  const never = new FileAttrs({ attrMs: 0 });
  never.fetched(attr(1));
  assert.is(never.get(1), null, 'a timeout of 0 keeps nothing');
});

test('bounded: past FILE_ATTRS_MAX the oldest goes', () => {
  const fa = new FileAttrs({ attrMs: 1000, nowMs: () => 0 });
  for (let i = 1; i <= FILE_ATTRS_MAX + 10; i++) fa.fetched(attr(i));
  assert.is(fa.size, FILE_ATTRS_MAX);
  assert.is(fa.get(1), null);
  assert.ok(fa.get(FILE_ATTRS_MAX + 10) !== null);
});

test.run();
