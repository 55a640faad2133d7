// Goal: the namespace's POSIX rules, each error case by its status, and paged listing that
// stays correct while entries come and go. Method: a fresh tree per test, driven directly.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FsError, InodeType, SetAttr, type StatusName } from '@antlerfs/protocol';
import { Namespace, type CreateParams } from '../src/namespace.ts';
import type { DirNode, FileNode } from '../src/inode-table.ts';

let nextInode = 2;
function fresh(): Namespace {
  nextInode = 2;
  return Namespace.fresh({ timeMs: 1000, goal: 2, trashtimeS: 0 });
}

function mk(
  ns: Namespace, parent: number, name: string, type: number = InodeType.FILE,
  extra: Partial<CreateParams> = {},
): number {
  const node = ns.create({
    parent, name, inode: nextInode++, type, mode: 0o644, uid: 1, gid: 2, timeMs: 2000,
    target: 'x', ...extra,
  });
  return node.inode;
}

function fails(status: StatusName, fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, FsError);
    assert.is((err as FsError).code, status);
    return;
  }
  assert.unreachable(`expected ${status}`);
}

test('create, lookup, inheritance and times', () => {
  const ns = fresh();
  const d = mk(ns, 1, 'd', InodeType.DIR);
  ns.setGoal(d, 3, false, 2500);
  ns.setTrashtime(d, 86400, false, 2500);
  const f = mk(ns, d, 'f');
  const node = ns.node(f);
  assert.is(node.goal, 3, 'goal inherited from the parent');
  assert.is(node.trashtimeS, 86400, 'trashtime inherited');
  assert.is(ns.lookup(d, 'f').inode, f);
  assert.is(ns.lookup(d, '.').inode, d);
  assert.is(ns.lookup(d, '..').inode, 1);
  assert.is(ns.lookupPath('/d/f').inode, f);
  assert.is(ns.lookupPath('/d/./f').inode, f);
  assert.is(ns.lookupPath('/').inode, 1);
  assert.is(ns.dir(d).mtimeMs, 2000, 'parent mtime follows a create');
  assert.is(ns.dir(1).nlink, 3, 'root: 2 + one subdirectory');
  fails('ENOENT', () => ns.lookupPath('/d/g'));
  fails('ENOTDIR', () => ns.lookupPath('/d/f/g'));
  fails('EINVAL', () => ns.lookupPath('d/f'));
});

test('create errors: EEXIST, names, ENOTDIR, types', () => {
  const ns = fresh();
  const f = mk(ns, 1, 'f');
  fails('EEXIST', () => mk(ns, 1, 'f'));
  fails('EEXIST', () => mk(ns, 1, '.'));
  fails('EEXIST', () => mk(ns, 1, '..', InodeType.DIR));
  fails('EINVAL', () => mk(ns, 1, 'a/b'));
  fails('EINVAL', () => mk(ns, 1, 'a\0b'));
  fails('EINVAL', () => mk(ns, 1, ''));
  fails('ENAMETOOLONG', () => mk(ns, 1, 'x'.repeat(256)));
  mk(ns, 1, 'y'.repeat(255));
  fails('ENAMETOOLONG', () => mk(ns, 1, 'é'.repeat(128)), );
  fails('ENOTDIR', () => mk(ns, f, 'g'));
  fails('ENOENT', () => mk(ns, 999, 'g'));
  fails('EINVAL', () => mk(ns, 1, 'z', 9));
  fails('ENOENT', () => mk(ns, 1, 's', InodeType.SYMLINK, { target: '' }));
  assert.is(ns.inodes.size, 3, 'failed creates left nothing behind');
});

test('unlink and rmdir', () => {
  const ns = fresh();
  const d = mk(ns, 1, 'd', InodeType.DIR);
  const f = mk(ns, d, 'f');
  const file = ns.file(f) as FileNode;
  file.setChunk(0, 11);
  file.setChunk(5, 12);
  fails('ENOTEMPTY', () => ns.rmdir(1, 'd', 3000));
  fails('ENOTDIR', () => ns.rmdir(d, 'f', 3000));
  fails('EISDIR', () => ns.unlink(1, 'd', 3000));
  fails('EISDIR', () => ns.unlink(1, '.', 3000));
  fails('EINVAL', () => ns.rmdir(1, '.', 3000));
  fails('ENOTEMPTY', () => ns.rmdir(1, '..', 3000));
  fails('ENOENT', () => ns.unlink(d, 'nope', 3000));
  assert.equal(ns.unlink(d, 'f', 3000).sort(), [11, 12], 'the last name frees the chunks');
  assert.not.ok(ns.inodes.has(f), 'an unlinked inode is gone');
  ns.rmdir(1, 'd', 3000);
  assert.is(ns.dir(1).nlink, 2);
  assert.is(ns.inodes.size, 1);
});

test('hard links: nlink, EPERM on directories, chunks freed with the last name', () => {
  const ns = fresh();
  const f = mk(ns, 1, 'f');
  (ns.file(f) as FileNode).setChunk(0, 7);
  const d = mk(ns, 1, 'd', InodeType.DIR);
  ns.link(f, d, 'g', 3000);
  assert.is(ns.node(f).nlink, 2);
  assert.is(ns.node(f).ctimeMs, 3000);
  fails('EPERM', () => ns.link(d, 1, 'd2', 3000));
  fails('EEXIST', () => ns.link(f, 1, 'd', 3000));
  assert.equal(ns.unlink(1, 'f', 4000), [], 'chunks stay while a name is left');
  assert.is(ns.lookupPath('/d/g').inode, f);
  assert.equal(ns.unlink(d, 'g', 4000), [7]);
});

test('rename: POSIX cases', () => {
  const ns = fresh();
  const a = mk(ns, 1, 'a', InodeType.DIR);
  const b = mk(ns, a, 'b', InodeType.DIR);
  const c = mk(ns, b, 'c', InodeType.DIR);
  const f = mk(ns, 1, 'f');
  const g = mk(ns, 1, 'g');
  (ns.file(g) as FileNode).setChunk(0, 99);
  const empty = mk(ns, 1, 'empty', InodeType.DIR);
  const full = mk(ns, 1, 'full', InodeType.DIR);
  mk(ns, full, 'x');
  const r = (sp: number, sn: string, dp: number, dn: string): number[] =>
    ns.rename({ srcParent: sp, srcName: sn, dstParent: dp, dstName: dn, timeMs: 5000 });

  fails('EINVAL', () => r(1, 'a', b, 'a2'));
  fails('EINVAL', () => r(1, 'a', c, 'a2'));
  fails('EINVAL', () => r(1, 'a', a, 'a2'));
  fails('ENOTEMPTY', () => r(1, 'a', 1, 'full'));
  fails('ENOTDIR', () => r(1, 'a', 1, 'f'));
  fails('EISDIR', () => r(1, 'f', 1, 'a'));
  fails('ENOENT', () => r(1, 'nope', 1, 'x'));
  fails('EINVAL', () => r(1, '.', 1, 'x'));
  fails('EINVAL', () => r(1, 'f', 1, '..'));
  fails('ENOTDIR', () => r(1, 'f', f, 'x'));

  assert.equal(r(1, 'f', 1, 'f'), [], 'rename onto itself is a no-op');
  ns.link(f, 1, 'f2', 5000);
  assert.equal(r(1, 'f', 1, 'f2'), [], 'same inode under both names: no-op');
  assert.ok(ns.dir(1).children.has('f') && ns.dir(1).children.has('f2'));

  assert.equal(r(1, 'f', 1, 'g'), [99], 'replacing a file frees its chunks');
  assert.is(ns.lookup(1, 'g').inode, f);
  assert.not.ok(ns.inodes.has(g));

  const rootLinks = ns.dir(1).nlink;
  r(1, 'a', 1, 'empty');
  assert.not.ok(ns.inodes.has(empty), 'an empty directory is replaced');
  assert.is(ns.lookup(1, 'empty').inode, a);
  assert.is(ns.dir(1).nlink, rootLinks - 1);

  r(b, 'c', 1, 'c');
  assert.is((ns.node(c) as DirNode).parent, 1, 'a moved directory knows its new parent');
  assert.is(ns.dir(b).nlink, 2);
  assert.is(ns.node(c).ctimeMs, 5000);
  assert.is(ns.checkRestored(), null, 'tree invariants hold');
});

test('exchange: two names swap what they refer to; folders keep their counts right', () => {
  const ns = fresh();
  const a = mk(ns, 1, 'a', InodeType.DIR);
  const b = mk(ns, a, 'b', InodeType.DIR);
  const f = mk(ns, 1, 'f');
  const g = mk(ns, a, 'g');
  const x = (sp: number, sn: string, dp: number, dn: string): void =>
    ns.exchange({ srcParent: sp, srcName: sn, dstParent: dp, dstName: dn, timeMs: 7000 });
  fails('ENOENT', () => x(1, 'f', 1, 'nope'));
  fails('ENOENT', () => x(1, 'nope', 1, 'f'));
  fails('EINVAL', () => x(1, 'a', a, 'b')); // a folder into itself
  fails('EINVAL', () => x(1, '.', 1, 'f'));
  fails('ENOTDIR', () => x(f, 'x', 1, 'f'));
  // Files in two folders.
  x(1, 'f', a, 'g');
  assert.equal([ns.lookup(1, 'f').inode, ns.lookup(a, 'g').inode], [g, f]);
  assert.is(ns.node(f).ctimeMs, 7000);
  assert.is(ns.dir(a).mtimeMs, 7000);
  // A folder and a file across folders: link counts and the folder's parent follow.
  const rootLinks = ns.dir(1).nlink;
  const aLinks = ns.dir(a).nlink;
  x(a, 'b', 1, 'f'); // b (a folder in a) <-> g (a file in the root)
  assert.equal([ns.lookup(1, 'f').inode, ns.lookup(a, 'b').inode], [b, g]);
  assert.is((ns.node(b) as DirNode).parent, 1);
  assert.equal([ns.dir(1).nlink, ns.dir(a).nlink], [rootLinks + 1, aLinks - 1]);
  // Within one folder, and one file under both names: a no-op.
  x(1, 'a', 1, 'f');
  assert.equal([ns.lookup(1, 'a').inode, ns.lookup(1, 'f').inode], [b, a]);
  ns.link(g, 1, 'g2', 7000);
  x(a, 'b', 1, 'g2');
  assert.is(ns.lookup(1, 'g2').inode, g);
  assert.is(ns.checkRestored(), null, 'tree invariants hold');
});

test('setattr and truncate', () => {
  const ns = fresh();
  const f = mk(ns, 1, 'f');
  const zero = { mode: 0, uid: 0, gid: 0, atimeMs: 0, mtimeMs: 0 };
  const modeUid = SetAttr.MODE | SetAttr.UID;
  ns.setattr({ ...zero, inode: f, setMask: modeUid, mode: 0o100755, uid: 7, timeMs: 6000 });
  const node = ns.node(f);
  assert.is(node.mode, 0o755, 'only permission bits are kept');
  assert.is(node.uid, 7);
  assert.is(node.gid, 2, 'unset fields keep their value');
  assert.is(node.ctimeMs, 6000);
  const times = SetAttr.ATIME | SetAttr.MTIME;
  ns.setattr({ ...zero, inode: f, setMask: times, atimeMs: 11, mtimeMs: 12, timeMs: 6100 });
  assert.is(node.atimeMs, 11);
  assert.is(node.mtimeMs, 12);
  fails('EINVAL', () => ns.setattr({ ...zero, inode: f, setMask: SetAttr.LENGTH, timeMs: 0 }));
  const file = ns.file(f);
  const MiB64 = 64 * 1024 * 1024;
  for (const i of [0, 1, 2, 3]) file.setChunk(i, 100 + i);
  ns.truncate(f, 4 * MiB64, 7000);
  assert.is(file.lengthBytes, 4 * MiB64, 'grow: only the length changes');
  assert.equal(ns.truncate(f, MiB64 + 5, 7100).sort(), [102, 103], 'whole chunks past the end go');
  assert.equal([...file.chunks.keys()], [0, 1], 'the cut chunk stays');
  assert.equal(ns.truncate(f, 0, 7200).sort(), [100, 101]);
  assert.is(file.mtimeMs, 7200);
  fails('EFBIG', () => ns.truncate(f, 2 ** 51, 7300));
  const d = mk(ns, 1, 'd', InodeType.DIR);
  fails('EISDIR', () => ns.truncate(d, 0, 7300));
  const s = mk(ns, 1, 's', InodeType.SYMLINK, { target: '/f' });
  fails('EINVAL', () => ns.truncate(s, 0, 7300));
  assert.is(ns.node(s).mode, 0o777);
});

test('recursive goal and trashtime walk without recursion', () => {
  const ns = fresh();
  let parent = 1;
  for (let depth = 0; depth < 5000; depth++) parent = mk(ns, parent, 'd', InodeType.DIR);
  mk(ns, parent, 'leaf');
  assert.is(ns.setGoal(1, 4, true, 8000), 5002, 'root, 5000 directories and the leaf');
  assert.is(ns.lookup(parent, 'leaf').goal, 4);
  assert.is(ns.setGoal(1, 4, true, 8000), 0, 'nothing left to change');
  assert.is(ns.setTrashtime(1, 60, false, 8000), 1);
  fails('EINVAL', () => ns.setGoal(1, 0, false, 8000));
  fails('EINVAL', () => ns.setGoal(1, 10, false, 8000));
});

test('readdir pages in name order while the directory changes', () => {
  const ns = fresh();
  const d = mk(ns, 1, 'd', InodeType.DIR);
  const names: string[] = [];
  for (let i = 0; i < 100; i++) names.push(`n${String(i).padStart(3, '0')}`);
  for (const n of [...names].reverse()) mk(ns, d, n);
  const seen: string[] = [];
  let cursor = '';
  let pages = 0;
  for (;;) {
    const page = ns.readdir(d, cursor, 7);
    pages++;
    seen.push(...page.entries.map((e) => e.name));
    cursor = page.nextCursor;
    if (pages === 3) {
      ns.unlink(d, 'n050', 9000); // ahead of the cursor: never listed
      ns.unlink(d, 'n001', 9000); // behind: already listed
      mk(ns, d, 'n0505'); // ahead: listed
      mk(ns, d, 'a'); // behind the cursor: not listed in this pass
    }
    if (page.end) break;
    assert.ok(pages < 100, 'paging ends');
  }
  const expected = names.filter((n) => n !== 'n050');
  expected.splice(expected.indexOf('n051'), 0, 'n0505');
  assert.equal(seen, expected);
  const dir = ns.dir(d);
  assert.equal(dir.sortedNames, [...dir.children.keys()].sort(), 'the kept order matches a sort');
  const all = ns.readdir(d, '', 4096);
  assert.ok(all.end);
  assert.equal(all.entries.map((e) => e.name), [...all.entries.map((e) => e.name)].sort());
  assert.is(all.entries[0]!.name, 'a');
  const empty = ns.readdir(mk(ns, 1, 'e', InodeType.DIR), '', 10);
  assert.equal([empty.entries.length, empty.end, empty.nextCursor], [0, true, '']);
  fails('ENOTDIR', () => ns.readdir(ns.lookup(d, 'a').inode, '', 10));
});

test.run();
