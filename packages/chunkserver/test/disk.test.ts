// Goal: a failing chunk folder. Device errors are counted per folder (a missing chunk file or a
// full disk are not; the folder's own paths missing are); past HDD_IO_ERRORS_MAX the folder is
// damaged. On a running chunkserver with two folders, a folder failing with EIO (through the
// test hook) or removed from under the server has its chunks reported to the (fake) master with
// CSTOMA_CHUNK_LOST, takes no new chunks and is left out of registration, while the other folder
// keeps serving. A folder that cannot be prepared at start is left out; start fails only if no
// folder is usable.
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLTOCS_READ, FsError, MATOCS_CREATE, Status } from '@antlerfs/protocol';
import { chunkFilePath } from '../src/chunk-file.ts';
import { Chunkserver } from '../src/chunkserver.ts';
import { Disk } from '../src/disk.ts';
import {
  dialData, log, patternBytes, readChunk, removeDir, scanStore, startFakeMaster, statsOf,
  tempDir, testConfig, waitFor, writeChunk, type FakeMaster,
} from './fixtures.ts';

test('device errors are counted; a missing file or a full disk are not', async () => {
  const disk = new Disk({ path: '/nonexistent/antler-disk-test', reserveBytes: 0 }, 3);
  const damaged: string[] = [];
  disk.onDamaged = (d, why) => damaged.push(why);
  const fail = (code: string) => () => Promise.reject(new FsError(
    code === 'EIO' ? 'EIO' : code === 'ENOSPC' ? 'ENOSPC' : 'ENOENT', `test ${code}`));
  for (const code of ['ENOENT', 'ENOSPC', 'ENOENT']) {
    await disk.io(fail(code)).catch(() => undefined);
  }
  assert.is(disk.ioErrors, 0);
  await disk.io(fail('ENOENT'), true).catch(() => undefined);
  assert.is(disk.ioErrors, 1, 'the folder\'s own path missing counts');
  await disk.io(fail('EIO')).catch(() => undefined);
  assert.not.ok(disk.damaged);
  disk.injectFault('EIO');
  let injected: unknown = null;
  await disk.io(async () => 'never runs').catch((err: unknown) => { injected = err; });
  assert.instance(injected, FsError);
  assert.is((injected as FsError).code, 'EIO');
  assert.ok(disk.damaged, 'damaged at the third error');
  await disk.io(fail('EIO')).catch(() => undefined);
  assert.is(damaged.length, 1, 'reported once');
  assert.is(disk.usableBytes, 0, 'no room for new chunks');
  disk.injectFault(null);
  assert.is(await disk.io(async () => 'works'), 'works', 'the hook can be lifted');
});

/** Two folders: chunks 1 and 2 in the first, 3 in the second. */
async function twoFolders(dataPath: string): Promise<[string, string]> {
  const a = path.join(dataPath, 'a');
  const b = path.join(dataPath, 'b');
  for (const [dir, ids] of [[a, [1, 2]], [b, [3]]] as const) {
    const scanned = await scanStore(dir);
    for (const id of ids) await writeChunk(scanned.store, id, 1, patternBytes(100_000, id));
    await scanned.close();
  }
  return [a, b];
}

function chunkserverFor(dataPath: string, folders: string[], fake: FakeMaster): Chunkserver {
  const config = testConfig({
    dataPath, masters: [{ host: '127.0.0.1', port: fake.port }], hddIoErrorsMax: 3,
  });
  return new Chunkserver(config, folders.map((p) => ({ path: p, reserveBytes: 0 })),
    log.child('cs'));
}

/** What the running chunkserver shows once folder `a` has failed (chunks 1 and 2 lost). */
async function expectFolderGone(cs: Chunkserver, fake: FakeMaster, b: string): Promise<void> {
  await waitFor('chunks of the failed folder reported lost', () => fake.lost.length === 2);
  assert.equal(fake.lost.map((c) => c.chunkId).sort(), [1, 2]);
  const link = await dialData(cs.dataPort);
  const gone = await link.request(CLTOCS_READ, { chunkId: 1, version: 1, offset: 0, size: 10 });
  assert.is(gone.status, Status.NO_SUCH_CHUNK);
  const kept = await readChunk(link, 3, 1, 100_000);
  assert.ok(kept.equals(patternBytes(100_000, 3)), 'the other folder keeps serving');
  const master = fake.links.find((l) => !l.closed)!;
  assert.is((await master.request(MATOCS_CREATE, { chunkId: 10, version: 1 })).status, Status.OK);
  // The new chunk goes to the healthy folder (its file is made just after the answer).
  await waitFor('the new chunk file', () => existsSync(chunkFilePath(b, 10, 1)));
  const c = await statsOf(link);
  assert.is(c.disks_damaged, 1);
  assert.is(c.chunks_lost, 2);
  assert.ok(c.disk_io_errors >= 3, `errors ${c.disk_io_errors}`);
  // After the link drops, registration lists only what the healthy folder holds.
  const batches = fake.batches.length;
  master.close('master restarting');
  await waitFor('re-registration', () => fake.batches.length > batches
    && fake.batches.at(-1)!.last === 1);
  const listed = fake.batches.slice(batches).flatMap((x) => x.chunks.map((ch) => ch.chunkId));
  assert.equal(listed.sort((x, y) => x - y), [3, 10]);
  link.close('done');
}

test('a folder failing with EIO: its chunks reported lost, the other keeps serving', async () => {
  const dataPath = await tempDir('disk-eio');
  const [a, b] = await twoFolders(dataPath);
  const fake = await startFakeMaster(6);
  const cs = chunkserverFor(dataPath, [a, b], fake);
  await cs.start();
  const failing = cs.store.disks.find((d) => d.path === a)!;
  failing.injectFault('EIO');
  const link = await dialData(cs.dataPort);
  const r = await link.request(CLTOCS_READ, { chunkId: 2, version: 1, offset: 0, size: 10 });
  assert.ok(r.status === Status.EIO || r.status === Status.NO_SUCH_CHUNK, `status ${r.status}`);
  link.close('done');
  await expectFolderGone(cs, fake, b);
  assert.ok(failing.damaged);
  await cs.stop();
  await fake.close();
  await removeDir(dataPath);
});

test('a folder removed under the running server is given up the same way', async () => {
  const dataPath = await tempDir('disk-rm');
  const [a, b] = await twoFolders(dataPath);
  const fake = await startFakeMaster(7);
  const cs = chunkserverFor(dataPath, [a, b], fake);
  await cs.start();
  await fs.rm(a, { recursive: true });
  // Heartbeats measure the space of every folder: the missing root counts against it.
  await expectFolderGone(cs, fake, b);
  await cs.stop();
  await fake.close();
  await removeDir(dataPath);
});

test('a folder that cannot be prepared at start is left out; none usable fails', async () => {
  const dataPath = await tempDir('disk-start');
  const [a, b] = await twoFolders(dataPath);
  const blocked = path.join(dataPath, 'not-a-folder');
  await fs.writeFile(blocked, 'x');
  const fake = await startFakeMaster(8);
  const cs = chunkserverFor(dataPath, [blocked, a, b], fake);
  await cs.start();
  assert.equal(cs.store.list().map((c) => c.chunkId).sort(), [1, 2, 3]);
  assert.ok(cs.store.disks[0]!.damaged);
  await cs.stop();
  const none = chunkserverFor(dataPath, [blocked], fake);
  try {
    await none.store.start();
    assert.unreachable('started with no usable folder');
  } catch (err) {
    assert.instance(err, FsError);
    assert.match((err as Error).message, /no usable chunk folder/);
  }
  await none.checksumPool.close();
  await fake.close();
  await removeDir(dataPath);
});

test.run();
