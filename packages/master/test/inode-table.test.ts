// Goal: the paged inode table and the compact nodes behave as the Map they replace: numbers
// across pages, pages that empty out, counts by type, iteration, and a file's chunk map made
// by its first chunk and dropped with its last. Method: tables built in memory.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InodeType } from '@antlerfs/protocol';
import {
  FileNode, INODE_PAGE_SIZE, InodeTable, attrOf, newDir, newFile, newSymlink, type NodeInit,
} from '../src/inode-table.ts';

function init(inode: number): NodeInit {
  return { inode, mode: 0o644, uid: 1, gid: 2, timeMs: 1_700_000_000_123, goal: 2, trashtimeS: 9 };
}

test('add, get, remove across pages; an emptied page goes', () => {
  const table = new InodeTable();
  const numbers = [1, 2, INODE_PAGE_SIZE - 1, INODE_PAGE_SIZE, 5 * INODE_PAGE_SIZE + 3,
    0xffffffff];
  for (const n of numbers) table.add(newFile(init(n)));
  table.add(newDir(init(7), 1));
  assert.is(table.size, numbers.length + 1);
  assert.is(table.count(InodeType.FILE), numbers.length);
  assert.is(table.count(InodeType.DIR), 1);
  for (const n of numbers) assert.is(table.get(n)?.inode, n);
  assert.is(table.get(3), undefined);
  assert.is(table.has(INODE_PAGE_SIZE + 1), false);
  assert.equal([...table.values()].map((n) => n.inode).sort((a, b) => a - b),
    [...numbers, 7].sort((a, b) => a - b));
  table.remove(table.get(INODE_PAGE_SIZE)!);
  table.remove(table.get(5 * INODE_PAGE_SIZE + 3)!);
  assert.is(table.has(5 * INODE_PAGE_SIZE + 3), false);
  assert.is(table.size, numbers.length - 1);
  table.add(newSymlink(init(5 * INODE_PAGE_SIZE + 3), '/t'));
  assert.is(table.get(5 * INODE_PAGE_SIZE + 3)?.type, InodeType.SYMLINK);
  assert.is(table.count(InodeType.SYMLINK), 1);
});

test('adding a number twice or removing a node twice is a bug', () => {
  const table = new InodeTable();
  const f = newFile(init(10));
  table.add(f);
  assert.throws(() => table.add(newFile(init(10))), /added twice/);
  table.remove(f);
  assert.throws(() => table.remove(f), /removed twice/);
});

test('types come from the class; attributes round-trip through attrOf', () => {
  const f = newFile(init(3));
  assert.is(f.type, InodeType.FILE);
  assert.is(Object.hasOwn(f, 'type'), false);
  assert.is(newDir(init(4), 1).type, InodeType.DIR);
  const a = attrOf(f);
  assert.equal([a.type, a.mode, a.uid, a.gid, a.goal, a.trashtimeS, a.nlink, a.length],
    [InodeType.FILE, 0o644, 1, 2, 2, 9, 1, 0]);
  assert.equal([a.atimeMs, a.mtimeMs, a.ctimeMs], [1_700_000_000_123, 1_700_000_000_123,
    1_700_000_000_123]);
});

test('a file has no chunk map until its first chunk and none after its last', () => {
  const f = new FileNode(init(5));
  assert.is(f.chunks.size, 0);
  assert.is(f.chunks, new FileNode(init(6)).chunks, 'files without chunks share one map');
  f.setChunk(3, 33);
  f.setChunk(0, 30);
  assert.equal([...f.chunks], [[3, 33], [0, 30]]);
  assert.is.not(f.chunks, new FileNode(init(6)).chunks);
  f.deleteChunk(3);
  assert.equal([...f.chunks], [[0, 30]]);
  f.deleteChunk(0);
  assert.is(f.chunks.size, 0);
  assert.throws(() => f.deleteChunk(0), /chunk index 0/);
});

test.run();
