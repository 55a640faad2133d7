// Goal: replies are laid out as the kernel reads them: entry (nodeid, timeouts split into
// seconds and nanoseconds, then fuse_attr), attr, open, create (entry then open), statfs,
// inode invalidation; directory listings pack records padded to 8 bytes, each with the offset
// of the next entry, stop before the size the kernel asked for, and carry entries for
// READDIRPLUS (none for "." and "..").
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ATTR, ATTR_OUT_HEAD, DIRENT_HEAD, ENTRY_OUT_BYTES, ENTRY_OUT_HEAD, NOTIFY_INVAL_INODE_OUT,
  OPEN_OUT,
} from '../src/fuse/kernel-abi.ts';
import type { KernelAttr } from '../src/fuse/kernel-attr.ts';
import {
  attrOut, createOut, DirentPacker, entryOut, invalInodeOut, openOut, statfsOut, writeOut,
} from '../src/fuse/reply.ts';
import { readStruct } from '../src/fuse/struct-codec.ts';

const attr: KernelAttr = {
  ino: 7, size: 5 * 2 ** 32, blocks: 10, atime: 1, mtime: 2, ctime: 3, atimensec: 4,
  mtimensec: 5, ctimensec: 6, mode: 0o100644, nlink: 1, uid: 1000, gid: 100, rdev: 0,
  blksize: 65536, flags: 0,
};
const timeouts = { entryMs: 1500, attrMs: 250 };

test('entry and attr replies', () => {
  const e = entryOut(attr, timeouts);
  assert.is(e.length, 128);
  assert.equal(readStruct(ENTRY_OUT_HEAD, e, 0), {
    nodeid: 7, generation: 0, entryValid: 1, attrValid: 0, entryValidNsec: 500_000_000,
    attrValidNsec: 250_000_000,
  });
  assert.equal(readStruct(ATTR, e, ENTRY_OUT_HEAD.sizeBytes), attr);
  const negative = entryOut(null, { entryMs: 2000, attrMs: 0 });
  assert.is(readStruct(ENTRY_OUT_HEAD, negative, 0).nodeid, 0, 'a cached "no such name"');
  assert.is(readStruct(ENTRY_OUT_HEAD, negative, 0).entryValid, 2);
  const a = attrOut(attr, 3000);
  assert.is(a.length, 104);
  assert.is(readStruct(ATTR_OUT_HEAD, a, 0).attrValid, 3);
  assert.equal(readStruct(ATTR, a, ATTR_OUT_HEAD.sizeBytes), attr);
});

test('open, create, write, statfs and notify replies', () => {
  assert.equal(readStruct(OPEN_OUT, openOut(9, 2), 0), { fh: 9, openFlags: 2, padding: 0 });
  const c = createOut(attr, timeouts, 11, 0);
  assert.is(c.length, 144);
  assert.is(readStruct(ENTRY_OUT_HEAD, c, 0).nodeid, 7);
  assert.is(readStruct(OPEN_OUT, c, ENTRY_OUT_BYTES).fh, 11);
  assert.is(writeOut(4096).readUInt32LE(0), 4096);
  const s = statfsOut({ blocks: 100, bfree: 40, bavail: 40, bsize: 65536, namelen: 255 });
  assert.is(s.length, 80);
  assert.is(s.readUInt32LE(0), 100);
  assert.is(s.readUInt32LE(40), 65536);
  assert.equal(readStruct(NOTIFY_INVAL_INODE_OUT, invalInodeOut(42), 0),
    { ino: 42, off: -1, len: 0 });
});

test('directory records: padding, next offsets, and the size limit', () => {
  const names = ['.', '..', 'a', 'eightchr', 'ninechars'];
  const packer = new DirentPacker(32 + 32 + 32 + 32 + 40, false, timeouts);
  names.forEach((name, i) => {
    assert.ok(packer.add({ name, ino: 10 + i, type: 8, nextOffset: i + 1 }), name);
  });
  assert.not.ok(packer.add({ name: 'x', ino: 99, type: 8, nextOffset: 6 }), 'no room left');
  const out = packer.result();
  assert.is(out.length, 168);
  let at = 0;
  names.forEach((name, i) => {
    const d = readStruct(DIRENT_HEAD, out, at);
    assert.equal(d, { ino: 10 + i, off: i + 1, namelen: Buffer.byteLength(name), type: 8 });
    assert.is(out.toString('utf8', at + 24, at + 24 + d.namelen), name);
    assert.ok(out.subarray(at + 24 + d.namelen, at + ((24 + d.namelen + 7) & ~7))
      .every((b) => b === 0), 'padding is zero');
    at += (24 + d.namelen + 7) & ~7;
  });
});

test('READDIRPLUS records carry an entry, or none for the dots', () => {
  const packer = new DirentPacker(4096, true, timeouts);
  assert.ok(packer.add({ name: '.', ino: 1, type: 4, nextOffset: 1, attr: null }));
  assert.ok(packer.add({ name: 'file', ino: 7, type: 8, nextOffset: 2, attr }));
  const out = packer.result();
  assert.is(out.length, 160 + 160);
  assert.is(readStruct(ENTRY_OUT_HEAD, out, 0).nodeid, 0, 'the kernel takes nothing for "."');
  assert.is(readStruct(ENTRY_OUT_HEAD, out, 160).nodeid, 7);
  assert.equal(readStruct(ATTR, out, 160 + ENTRY_OUT_HEAD.sizeBytes), attr);
  assert.equal(readStruct(DIRENT_HEAD, out, 160 + ENTRY_OUT_BYTES),
    { ino: 7, off: 2, namelen: 4, type: 8 });
});

test.run();
