// Goal: an open directory lists "." and ".." then the master's pages in order, fetching a page
// only when the kernel reads past what is loaded; offset i is always the same entry while the
// handle lives, offset 0 starts a fresh listing, and a cursor that does not move is an error;
// a listing read to its end with every page at one names version is handed over once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InodeType } from '@antlerfs/protocol';
import { DirHandle, DirHandles } from '../src/fuse/dir-handle.ts';
import type { DirPage } from '../src/index.ts';

function attrOf(inode: number) {
  return {
    inode, type: InodeType.FILE as number, mode: 0o644, uid: 0, gid: 0, atimeMs: 0, mtimeMs: 0,
    ctimeMs: 0, nlink: 1, length: 0, goal: 1, trashtimeS: 0,
  };
}

/** A directory of `names` served in pages of `pageSize`, counting the requests. */
function source(names: string[], pageSize: number) {
  const calls = { pages: 0, parents: 0, version: 7 };
  return {
    calls,
    page: async (_inode: number, cursor: string, entriesMax: number): Promise<DirPage> => {
      calls.pages++;
      const start = names.findIndex((n) => n > cursor);
      const from = start < 0 ? names.length : start;
      const take = names.slice(from, from + Math.min(pageSize, entriesMax));
      return {
        entries: take.map((name) => ({ name, attr: attrOf(100 + names.indexOf(name)) })),
        nextCursor: take.at(-1) ?? cursor, end: from + take.length >= names.length,
        namesVersion: calls.version,
      };
    },
    parentOf: async () => { calls.parents++; return 1; },
  };
}

test('dots, then pages fetched as the kernel reads', async () => {
  const names = Array.from({ length: 25 }, (_, i) => `n${String(i).padStart(2, '0')}`);
  const src = source(names, 10);
  const h = new DirHandle(1, 5);
  const first = await h.entriesFrom(0, 5, src);
  assert.equal(first.map((e) => e.name), ['.', '..', 'n00', 'n01', 'n02']);
  assert.equal([first[0]!.ino, first[1]!.ino, first[2]!.ino], [5, 1, 100]);
  assert.is(first[0]!.attr, null);
  assert.is(src.calls.pages, 1);
  const later = await h.entriesFrom(20, 100, src);
  assert.equal(later.map((e) => e.name), ['n18', 'n19', 'n20', 'n21', 'n22', 'n23', 'n24']);
  assert.is(src.calls.pages, 3);
  assert.equal(await h.entriesFrom(27, 10, src), [], 'past the end');
  assert.is(src.calls.pages, 3, 'the end is remembered');
  assert.equal((await h.entriesFrom(3, 1, src)).map((e) => e.name), ['n01'], 'seekdir');
  await h.entriesFrom(0, 1, src);
  assert.is(src.calls.parents, 2, 'offset 0 lists afresh');
});

test('a listing read to its end at one names version is handed over once', async () => {
  const names = Array.from({ length: 25 }, (_, i) => `n${String(i).padStart(2, '0')}`);
  const got: unknown[] = [];
  let tickets = 0;
  const src = {
    ...source(names, 10),
    ticketFor: () => `ticket ${++tickets}`,
    wholeListing: (ticket: unknown, whole: unknown) => { got.push([ticket, whole]); },
  };
  const h = new DirHandle(1, 5);
  await h.entriesFrom(0, 5, src);
  assert.equal(got, [], 'not read to its end yet');
  await h.entriesFrom(5, 100, src);
  assert.equal(got, [['ticket 1', { names, namesVersion: 7 }]]);
  await h.entriesFrom(27, 10, src);
  assert.is(got.length, 1, 'once per listing');
  // Read again from the start while the folder changes between pages: nothing to keep.
  await h.entriesFrom(0, 12, src);
  src.calls.version = 8;
  await h.entriesFrom(12, 100, src);
  assert.equal(got[1], ['ticket 2', null], 'pages of two versions');
});

test('an empty directory and a stuck cursor', async () => {
  const h = new DirHandle(1, 5);
  assert.equal((await h.entriesFrom(0, 10, source([], 10))).map((e) => e.name), ['.', '..']);
  const stuck = {
    page: async (): Promise<DirPage> => ({ entries: [{ name: 'a', attr: attrOf(9) }],
      nextCursor: '', end: false, namesVersion: 1 }),
    parentOf: async () => 1,
  };
  const failed = await new DirHandle(2, 5).entriesFrom(0, 10, stuck).then(() => null, (e) => e);
  assert.match(String(failed), /did not advance/);
});

test('handles by fh', () => {
  const dirs = new DirHandles();
  const a = dirs.open(3);
  const b = dirs.open(4);
  assert.is.not(a.fh, b.fh);
  assert.is(dirs.get(b.fh).inode, 4);
  dirs.release(a.fh);
  assert.throws(() => dirs.get(a.fh), /EBADF/);
  assert.is(dirs.size, 1);
});

test.run();
