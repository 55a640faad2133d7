// Goal: spare files over a real temporary folder. A kept file is cut to nothing and renamed into
// the spare folder; take hands spares back until none is left; the limit holds (past it the file
// is left for the caller to unlink), also while keeps are in progress; a missing file is ENOENT,
// one that cannot be moved in is left cut in place; a spare that is also another file's name
// loses only its spare name; the folder is fsynced once for the takes before it;
// at start spares are cut again (data left by a crash), extras and unknown names removed.
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FsError } from '@antlerfs/protocol';
import { SPARE_FOLDER, SpareFiles, takeSpareAs } from '../src/spare-files.ts';
import { removeDir, tempDir } from './fixtures.ts';

async function fileOf(dir: string, name: string, bytes: number): Promise<string> {
  const p = path.join(dir, name);
  await fs.writeFile(p, Buffer.alloc(bytes, 1));
  return p;
}

test('kept files are cut, renamed in and taken back; the limit holds', async () => {
  const dir = await tempDir('spares');
  const spares = new SpareFiles(dir, 2);
  await spares.load();
  const a = await fileOf(dir, 'a', 100_000);
  const b = await fileOf(dir, 'b', 10);
  const c = await fileOf(dir, 'c', 10);
  const inodeA = (await fs.stat(a)).ino;
  // Three at once: the limit counts keeps in progress, so exactly one is refused.
  const kept = await Promise.all([a, b, c].map((p) => spares.keep(p)));
  assert.equal(kept, [true, true, false]);
  assert.is(spares.count, 2);
  assert.is((await fs.stat(c)).size, 10, 'a refused file is left as it was');
  assert.is(await fs.stat(a).catch(() => null), null, 'kept file moved out');
  const inFolder = await fs.readdir(path.join(dir, SPARE_FOLDER));
  assert.is(inFolder.length, 2);
  for (const name of inFolder) {
    assert.is((await fs.stat(path.join(dir, SPARE_FOLDER, name))).size, 0, 'cut to nothing');
  }
  const target = path.join(dir, 'new');
  await takeSpareAs(spares, target);
  await takeSpareAs(spares, path.join(dir, 'new2'));
  assert.is(spares.count, 0);
  const inodes = [(await fs.stat(target)).ino, (await fs.stat(path.join(dir, 'new2'))).ino];
  assert.ok(inodes.includes(inodeA), 'the same inode comes back');
  await takeSpareAs(spares, path.join(dir, 'none'));
  assert.is(await fs.stat(path.join(dir, 'none')).catch(() => null), null, 'no spare: no file');
  assert.equal([spares.kept, spares.taken], [2, 2]);
  await removeDir(dir);
});

test('a missing file is ENOENT and takes no room', async () => {
  const dir = await tempDir('spares-gone');
  const spares = new SpareFiles(dir, 1);
  await spares.load();
  try {
    await spares.keep(path.join(dir, 'gone'));
    assert.unreachable('keep of a missing file');
  } catch (err) {
    assert.instance(err, FsError);
    assert.is((err as FsError).code, 'ENOENT');
  }
  assert.ok(await spares.keep(await fileOf(dir, 'x', 5)), 'the room is still there');
  await removeDir(dir);
});

test('a file that cannot be moved in is left cut, in place, for the caller to unlink', async () => {
  const dir = await tempDir('spares-moved');
  const spares = new SpareFiles(dir, 4);
  await spares.load();
  await fs.rm(spares.folder, { recursive: true });
  const p = await fileOf(dir, 'c', 1000);
  assert.is(await spares.keep(p), false);
  assert.is((await fs.stat(p)).size, 0);
  assert.is(spares.count, 0);
  assert.is(await spares.keep(p), false, 'refused again');
  assert.is(spares.kept, 0);
  await removeDir(dir);
});

test('at start spares are cut again; extras and unknown names removed', async () => {
  const dir = await tempDir('spares-load');
  const folder = path.join(dir, SPARE_FOLDER);
  await fs.mkdir(folder);
  await fileOf(folder, '7', 4096); // a crash between the cut and the rename leaves data
  await fileOf(folder, '8', 0);
  await fileOf(folder, '9', 0);
  await fileOf(folder, 'junk', 3);
  await fs.mkdir(path.join(folder, '77')); // a folder with a spare's name is no spare
  const spares = new SpareFiles(dir, 2);
  await spares.load();
  assert.is(spares.count, 2);
  const left = (await fs.readdir(folder)).sort();
  assert.is(left.length, 2);
  assert.not.ok(left.includes('junk'));
  for (const name of left) assert.is((await fs.stat(path.join(folder, name))).size, 0);
  // New spares are named past the ones found: a spare taken but not yet moved is not replaced.
  assert.ok(spares.take() !== null);
  assert.ok(await spares.keep(await fileOf(dir, 'y', 1)));
  assert.is((await fs.readdir(folder)).length, 3);
  // A spare that is also another file's name (both names of a rename left by a power cut,
  // links counted by fsck) is not cut: only its spare name goes.
  const chunk = await fileOf(dir, 'chunk', 5000);
  await fs.link(chunk, path.join(folder, '50'));
  const again = new SpareFiles(dir, 8);
  await again.load();
  assert.is((await fs.stat(chunk)).size, 5000, 'the other name keeps its bytes');
  assert.not.ok((await fs.readdir(folder)).includes('50'));
  assert.is(again.count, 3);
  const off = new SpareFiles(dir, 0);
  await off.load();
  assert.is(off.count, 0);
  assert.is(await off.keep(await fileOf(dir, 'z', 1)), false, 'limit 0 keeps nothing');
  await removeDir(dir);
});

test('the spare folder is fsynced after a take, once for takes that came before it', async () => {
  const dir = await tempDir('spares-sync');
  const spares = new SpareFiles(dir, 4);
  await spares.load();
  await spares.syncTaken(); // nothing taken: nothing to do
  for (const n of ['a', 'b', 'c']) assert.ok(await spares.keep(await fileOf(dir, n, 1)));
  await takeSpareAs(spares, path.join(dir, 'x'));
  await takeSpareAs(spares, path.join(dir, 'y'));
  await Promise.all([spares.syncTaken(), spares.syncTaken()]);
  // With the folder gone, a sync would fail: none is tried for takes already synced...
  await fs.rm(spares.folder, { recursive: true });
  await spares.syncTaken();
  // ...and one is for a new take (it fails here, and is tried again at the next call).
  await takeSpareAs(spares, path.join(dir, 'z'));
  for (let i = 0; i < 2; i++) {
    try {
      await spares.syncTaken();
      assert.unreachable('the folder is gone');
    } catch (err) {
      assert.is((err as FsError).code, 'ENOENT');
    }
  }
  await removeDir(dir);
});

test.run();
