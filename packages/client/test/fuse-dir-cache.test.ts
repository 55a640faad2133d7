// Goal: what the mount knows about directories between master requests is right or absent:
// a listing made here answers absent names until it expires, follows this mount's creates,
// unlinks and renames, is renewed only when the master shows nobody else changed the
// directory's names (a change's folder stamp starting at the listing's names version, or the
// same names version asked again), and is dropped or stops renewing on any sign of a change
// elsewhere; attributes answer for the attribute timeout and carry this mount's own creations.
// A folder not made here is listed once the master answered a LOOKUP there with ENOENT, unless
// it is too large or changed here while it was being listed. Through the handlers: a create's
// LOOKUP costs no master request in a directory made or listed here, however long a run of
// creates lasts, and names created, renamed or unlinked through the mount are seen at once.
// A trusted listing knows the inodes of its names; read again whole with attributes at its
// names version it is renewed, at another version dropped.
// Method: DirCache with an injected clock; the handlers with an in-memory stand-in master.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { FsError, InodeType, Logger } from '@antlerfs/protocol';
import type { Attr, FileHandle, FolderStamp, InodeApi } from '../src/index.ts';
import {
  DirCache, DIRS_MAX, LISTING_NAMES_MAX, REFRESH_GAP_MS, UNLISTABLE_MS,
} from '../src/fuse/dir-cache.ts';
import { FileAttrs } from '../src/fuse/file-attrs.ts';
import { DirHandles } from '../src/fuse/dir-handle.ts';
import { ERRNO } from '../src/fuse/errno.ts';
import { ENTRY_HANDLERS } from '../src/fuse/entry-operations.ts';
import { FILE_HANDLERS } from '../src/fuse/file-operations.ts';
import {
  ATTR, ATTR_OUT_HEAD, CREATE_IN, GETATTR_IN, MKDIR_IN, Opcode, RENAME_IN,
} from '../src/fuse/kernel-abi.ts';
import type { MountContext, Reply } from '../src/fuse/mount-context.ts';
import { NodeTable } from '../src/fuse/node-table.ts';
import { ReadBuffers } from '../src/fuse/read-buffers.ts';
import { OpenFiles } from '../src/fuse/open-file.ts';
import { decodeBody, decodeHeader, type FuseRequest } from '../src/fuse/request.ts';
import { readStruct, type StructDef } from '../src/fuse/struct-codec.ts';
import { buildRequest } from './fuse-fixtures.ts';

class QuietLogger extends Logger {
  override log(): void {}
}

function dirAttr(inode: number, timeMs: number, nlink = 2): Attr {
  return {
    inode, type: InodeType.DIR, mode: 0o755, uid: 0, gid: 0, atimeMs: timeMs, mtimeMs: timeMs,
    ctimeMs: timeMs, nlink, length: 0, goal: 1, trashtimeS: 0,
  };
}

function fileAttr(inode: number, timeMs: number): Attr {
  return { ...dirAttr(inode, timeMs, 1), type: InodeType.FILE, mode: 0o644 };
}

/** A folder stamp: the names version before and after a change. */
function st(before: number, after: number): FolderStamp {
  return { before, after };
}

/** A cache trusting attributes and names for 1 s, on a clock the test moves. */
function clockedCache() {
  const c = clock();
  return { c, cache: new DirCache({ attrMs: 1000, namesMs: 1000, nowMs: c.now }) };
}

function clock() {
  const c = { ms: 0, now: () => c.ms };
  return c;
}

test('a listing made here answers absent names and follows this mount\'s changes', () => {
  const { c, cache } = clockedCache();
  cache.fetched(dirAttr(1, 0));
  cache.made(1, 'd', dirAttr(5, 10), st(1, 2));
  assert.ok(cache.knownAbsent(5, 'x'), 'a new directory is empty');
  assert.not.ok(cache.knownAbsent(1, 'x'), 'the root listing is not known');
  assert.is(cache.attrOf(1)!.attr.nlink, 3, 'mkdir counts a link in the parent');
  assert.is(cache.attrOf(1)!.attr.mtimeMs, 10, 'the parent is stamped with the new ctime');
  cache.created(5, 'x', fileAttr(6, 20), null);
  assert.not.ok(cache.knownAbsent(5, 'x'), 'created here: it exists');
  assert.is(cache.attrOf(5)!.attr.mtimeMs, 20);
  const unknown = { src: null, dst: null };
  cache.renamed({ parent: 5, name: 'x' }, { parent: 5, name: 'y' }, unknown, unknown);
  assert.ok(cache.knownAbsent(5, 'x'), 'renamed away');
  assert.not.ok(cache.knownAbsent(5, 'y'), 'renamed to');
  assert.is(cache.attrOf(5), null, 'a rename leaves the time unknown');
  cache.removed(5, 'y', null, null);
  assert.ok(cache.knownAbsent(5, 'y'), 'unlinked');
  c.ms = 1000;
  assert.not.ok(cache.knownAbsent(5, 'z'), 'the listing expires');
});

test('a listing is renewed only while the master shows nobody else changed it', () => {
  const { c, cache } = clockedCache();
  cache.made(1, 'd', dirAttr(5, 10), st(1, 2));
  c.ms = 900;
  cache.confirmed(dirAttr(5, 10), 2); // names version as this mount made it
  c.ms = 1500;
  assert.ok(cache.knownAbsent(5, 'b'), 'renewed at 900');
  cache.confirmed(dirAttr(5, 10), 3); // someone else changed its names
  assert.not.ok(cache.knownAbsent(5, 'b'), 'dropped at once');

  cache.made(1, 'e', dirAttr(7, 40), st(3, 4));
  cache.fetched(dirAttr(7, 50)); // other times than this mount knows
  assert.not.ok(cache.knownAbsent(7, 'b'), 'dropped at once');

  // This mount's own changes in a row: each stamp starts where the listing is, so each one
  // confirms it, and a run of creates longer than the timeout never asks the master.
  cache.made(1, 'f', dirAttr(8, 2000), st(4, 5));
  c.ms = 2800;
  cache.created(8, 'a', fileAttr(9, 2100), st(5, 6));
  c.ms = 3600;
  cache.removed(8, 'a', dirAttr(8, 2200), st(6, 9));
  c.ms = 4400;
  cache.renamed({ parent: 8, name: 'x' }, { parent: 8, name: 'y' },
    { src: dirAttr(8, 2300), dst: dirAttr(8, 2300) }, { src: st(9, 10), dst: st(9, 10) });
  c.ms = 5300;
  assert.ok(cache.knownAbsent(8, 'b'), 'confirmed by each change, one rename in the folder too');
  assert.not.ok(cache.knownAbsent(8, 'y'), 'renamed to');
  c.ms = 6000;
  assert.is(cache.absence(8, 'b'), 'confirm', 'expired: one request may renew it');
  cache.confirmed(dirAttr(8, 2300), 10);
  assert.ok(cache.knownAbsent(8, 'b'), 'renewed: nothing changed since');

  // A stamp that does not start at the listing's version: another change came in between
  // (or two replies of this mount crossed). The listing lives out its time, then goes.
  cache.created(8, 'c', fileAttr(11, 2400), st(11, 12));
  assert.ok(cache.knownAbsent(8, 'b'), 'still trusted until it expires');
  c.ms = 7000;
  assert.is(cache.absence(8, 'b'), 'unknown', 'not renewed after a gap');

  // Across two folders: both move on.
  cache.made(1, 'g', dirAttr(20, 3000), st(12, 13));
  cache.made(1, 'h', dirAttr(21, 3000), st(13, 14));
  cache.created(20, 'm', fileAttr(22, 3100), st(13, 15));
  cache.renamed({ parent: 20, name: 'm' }, { parent: 21, name: 'm' },
    { src: dirAttr(20, 3200), dst: dirAttr(21, 3200) }, { src: st(15, 16), dst: st(14, 16) });
  c.ms = 8500;
  cache.confirmed(dirAttr(20, 3200), 16);
  cache.confirmed(dirAttr(21, 3200), 16);
  assert.ok(cache.knownAbsent(20, 'm'), 'moved away');
  assert.not.ok(cache.knownAbsent(21, 'm'), 'moved here');
  assert.ok(cache.knownAbsent(21, 'n'), 'both renewed');
  cache.removed(21, 'm', dirAttr(21, 3300), null);
  c.ms = 9600;
  assert.is(cache.absence(21, 'n'), 'unknown', 'not renewed after a change of unknown stamp');
});

test('an exchange keeps both names, forgets folders known by them, and moves stamps on', () => {
  const { c, cache } = clockedCache();
  cache.made(1, 'd', dirAttr(5, 10), st(1, 2));
  cache.made(5, 'sub', dirAttr(6, 11), st(2, 3));
  cache.created(5, 'f', fileAttr(7, 12), st(3, 4));
  cache.exchanged({ parent: 5, name: 'sub' }, { parent: 5, name: 'f' },
    { src: dirAttr(5, 13), dst: dirAttr(5, 13) }, { src: st(4, 5), dst: st(4, 5) });
  assert.is(cache.attrOf(6), null, 'the folder known as "sub" is forgotten');
  assert.not.ok(cache.knownAbsent(5, 'sub'), 'both names stay');
  assert.not.ok(cache.knownAbsent(5, 'f'));
  assert.ok(cache.knownAbsent(5, 'g'));
  c.ms = 1500;
  cache.confirmed(dirAttr(5, 13), 5);
  assert.ok(cache.knownAbsent(5, 'g'), 'the stamp moved the listing on: renewed');
});

test('open(O_CREAT) of a name already there changes nothing: same version, same times', () => {
  const { c, cache } = clockedCache();
  cache.made(1, 'd', dirAttr(5, 10), st(1, 2));
  cache.created(5, 'a', fileAttr(6, 20), st(2, 3));
  cache.created(5, 'a', fileAttr(6, 20), st(3, 3));
  assert.is(cache.attrOf(5)!.attr.mtimeMs, 20, 'the folder\'s time is the first create\'s');
  c.ms = 1500;
  cache.confirmed(dirAttr(5, 20), 3);
  assert.ok(cache.knownAbsent(5, 'b'), 'still at version 3: renewed');
});

test('a folder not made here is listed after a LOOKUP the master answered ENOENT', () => {
  const { c, cache } = clockedCache();
  cache.fetched(dirAttr(1, 0));
  cache.fetched(dirAttr(5, 10), { parent: 1, name: 'd' });
  assert.is(cache.wantsListing(5), null, 'no absent name asked for yet');
  assert.is(cache.wantsListing(77), null, 'not a remembered folder');
  cache.looked(5, 'x', null);
  const ticket = cache.wantsListing(5)!;
  assert.ok(ticket !== null);
  assert.is(cache.wantsListing(5), null, 'one fetch at a time');
  c.ms = 100;
  cache.listed(ticket, { names: ['a', 'b'], namesVersion: 40 });
  assert.ok(cache.knownAbsent(5, 'x'));
  assert.not.ok(cache.knownAbsent(5, 'a'), 'listed: it exists');
  cache.created(5, 'x', fileAttr(6, 20), st(40, 41));
  c.ms = 1050;
  assert.ok(cache.knownAbsent(5, 'y'), 'the create\'s stamp renewed it');
  c.ms = 2100;
  assert.is(cache.absence(5, 'y'), 'confirm', 'trusted from the fetch or the last renewal');
  cache.confirmed(dirAttr(5, 20), 41);
  assert.ok(cache.knownAbsent(5, 'y'));

  // Changed here while being listed: not taken. A failed fetch: nothing. Too many: not again
  // for a while, whatever LOOKUPs come.
  cache.fetched(dirAttr(7, 10), { parent: 1, name: 'e' });
  cache.looked(7, 'x', null);
  const t7 = cache.wantsListing(7)!;
  cache.created(7, 'mine', fileAttr(8, 30), st(50, 51));
  cache.listed(t7, { names: [], namesVersion: 50 });
  assert.is(cache.absence(7, 'z'), 'unknown', 'a listing from before a change here');
  cache.listed(cache.wantsListing(7)!, null);
  assert.is(cache.absence(7, 'z'), 'unknown', 'a failed fetch');
  cache.listed(cache.wantsListing(7)!, { names: null, namesVersion: 52 });
  cache.looked(7, 'x', null);
  assert.is(cache.wantsListing(7), null, 'too large: not listed again soon');
  const many = Array.from({ length: LISTING_NAMES_MAX + 1 }, (_, i) => `n${i}`);
  cache.fetched(dirAttr(9, 10), { parent: 1, name: 'big' });
  cache.looked(9, 'x', null);
  cache.listed(cache.wantsListing(9)!, { names: many, namesVersion: 60 });
  assert.is(cache.absence(9, 'x'), 'unknown', 'more names than a listing may hold');
  c.ms += UNLISTABLE_MS;
  cache.looked(7, 'x', null);
  assert.ok(cache.wantsListing(7) !== null, 'asked again after a while');
  c.ms += 1000;
  cache.looked(9, 'x', null);
  c.ms += 1000;
  assert.is(cache.wantsListing(9), null, 'only right after a LOOKUP answered ENOENT');
});

test('a folder read whole through READDIR is listed unless it changed here meanwhile', () => {
  const { c, cache } = clockedCache();
  cache.fetched(dirAttr(5, 10), { parent: 1, name: 'd' });
  assert.is(cache.readdirTicket(77), null, 'not a remembered folder');
  const t = cache.readdirTicket(5)!;
  c.ms = 200;
  cache.listed(t, { names: ['a'], namesVersion: 9 });
  assert.ok(cache.knownAbsent(5, 'b'));
  assert.not.ok(cache.knownAbsent(5, 'a'));
  assert.is(cache.readdirTicket(5), null, 'its names are known');
  c.ms = 1000;
  assert.is(cache.absence(5, 'b'), 'confirm', 'trusted from when the listing started');
  cache.fetched(dirAttr(6, 10), { parent: 1, name: 'e' });
  const t6 = cache.readdirTicket(6)!;
  cache.created(6, 'mine', fileAttr(7, 20), st(3, 4));
  cache.listed(t6, { names: [], namesVersion: 3 });
  assert.is(cache.absence(6, 'x'), 'unknown', 'changed here while being read');
  cache.listed(cache.readdirTicket(6)!, null);
  assert.is(cache.absence(6, 'x'), 'unknown', 'pages of two versions');
});

test('removals and renames take the folders\' attributes from the reply, newest first', () => {
  const { c, cache } = clockedCache();
  cache.made(1, 'd', dirAttr(10, 1), st(1, 2));
  cache.created(10, 'a', fileAttr(20, 2), st(2, 3));
  cache.created(10, 'b', fileAttr(21, 3), st(3, 4));
  cache.removed(10, 'b', dirAttr(10, 5), st(5, 6));
  cache.removed(10, 'a', dirAttr(10, 4), st(4, 5)); // two unlinks at once: the older came last
  assert.is(cache.attrOf(10)!.attr.ctimeMs, 5, 'the later change wins');
  assert.is(cache.knownAbsent(10, 'a'), true, 'the listing follows');
  cache.removed(10, 'x', dirAttr(10, 5, 3), st(6, 7));
  assert.is(cache.attrOf(10), null, 'same ms, different counts: not known');
  cache.renamed({ parent: 10, name: 'y' }, { parent: 10, name: 'z' },
    { src: dirAttr(10, 6), dst: dirAttr(10, 6) }, { src: st(7, 8), dst: st(7, 8) });
  assert.is(cache.attrOf(10)!.attr.ctimeMs, 6, 'one folder, the same attributes twice');
  cache.removed(10, 'z', dirAttr(99, 7), st(8, 9));
  assert.is(cache.attrOf(10), null, 'attributes of another inode are not taken');
  cache.removed(10, 'w', null, st(9, 10));
  assert.is(cache.attrOf(10), null, 'unknown after a reply that could not tell');
  c.ms = 1000;
  assert.is(cache.absence(10, 'nothing'), 'unknown', 'crossed replies: not renewed');
});

test('a trusted listing knows the inode of each name made, renamed or looked up here', () => {
  const { c, cache } = clockedCache();
  cache.fetched(dirAttr(1, 0));
  cache.made(1, 'd', dirAttr(5, 10), st(1, 2));
  cache.created(5, 'a', fileAttr(20, 11), st(2, 3));
  assert.equal(cache.entryOf(5, 'a'), { inode: 20, remainingMs: 1000 });
  assert.is(cache.entryOf(5, 'b'), null, 'not in the listing');
  const r = cache.renamed({ parent: 5, name: 'a' }, { parent: 5, name: 'b' },
    { src: dirAttr(5, 12), dst: dirAttr(5, 12) }, { src: st(3, 4), dst: st(3, 4) });
  assert.equal(r, { moved: 20, replaced: 0 });
  assert.is(cache.entryOf(5, 'a'), null);
  assert.is(cache.entryOf(5, 'b')?.inode, 20);
  cache.created(5, 'c', fileAttr(21, 13), st(4, 5));
  const over = cache.renamed({ parent: 5, name: 'c' }, { parent: 5, name: 'b' },
    { src: dirAttr(5, 14), dst: dirAttr(5, 14) }, { src: st(5, 6), dst: st(5, 6) });
  assert.equal(over, { moved: 21, replaced: 20 }, 'the name replaced was inode 20');
  assert.is(cache.removed(5, 'b', dirAttr(5, 15), st(6, 7)), 21);
  cache.created(5, 'x', fileAttr(23, 16), st(7, 8));
  cache.exchanged({ parent: 5, name: 'x' }, { parent: 5, name: 'y' },
    { src: dirAttr(5, 17), dst: dirAttr(5, 17) }, { src: st(8, 9), dst: st(8, 9) });
  assert.is(cache.entryOf(5, 'x'), null, 'after an exchange the master says what a name is');
  c.ms = 1001;
  cache.created(5, 'e', fileAttr(22, 18), st(9, 10)); // renews: the listing is trusted again
  assert.is(cache.entryOf(5, 'e')?.inode, 22);
  c.ms = 2100;
  assert.is(cache.entryOf(5, 'e'), null, 'an expired listing answers nothing');
});

test('a listing read again with attributes is renewed only at its names version', () => {
  const page = (names: string[], namesVersion: number, end = true) => ({
    entries: names.map((name, i) => ({ name, attr: fileAttr(100 + i, 5) })), nextCursor: '',
    end, namesVersion,
  });
  const { c, cache } = clockedCache();
  cache.fetched(dirAttr(1, 0));
  cache.made(1, 'd', dirAttr(5, 10), st(1, 2));
  cache.created(5, 'a', fileAttr(100, 11), st(2, 3));
  cache.created(5, 'b', fileAttr(101, 11), st(3, 4));
  c.ms = 1500; // expired
  assert.is(cache.refreshTicket(5, 'zz', 4096), null, 'a name not listed');
  assert.is(cache.refreshTicket(5, 'a', 1), null, 'a folder larger than one page');
  let t = cache.refreshTicket(5, 'a', 4096);
  assert.ok(t !== null);
  assert.is(cache.refreshTicket(5, 'b', 4096), null, 'one at a time');
  assert.ok(cache.refreshed(t!, page(['a', 'b'], 4)));
  assert.equal(cache.entryOf(5, 'b'), { inode: 101, remainingMs: 1000 });
  assert.is(cache.refreshTicket(5, 'a', 4096), null, `not again within ${REFRESH_GAP_MS} ms`);
  // A change of this mount while the folder is read: not taken, the listing stays.
  c.ms += REFRESH_GAP_MS;
  t = cache.refreshTicket(5, 'a', 4096);
  cache.created(5, 'c', fileAttr(102, 12), st(4, 5));
  assert.not.ok(cache.refreshed(t!, page(['a', 'b'], 4)));
  assert.is(cache.entryOf(5, 'c')?.inode, 102);
  // Read at another names version (changed elsewhere), or not whole: the listing goes.
  c.ms += REFRESH_GAP_MS;
  t = cache.refreshTicket(5, 'a', 4096);
  assert.not.ok(cache.refreshed(t!, page(['a', 'b', 'c'], 9)));
  assert.is(cache.entryOf(5, 'a'), null);
  assert.is(cache.absence(5, 'q'), 'unknown', 'nothing known of the names any more');
});

test('what the master says overrides the listing; sizes and names are bounded', () => {
  const { c, cache } = clockedCache();
  cache.made(1, 'd', dirAttr(5, 10), st(1, 2));
  cache.looked(5, 'ghost', 99);
  assert.not.ok(cache.knownAbsent(5, 'other'), 'a name it lacked exists: listing dropped');
  cache.made(1, 'e', dirAttr(7, 10), st(2, 3));
  cache.made(7, 'sub', dirAttr(8, 11), st(3, 4));
  cache.removed(7, 'sub', null, st(4, 5));
  assert.is(cache.attrOf(8), null, 'a removed directory is forgotten');
  cache.made(1, 'f', dirAttr(9, 12), st(5, 6));
  cache.fetched(dirAttr(9, 12), { parent: 1, name: 'moved' }); // renamed elsewhere
  cache.renamed({ parent: 1, name: 'moved' }, { parent: 1, name: 'again' },
    { src: null, dst: null }, { src: null, dst: null });
  assert.is(cache.attrOf(9), null, 'found under its new name: a rename here forgets it');
  const off = new DirCache({ attrMs: 0, namesMs: 0, nowMs: c.now });
  off.made(1, 'd', dirAttr(5, 10), st(1, 2));
  assert.not.ok(off.knownAbsent(5, 'x'), 'timeouts of 0 keep nothing');
  assert.is(off.attrOf(5), null);
  for (let i = 0; i < DIRS_MAX + 10; i++) cache.made(1, `n${i}`, dirAttr(100 + i, 10), null);
  assert.ok(cache.size <= DIRS_MAX, `at most ${DIRS_MAX} directories`);
  assert.is(cache.attrOf(100 + DIRS_MAX + 9)?.attr.inode, 100 + DIRS_MAX + 9, 'the newest stays');
  const fresh = new DirCache({ attrMs: 1000, namesMs: 1000, nowMs: c.now });
  fresh.fetched(dirAttr(9, 1));
  assert.is(fresh.attrOf(9), null, 'a directory found by inode alone is not remembered');
  c.ms = 400;
  fresh.fetched(dirAttr(1, 1));
  assert.is(fresh.attrOf(1)!.remainingMs, 1000, 'the root is');
  c.ms = 1000;
  assert.is(fresh.attrOf(1)!.remainingMs, 400, 'trusted for what is left of the timeout');
});

interface Named {
  parent: number;
  name: string;
}

/** A tiny master with a call log, enough for lookups, creates, renames and unlinks. */
function fakeMaster() {
  const calls: string[] = [];
  const nodes = new Map<number, Attr>([[1, dirAttr(1, 0)]]);
  const names = new Map<string, number>();
  let next = 100;
  let timeMs = 1;
  // Names versions: one counter for every change, each changed folder takes its value.
  let version = 1;
  const namesVersions = new Map<number, number>([[1, 1]]);
  let lastStamps: FolderStamp[] = [];
  const changeNames = (...parents: number[]): void => {
    version++;
    lastStamps = parents.map((p) => st(namesVersions.get(p) ?? 1, version));
    for (const p of parents) namesVersions.set(p, version);
  };
  const find = (p: number, n: string): Attr => {
    const i = names.get(`${p}/${n}`);
    if (i === undefined) throw new FsError('ENOENT', n);
    return nodes.get(i)!;
  };
  const touch = (p: number): void => {
    timeMs++;
    nodes.set(p, { ...nodes.get(p)!, mtimeMs: timeMs, ctimeMs: timeMs });
  };
  const add = (p: number, n: string, a: Attr): Attr => {
    if (names.has(`${p}/${n}`)) throw new FsError('EEXIST', n);
    touch(p);
    changeNames(p);
    const made = { ...a, ctimeMs: timeMs, mtimeMs: timeMs };
    nodes.set(made.inode, made);
    names.set(`${p}/${n}`, made.inode);
    if (made.type === InodeType.DIR) namesVersions.set(made.inode, version);
    return made;
  };
  const api = {
    lookup: async (p: number, n: string) => { calls.push(`lookup ${n}`); return find(p, n); },
    getattr: async (i: number) => { calls.push(`getattr ${i}`); return nodes.get(i)!; },
    listNames: async (i: number) => {
      calls.push(`listNames ${i}`);
      const prefix = `${i}/`;
      const listed = [...names.keys()].filter((k) => k.startsWith(prefix))
        .map((k) => k.slice(prefix.length));
      return { names: listed, namesVersion: namesVersions.get(i)! };
    },
    getattrFolder: async (i: number) => {
      calls.push(`getattrFolder ${i}`);
      return { attr: nodes.get(i)!, namesVersion: namesVersions.get(i)! };
    },
    create: async (p: number, n: string) => {
      calls.push(`create ${n}`);
      return { attr: add(p, n, fileAttr(next++, 0)), folder: lastStamps[0]! };
    },
    mkdir: async (p: number, n: string) => {
      calls.push(`mkdir ${n}`);
      return { attr: add(p, n, dirAttr(next++, 0)), folder: lastStamps[0]! };
    },
    unlink: async (p: number, n: string) => {
      calls.push(`unlink ${n}`);
      find(p, n);
      names.delete(`${p}/${n}`);
      touch(p);
      changeNames(p);
      return { parentAttr: nodes.get(p)!, folder: lastStamps[0]! };
    },
    rename: async (from: Named, to: Named) => {
      calls.push(`rename ${from.name} ${to.name}`);
      const a = find(from.parent, from.name);
      names.delete(`${from.parent}/${from.name}`);
      names.set(`${to.parent}/${to.name}`, a.inode);
      touch(from.parent);
      if (to.parent !== from.parent) touch(to.parent);
      if (to.parent !== from.parent) changeNames(from.parent, to.parent);
      else changeNames(from.parent);
      const [src, dst] = [lastStamps[0]!, lastStamps.at(-1)!];
      return {
        srcParentAttr: nodes.get(from.parent)!, dstParentAttr: nodes.get(to.parent)!, src, dst,
      };
    },
  };
  return { calls, names, nodes, add, api };
}

function context(m: ReturnType<typeof fakeMaster>, c: ReturnType<typeof clock>): MountContext {
  const opener = async (): Promise<FileHandle> =>
    ({ close: async () => undefined }) as unknown as FileHandle;
  return {
    calls: m.api as unknown as InodeApi, client: {} as MountContext['client'],
    nodes: new NodeTable(), files: new OpenFiles(opener), dirs: new DirHandles(),
    readBuffers: new ReadBuffers(64 * 1024),
    dirCache: new DirCache({ attrMs: 1000, namesMs: 1000, nowMs: c.now }),
    fileAttrs: new FileAttrs({ attrMs: 1000, nowMs: c.now }),
    log: new QuietLogger('test'), hidden: new Map(), invalidateAttrs: () => undefined,
    settings: { timeouts: { entryMs: 1000, attrMs: 1000 }, readOnly: false, negativeTimeoutMs: 0 },
  };
}

function req(opcode: number, o: { nodeid?: number; struct?: StructDef;
  arg?: Record<string, number>; names?: string[] } = {}): FuseRequest {
  const buf = buildRequest({ opcode, ...o });
  const header = decodeHeader(buf, buf.length);
  assert.ok(!('invalid' in header));
  const r = decodeBody(header as Exclude<typeof header, { invalid: string }>, buf);
  assert.ok(!('invalid' in r));
  return r as FuseRequest;
}

/** 'found', or 'ENOENT' when the LOOKUP is answered with that errno. */
async function lookupErrno(ctx: MountContext, parent: number, name: string): Promise<string> {
  const r = await ENTRY_HANDLERS.LOOKUP(req(Opcode.LOOKUP, { nodeid: parent, names: [name] }), ctx);
  return r!.errno === ERRNO.ENOENT ? 'ENOENT' : r!.errno === undefined ? 'found' : String(r!.errno);
}

const body = (r: Reply | null): Buffer => Buffer.concat(r!.parts);

/** MKDIR of `name` in the root through the handlers; returns the new folder's inode. */
async function mkdirHere(
  ctx: MountContext, m: ReturnType<typeof fakeMaster>, name: string,
): Promise<number> {
  const made = await ENTRY_HANDLERS.MKDIR(req(Opcode.MKDIR, {
    struct: MKDIR_IN, arg: { mode: 0o755 }, names: [name],
  }), ctx);
  made!.delivered?.();
  return m.names.get(`1/${name}`)!;
}

/** CREATE of `name` in `parent` through the handlers (open flags: O_CREAT|O_WRONLY). */
function createHere(
  ctx: MountContext, parent: number, name: string,
  flags = fs.constants.O_CREAT | fs.constants.O_WRONLY,
): Promise<Reply | null> {
  return FILE_HANDLERS.CREATE(req(Opcode.CREATE, {
    nodeid: parent, struct: CREATE_IN, arg: { flags, mode: 0o644 }, names: [name],
  }), ctx);
}

test('through the handlers: creates, renames and unlinks here show at once', async () => {
  const m = fakeMaster();
  const c = clock();
  const ctx = context(m, c);
  const d = await mkdirHere(ctx, m, 'd');
  m.calls.length = 0;
  assert.is(await lookupErrno(ctx, d, 'f'), 'ENOENT');
  assert.equal(m.calls, [], 'the create\'s LOOKUP costs no master request');
  await createHere(ctx, d, 'f');
  assert.is(await lookupErrno(ctx, d, 'f'), 'found', 'created here: asked of the master');
  const getattrOfD = req(Opcode.GETATTR, { nodeid: d, struct: GETATTR_IN });
  const got = await ENTRY_HANDLERS.GETATTR(getattrOfD, ctx);
  assert.is(readStruct(ATTR_OUT_HEAD, body(got), 0).attrValid, 1, 'answered here');
  assert.equal(m.calls, ['create f', 'lookup f'], 'the GETATTR after the create is local');
  await ENTRY_HANDLERS.RENAME(req(Opcode.RENAME, {
    nodeid: d, struct: RENAME_IN, arg: { newdir: d }, names: ['f', 'g'],
  }), ctx);
  assert.is(await lookupErrno(ctx, d, 'f'), 'ENOENT', 'renamed away');
  assert.is(await lookupErrno(ctx, d, 'g'), 'found', 'renamed to');
  await ENTRY_HANDLERS.UNLINK(req(Opcode.UNLINK, { nodeid: d, names: ['g'] }), ctx);
  m.calls.length = 0;
  assert.is(await lookupErrno(ctx, d, 'g'), 'ENOENT');
  assert.equal(m.calls, [], 'unlinked here: known absent');
  const afterUnlink = await ENTRY_HANDLERS.GETATTR(getattrOfD, ctx);
  assert.equal(m.calls, [], 'the unlink\'s reply told the directory\'s attributes');
  const mtime = readStruct(ATTR, body(afterUnlink), ATTR_OUT_HEAD.sizeBytes).mtime;
  assert.is(mtime, Math.floor(m.nodes.get(d)!.mtimeMs / 1000), 'as the master has them');
  // Another client creates a name: within the entry timeout it is not seen, after it it is.
  m.add(d, 'other', fileAttr(500, 0));
  assert.is(await lookupErrno(ctx, d, 'other'), 'ENOENT');
  c.ms = 1000;
  assert.is(await lookupErrno(ctx, d, 'other'), 'found', 'seen once the listing expired');
  // A failed create forgets the directory: its listing was wrong.
  c.ms = 0;
  const eInode = await mkdirHere(ctx, m, 'e');
  m.add(eInode, 'x', fileAttr(501, 0));
  const failed = await createHere(ctx, eInode, 'x', fs.constants.O_CREAT | fs.constants.O_EXCL)
    .then(() => 'created', (err: unknown) => (err as FsError).code);
  assert.is(failed, 'EEXIST');
  assert.is(await lookupErrno(ctx, eInode, 'y'), 'ENOENT');
  assert.is(m.calls.at(-1), 'lookup y', 'asked of the master again');
});

test('a run of creates here longer than the entry timeout never looks names up', async () => {
  const m = fakeMaster();
  const c = clock();
  const ctx = context(m, c);
  const d = await mkdirHere(ctx, m, 'd');
  m.calls.length = 0;
  for (let i = 0; i < 10; i++) {
    c.ms += 600; // 6 s in all, the listing's timeout is 1 s
    assert.is(await lookupErrno(ctx, d, `n${i}`), 'ENOENT');
    await createHere(ctx, d, `n${i}`);
  }
  assert.equal(m.calls, Array.from({ length: 10 }, (_, i) => `create n${i}`),
    'each create\'s stamp renewed the listing');
  // Another client's create in between: the next stamp shows the gap, no more renewals.
  m.add(d, 'theirs', fileAttr(700, 0));
  await createHere(ctx, d, 'mine');
  assert.is(await lookupErrno(ctx, d, 'theirs'), 'ENOENT', 'within the timeout: not seen yet');
  c.ms += 1000;
  m.calls.length = 0;
  assert.is(await lookupErrno(ctx, d, 'theirs'), 'found', 'seen once the listing expired');
  assert.equal(m.calls, ['lookup theirs'], 'not renewable: the master answers');
});

test('a folder made elsewhere: listed at the second absent name, then creates run here',
  async () => {
  const m = fakeMaster();
  const c = clock();
  const ctx = context(m, c);
  m.add(1, 'd', dirAttr(400, 0)); // made by another client
  m.add(400, 'old', fileAttr(401, 0));
  const d = m.names.get('1/d')!;
  assert.is(await lookupErrno(ctx, 1, 'd'), 'found');
  m.calls.length = 0;
  assert.is(await lookupErrno(ctx, d, 'n0'), 'ENOENT');
  assert.is(await lookupErrno(ctx, d, 'n1'), 'ENOENT');
  assert.equal(m.calls, ['lookup n0', `listNames ${d}`], 'the second one fetched the names');
  assert.is(await lookupErrno(ctx, d, 'old'), 'found', 'listed: the master tells its attributes');
  m.calls.length = 0;
  for (let i = 1; i < 8; i++) {
    c.ms += 600;
    assert.is(await lookupErrno(ctx, d, `n${i}`), 'ENOENT');
    await createHere(ctx, d, `n${i}`);
  }
  assert.equal(m.calls, Array.from({ length: 7 }, (_, i) => `create n${i + 1}`));
});

test('an expired listing is confirmed by its names version, dropped when changed elsewhere',
  async () => {
  const m = fakeMaster();
  const c = clock();
  const ctx = context(m, c);
  const d = await mkdirHere(ctx, m, 'd');
  c.ms = 1500;
  m.calls.length = 0;
  assert.is(await lookupErrno(ctx, d, 'b'), 'ENOENT');
  assert.equal(m.calls, [`getattrFolder ${d}`], 'one GETATTR_FOLDER renews the listing');
  c.ms = 2000;
  assert.is(await lookupErrno(ctx, d, 'c'), 'ENOENT');
  assert.equal(m.calls, [`getattrFolder ${d}`], 'renewed from 1500');
  m.add(d, 'z', fileAttr(600, 0)); // another client
  c.ms = 3000;
  m.calls.length = 0;
  assert.is(await lookupErrno(ctx, d, 'z'), 'found', 'the change elsewhere shows');
  assert.equal(m.calls, [`getattrFolder ${d}`, 'lookup z']);
  assert.is(await lookupErrno(ctx, d, 'q'), 'ENOENT');
  assert.is(m.calls.at(-1), 'lookup q', 'the listing is gone: the master answers');
});

test.run();
