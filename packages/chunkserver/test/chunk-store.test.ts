// Goal: the chunk store over a real temporary folder. Create / write / read / truncate / set
// version / delete with their version checks; partial blocks; a flipped byte marks the copy
// damaged; a restart finds every chunk and repairs what a crash left (temporary files, stale
// duplicates, headers that disagree with the file, creates cut short); the open-file bound
// holds; ENOSPC at the reserve; concurrent writes to one block apply in arrival order.
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BLOCK_SIZE_BYTES, CHUNK_SIZE_BYTES, FsError, checksum } from '@antlerfs/protocol';
import {
  FIXED_FIELDS_BYTES, HEADER_BYTES, chunkFilePath, chunkSubfolder, encodeHeader,
} from '../src/chunk-file.ts';
import { ChecksumPool } from '../src/checksum-pool.ts';
import { ChunkStore, type ChunkInfo } from '../src/chunk-store.ts';
import { flipByte, log, patternBytes, removeDir, tempDir } from './fixtures.ts';

/** Overwrites a chunk file's fixed header fields (as a crash between two writes leaves them). */
async function writeFields(
  filePath: string, h: { chunkId: number; version: number; lengthBytes: number },
): Promise<void> {
  const h2 = await fs.open(filePath, 'r+');
  await h2.write(encodeHeader(h).subarray(0, FIXED_FIELDS_BYTES), 0, FIXED_FIELDS_BYTES, 0);
  await h2.close();
}

const pool = new ChecksumPool(1);

async function openStore(
  dir: string, over: { reserveBytes?: number; openFilesMax?: number; spareFilesMax?: number } = {},
) {
  const store = new ChunkStore({
    folders: [{ path: dir, reserveBytes: over.reserveBytes ?? 0 }],
    openFilesMax: over.openFilesMax ?? 16, log, checksumPool: pool,
    ...(over.spareFilesMax === undefined ? {} : { spareFilesMax: over.spareFilesMax }),
  });
  await store.start();
  return store;
}

async function expectStatus(work: Promise<unknown>, code: string): Promise<void> {
  try {
    await work;
  } catch (err) {
    assert.instance(err, FsError);
    assert.is((err as FsError).code, code);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

async function writeData(store: ChunkStore, id: number, version: number, at: number, data: Buffer) {
  // Split at block boundaries as a client does.
  let done = 0;
  while (done < data.length) {
    const offset = at + done;
    const inBlock = offset % BLOCK_SIZE_BYTES;
    const n = Math.min(BLOCK_SIZE_BYTES - inBlock, data.length - done);
    const piece = data.subarray(done, done + n);
    const blockIndex = Math.floor(offset / BLOCK_SIZE_BYTES);
    await store.write(id, version, blockIndex, inBlock, piece, checksum(piece));
    done += n;
  }
}

test('create, write, read, set version, truncate, delete', async () => {
  const dir = await tempDir('store');
  const store = await openStore(dir);
  await store.create(5, 1);
  const data = patternBytes(200_000, 7);
  await writeData(store, 5, 1, 1000, data);
  assert.equal(store.get(5), { chunkId: 5, version: 1, lengthBytes: 201_000 });
  const expect = Buffer.alloc(300_000);
  data.copy(expect, 1000);
  assert.ok((await store.read(5, 1, 0, 300_000)).equals(expect));
  await expectStatus(store.read(5, 2, 0, 10), 'WRONG_VERSION');
  await expectStatus(store.read(6, 1, 0, 10), 'NO_SUCH_CHUNK');
  await expectStatus(store.read(5, 1, CHUNK_SIZE_BYTES - 10, 11), 'EINVAL');

  await store.setVersion(5, 1, 2);
  await store.setVersion(5, 1, 2); // a repeated order is already done
  await expectStatus(store.setVersion(5, 1, 3), 'WRONG_VERSION');
  await expectStatus(store.write(5, 1, 0, 0, data.subarray(0, 10), checksum(data.subarray(0, 10))),
    'WRONG_VERSION');
  assert.ok(await fs.stat(chunkFilePath(dir, 5, 2)));

  await store.truncate(5, 2, 3, 70_000);
  assert.equal(store.get(5), { chunkId: 5, version: 3, lengthBytes: 70_000 });
  const cut = Buffer.alloc(100_000);
  expect.copy(cut, 0, 0, 70_000);
  assert.ok((await store.read(5, 3, 0, 100_000)).equals(cut));
  await expectStatus(store.truncate(5, 3, 4, CHUNK_SIZE_BYTES + 1), 'EINVAL');

  await store.delete(5, 0);
  assert.is(store.get(5), undefined);
  assert.is(await fs.stat(chunkFilePath(dir, 5, 3)).catch(() => null), null, 'file removed');
  await expectStatus(store.delete(5, 0), 'NO_SUCH_CHUNK');
  await store.close();
  await removeDir(dir);
});

test('create replaces a chunk with that id by an empty one', async () => {
  const dir = await tempDir('replace');
  const store = await openStore(dir);
  await store.create(9, 4);
  await writeData(store, 9, 4, 0, patternBytes(5000, 1));
  await store.create(9, 1);
  assert.equal(store.get(9), { chunkId: 9, version: 1, lengthBytes: 0 });
  assert.is(await fs.stat(chunkFilePath(dir, 9, 4)).catch(() => null), null, 'old file gone');
  assert.ok((await store.read(9, 1, 0, 5000)).equals(Buffer.alloc(5000)));
  await store.close();
  await removeDir(dir);
});

test('a flipped byte marks the copy damaged and is never served', async () => {
  const dir = await tempDir('flip');
  const store = await openStore(dir);
  const damaged: ChunkInfo[] = [];
  store.onDamaged = (c) => damaged.push(c);
  await store.create(3, 1);
  const data = patternBytes(4 * BLOCK_SIZE_BYTES, 3);
  await writeData(store, 3, 1, 0, data);
  await store.close(); // drop cached handles so the flip is read from disk
  await flipByte(chunkFilePath(dir, 3, 1), HEADER_BYTES + 2 * BLOCK_SIZE_BYTES + 5);
  const again = await openStore(dir);
  again.onDamaged = (c) => damaged.push(c);
  const good = await again.read(3, 1, 0, 2 * BLOCK_SIZE_BYTES);
  assert.ok(good.equals(data.subarray(0, 2 * BLOCK_SIZE_BYTES)), 'good blocks before the damage');
  await expectStatus(again.read(3, 1, 2 * BLOCK_SIZE_BYTES + 100, 10), 'CHECKSUM_MISMATCH');
  // Once damaged, the copy is not served at all (its good blocks included).
  await expectStatus(again.read(3, 1, 0, 4 * BLOCK_SIZE_BYTES), 'CHECKSUM_MISMATCH');
  await expectStatus(again.read(3, 1, 0, 10), 'CHECKSUM_MISMATCH');
  await expectStatus(again.checksums(3, 1), 'CHECKSUM_MISMATCH');
  assert.equal(damaged, [{ chunkId: 3, version: 1, lengthBytes: 4 * BLOCK_SIZE_BYTES }],
    'reported once');
  assert.is(again.counters.blockChecksumErrors, 1, 'refusals are not new checksum errors');
  assert.equal(again.damagedChunks().map((c) => c.chunkId), [3]);
  assert.equal(await again.verifyChunk(3), [2]);
  await again.close();
  await removeDir(dir);
});

test('restart: chunks found, crash leftovers cleaned, inconsistent headers repaired', async () => {
  const dir = await tempDir('scan');
  const store = await openStore(dir);
  for (let id = 1; id <= 20; id++) {
    await store.create(id, 1);
    await writeData(store, id, 1, 0, patternBytes(id * 1000, id));
  }
  await store.close();
  // A half-created chunk, a stale lower version of chunk 2, and an unknown file.
  await fs.writeFile(chunkFilePath(dir, 30, 1) + '.tmp', 'half');
  await fs.writeFile(chunkFilePath(dir, 2, 1).replace('_00000001.dat', '_00000000.dat'), 'x');
  const stale = chunkFilePath(dir, 4, 1);
  const newer = chunkFilePath(dir, 4, 2);
  await fs.copyFile(stale, newer);
  await writeFields(newer, { chunkId: 4, version: 2, lengthBytes: 4000 });
  // Chunk 7: data written past the stored length but the header not updated (crash mid-write).
  const p7 = chunkFilePath(dir, 7, 1);
  await writeFields(p7, { chunkId: 7, version: 1, lengthBytes: 3000 });
  // Chunk 8: renamed to version 2 but the header still says 1 (crash in a version change).
  await fs.rename(chunkFilePath(dir, 8, 1), chunkFilePath(dir, 8, 2));

  const again = await openStore(dir);
  assert.is(again.chunkCount, 20);
  const temp = await fs.stat(chunkFilePath(dir, 30, 1) + '.tmp').catch(() => null);
  assert.is(temp, null, 'temp removed');
  assert.is(await fs.stat(stale).catch(() => null), null, 'stale version removed');
  assert.equal(again.get(4), { chunkId: 4, version: 2, lengthBytes: 4000 });
  assert.equal(again.get(7), { chunkId: 7, version: 1, lengthBytes: 7000 });
  assert.ok((await again.read(7, 1, 0, 7000)).equals(patternBytes(7000, 7)));
  assert.equal(again.get(8), { chunkId: 8, version: 2, lengthBytes: 8000 });
  assert.ok((await again.read(8, 2, 0, 8000)).equals(patternBytes(8000, 8)));
  assert.equal(again.damagedChunks(), []);
  for (let id = 9; id <= 20; id++) {
    const back = await again.read(id, 1, 0, id * 1000);
    assert.ok(back.equals(patternBytes(id * 1000, id)), `chunk ${id}`);
  }
  assert.ok(await fs.stat(path.join(dir, chunkSubfolder(2))), 'subfolders exist');
  await again.close();
  await removeDir(dir);
});

test('a chunk whose data was lost in a crash is found damaged at start', async () => {
  const dir = await tempDir('lost');
  const store = await openStore(dir);
  await store.create(11, 1);
  await writeData(store, 11, 1, 0, patternBytes(3 * BLOCK_SIZE_BYTES, 11));
  await store.close();
  await fs.truncate(chunkFilePath(dir, 11, 1), HEADER_BYTES + BLOCK_SIZE_BYTES + 5);
  const again = await openStore(dir);
  const info = again.get(11);
  // The lost bytes are not a hole: they fail their checksums, the file is whole again.
  assert.equal(info, { chunkId: 11, version: 1, lengthBytes: 3 * BLOCK_SIZE_BYTES });
  assert.is((await fs.stat(chunkFilePath(dir, 11, 1))).size, HEADER_BYTES + 3 * BLOCK_SIZE_BYTES);
  assert.equal(again.damagedChunks().map((c) => c.chunkId), [11]);
  // A damaged copy is not served, not even its intact first block.
  await expectStatus(again.read(11, 1, 0, 10), 'CHECKSUM_MISMATCH');
  await expectStatus(again.read(11, 1, BLOCK_SIZE_BYTES, 10), 'CHECKSUM_MISMATCH');
  assert.equal(await again.verifyChunk(11), [1, 2]);
  await again.close();
  await removeDir(dir);
});

test('creates cut short by a crash (empty or torn file) are removed at start', async () => {
  const dir = await tempDir('cut');
  const store = await openStore(dir);
  for (const id of [21, 22, 23, 24]) await store.create(id, 1);
  await writeData(store, 24, 1, 0, patternBytes(100, 24));
  await store.fsync(24, 1); // also syncs the folder of a new chunk
  await store.close();
  // Creates are not fsynced: a power cut may leave an empty file, a short one or a torn header.
  await fs.truncate(chunkFilePath(dir, 21, 1), 0);
  await fs.truncate(chunkFilePath(dir, 22, 1), 4096);
  const h23 = await fs.open(chunkFilePath(dir, 23, 1), 'r+');
  await h23.write(Buffer.alloc(FIXED_FIELDS_BYTES), 0, FIXED_FIELDS_BYTES, 0);
  await h23.close();
  const again = await openStore(dir);
  assert.equal(again.list().map((c) => c.chunkId).sort(), [24]);
  for (const id of [21, 22, 23]) {
    assert.is(await fs.stat(chunkFilePath(dir, id, 1)).catch(() => null), null, `${id} removed`);
  }
  assert.ok((await again.read(24, 1, 0, 100)).equals(patternBytes(100, 24)));
  await again.close();
  await removeDir(dir);
});

test('open files stay within OPEN_FILES_MAX under interleaved use', async () => {
  const dir = await tempDir('lru');
  const store = await openStore(dir, { openFilesMax: 4 });
  for (let id = 1; id <= 12; id++) {
    await store.create(id, 1);
    assert.ok(store.openFileCount <= 4);
  }
  const reads: Promise<Buffer>[] = [];
  for (let round = 0; round < 3; round++) {
    for (let id = 1; id <= 12; id++) {
      const piece = patternBytes(700, id * 10 + round);
      const written = store.write(id, 1, round, 0, piece, checksum(piece));
      reads.push(written.then(() => store.read(id, 1, round * BLOCK_SIZE_BYTES, 700)));
    }
  }
  const got = await Promise.all(reads);
  let i = 0;
  for (let round = 0; round < 3; round++) {
    for (let id = 1; id <= 12; id++) {
      assert.ok(got[i++]!.equals(patternBytes(700, id * 10 + round)));
    }
  }
  assert.ok(store.openFileCount <= 4, `open files ${store.openFileCount}`);
  await store.close();
  await removeDir(dir);
});

test('a file closed to make room and reopened at once keeps its stored length', async () => {
  const dir = await tempDir('reopen');
  const store = await openStore(dir, { openFilesMax: 1 });
  await store.create(1, 1);
  await store.create(2, 1);
  const work: Promise<unknown>[] = [];
  // Each round grows chunk 1, evicts it through chunk 2, and reads it back at once.
  for (let round = 0; round < 30; round++) {
    const piece = patternBytes(BLOCK_SIZE_BYTES, round);
    work.push(store.write(1, 1, round, 0, piece, checksum(piece)));
    work.push(store.read(2, 1, 0, 10));
    work.push(store.read(1, 1, round * BLOCK_SIZE_BYTES, BLOCK_SIZE_BYTES).then((b) => {
      assert.ok(b.equals(piece), `round ${round}`);
    }));
  }
  await Promise.all(work);
  assert.is(store.get(1)?.lengthBytes, 30 * BLOCK_SIZE_BYTES);
  assert.ok(store.openFileCount <= 1);
  await store.close();
  const again = await openStore(dir);
  assert.equal(again.get(1), { chunkId: 1, version: 1, lengthBytes: 30 * BLOCK_SIZE_BYTES });
  await again.close();
  await removeDir(dir);
});

test('writes to one block apply in arrival order; reads never see a torn block', async () => {
  const dir = await tempDir('order');
  const store = await openStore(dir);
  await store.create(1, 1);
  const writes: Promise<void>[] = [];
  const reads: Promise<Buffer>[] = [];
  // Round i: a whole block of i, then one byte i+100 at offset 100, then a read. Each read must
  // see exactly its round's state, whatever order the disk work completes in.
  for (let i = 0; i < 50; i++) {
    const piece = Buffer.alloc(BLOCK_SIZE_BYTES, i);
    writes.push(store.write(1, 1, 0, 0, piece, checksum(piece)));
    const small = Buffer.from([i + 100]);
    writes.push(store.write(1, 1, 0, 100, small, checksum(small)));
    reads.push(store.read(1, 1, 0, BLOCK_SIZE_BYTES));
  }
  await Promise.all(writes);
  const got = await Promise.all(reads);
  for (let i = 0; i < 50; i++) {
    const expect = Buffer.alloc(BLOCK_SIZE_BYTES, i);
    expect[100] = i + 100;
    assert.ok(got[i]!.equals(expect), `read of round ${i}`);
  }
  await store.close();
  await removeDir(dir);
});

test('ENOSPC below the reserve, and space reports 0 free', async () => {
  const dir = await tempDir('full');
  const store = await openStore(dir, { reserveBytes: 2 ** 52 });
  await expectStatus(store.create(1, 1), 'ENOSPC');
  assert.is(store.space().freeBytes, 0);
  assert.ok(store.space().totalBytes > 0);
  assert.is(store.chunkCount, 0);
  await store.close();
  await removeDir(dir);
});

test('a deleted chunk\'s file becomes the next new chunk\'s (same inode, no old bytes)', async () => {
  const dir = await tempDir('spare');
  const store = await openStore(dir);
  await store.create(20, 1);
  await writeData(store, 20, 1, 0, patternBytes(300_000, 3));
  const inode = (await fs.stat(chunkFilePath(dir, 20, 1))).ino;
  await store.delete(20, 1);
  const spareFolder = path.join(dir, 'spare');
  assert.is((await fs.readdir(spareFolder)).length, 1);
  await store.create(21, 1);
  assert.is((await fs.stat(chunkFilePath(dir, 21, 1))).ino, inode, 'the spare was renamed in');
  assert.is((await fs.readdir(spareFolder)).length, 0);
  assert.ok((await store.read(21, 1, 0, 300_000)).equals(Buffer.alloc(300_000)), 'empty');
  const data = patternBytes(70_000, 4);
  await writeData(store, 21, 1, 0, data);
  assert.ok((await store.read(21, 1, 0, 70_000)).equals(data));
  await store.close();
  // A restart finds the chunk made from the spare, and spares kept across it.
  const again = await openStore(dir);
  assert.equal(again.get(21), { chunkId: 21, version: 1, lengthBytes: 70_000 });
  assert.ok((await again.read(21, 1, 0, 70_000)).equals(data));
  await again.delete(21, 1);
  await again.close();
  assert.is((await fs.readdir(spareFolder)).length, 1);
  const off = await openStore(dir, { spareFilesMax: 0 });
  await off.create(22, 1);
  await writeData(off, 22, 1, 0, data);
  await off.delete(22, 1);
  assert.is((await fs.readdir(spareFolder)).length, 0, 'limit 0: no spares kept, none left');
  assert.is(await fs.stat(chunkFilePath(dir, 22, 1)).catch(() => null), null, 'unlinked');
  await off.close();
  await removeDir(dir);
});

test.after(async () => {
  await pool.close();
});

test.run();
