// Goal: the master's attributes become st_mode with type bits, 512-byte blocks and split
// times; an override length (writes not yet at the master) shows as the size; kernel times come
// back as whole ms.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InodeType } from '@antlerfs/protocol';
import { direntType, kernelAttr, splitMs, toMs } from '../src/fuse/kernel-attr.ts';

const base = {
  inode: 12, type: InodeType.FILE as number, mode: 0o4755, uid: 5, gid: 6, atimeMs: 1_000_001,
  mtimeMs: 2_500, ctimeMs: 999, nlink: 2, length: 1025, goal: 2, trashtimeS: 0,
};

test('files, directories and symlinks', () => {
  const f = kernelAttr(base);
  assert.is(f.mode, 0o104755);
  assert.is(f.size, 1025);
  assert.is(f.blocks, 3);
  assert.equal([f.atime, f.atimensec, f.mtime, f.mtimensec, f.ctime, f.ctimensec],
    [1000, 1_000_000, 2, 500_000_000, 0, 999_000_000]);
  assert.equal([f.ino, f.nlink, f.uid, f.gid], [12, 2, 5, 6]);
  assert.is(kernelAttr({ ...base, type: InodeType.DIR, mode: 0o755 }).mode, 0o40755);
  assert.is(kernelAttr({ ...base, type: InodeType.SYMLINK, mode: 0o777 }).mode, 0o120777);
  assert.is(kernelAttr(base, 5 * 2 ** 32).size, 5 * 2 ** 32, 'override length');
  assert.is(direntType(InodeType.DIR), 4);
  assert.is(direntType(InodeType.SYMLINK), 10);
  assert.throws(() => kernelAttr({ ...base, type: 9 }), /inode type/);
});

test('time conversions', () => {
  assert.equal(splitMs(1500), { seconds: 1, nanoseconds: 500_000_000 });
  assert.equal(splitMs(0), { seconds: 0, nanoseconds: 0 });
  assert.is(toMs(1_600_000_000, 789_999_999), 1_600_000_000_789);
});

test.run();
