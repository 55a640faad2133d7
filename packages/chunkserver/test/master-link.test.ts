// Goal: the chunkserver's side of the master link, against a tiny fake master made with the
// protocol's listenLinks on 127.0.0.1. Registration (new id saved, then reused), the chunk list
// in batches ending with last=1, heartbeats, every order (create, set version, truncate,
// delete) acting on disk, ENOSPC at the reserve, damaged copies reported, waiting for a master
// that is not up yet, re-registration with the full list after the link drops, and a list of
// masters: a refused connection and a NOT_ACTIVE_MASTER answer move on to the next master, the
// link stays with the one that accepts, and a lost link moves on again.
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CLTOCS_READ, CLTOCS_WRITE, MATOCS_CREATE, MATOCS_DELETE, MATOCS_SET_VERSION, MATOCS_TRUNCATE,
  Status, type Fields, type Link, type RequestDef, type Struct,
} from '@antlerfs/protocol';
import { HEADER_BYTES, chunkFilePath } from '../src/chunk-file.ts';
import { Chunkserver } from '../src/chunkserver.ts';
import {
  deadPort, dialData, flipByte, log, patternBytes, removeDir, scanStore, startFakeMaster, tempDir,
  testConfig, waitFor, writeBody, type FakeMaster,
} from './fixtures.ts';

async function seedChunks(dir: string, ids: number[]): Promise<void> {
  const scanned = await scanStore(dir);
  for (const id of ids) await scanned.store.create(id, 2);
  await scanned.close();
}

function chunkserverFor(
  dataPath: string, chunks: string, masterPort: number, over = {},
): Chunkserver {
  const config = testConfig({
    dataPath, masters: [{ host: '127.0.0.1', port: masterPort }], chunkListBatchMax: 2, ...over,
  });
  const folders = [{ path: chunks, reserveBytes: config.hddReserveBytes }];
  return new Chunkserver(config, folders, log.child('cs'));
}

function masterLinkOf(fake: FakeMaster): Link {
  const live = fake.links.filter((l) => !l.closed);
  assert.is(live.length, 1, 'one live link from the chunkserver');
  return live[0]!;
}

test('registers, saves its id, lists chunks in batches, heartbeats, obeys orders', async () => {
  const dataPath = await tempDir('ml');
  const chunks = path.join(dataPath, 'chunks');
  await seedChunks(chunks, [11, 12, 13, 14, 15]);
  const fake = await startFakeMaster(7);
  const cs = chunkserverFor(dataPath, chunks, fake.port);
  await cs.start();
  assert.is(cs.csId, 7);
  assert.is((await fs.readFile(path.join(dataPath, 'csid'), 'utf8')).trim(), '7');
  assert.equal(fake.registrations[0], {
    csId: 0, host: '127.0.0.1', port: cs.dataPort, freeBytes: fake.registrations[0]!.freeBytes,
  });
  assert.ok(fake.registrations[0]!.freeBytes > 0);
  assert.equal(fake.batches.map((b) => [b.chunks.length, b.last]), [[2, 0], [2, 0], [1, 1]]);
  const listed = fake.batches.flatMap((b) => b.chunks.map((c) => c.chunkId));
  assert.equal(listed.sort(), [11, 12, 13, 14, 15]);
  await waitFor('heartbeats', () => fake.heartbeats >= 2);

  const master = masterLinkOf(fake);
  assert.is((await master.request(MATOCS_CREATE, { chunkId: 50, version: 1 })).status, Status.OK);
  const data = await dialData(cs.dataPort);
  const bytes = patternBytes(100_000, 50);
  for (let b = 0; b < 2; b++) {
    const piece = bytes.subarray(b * 65536, Math.min(bytes.length, (b + 1) * 65536));
    await data.call(CLTOCS_WRITE, writeBody(50, 1, b, 0, piece), piece);
  }
  const order = async <F extends Fields>(def: RequestDef<F>, body: Struct<F>): Promise<number> =>
    (await master.request(def, body)).status;
  assert.is(await order(MATOCS_SET_VERSION, { chunkId: 50, version: 1, newVersion: 2 }), Status.OK);
  assert.is(await order(MATOCS_SET_VERSION, { chunkId: 50, version: 5, newVersion: 6 }),
    Status.WRONG_VERSION);
  const truncate = { chunkId: 50, version: 2, newVersion: 3, lengthBytes: 1000 };
  assert.is(await order(MATOCS_TRUNCATE, truncate), Status.OK);
  assert.is((await fs.stat(chunkFilePath(chunks, 50, 3))).size, HEADER_BYTES + 1000);
  const r = await data.call(CLTOCS_READ, { chunkId: 50, version: 3, offset: 0, size: 2000 });
  const expect = Buffer.alloc(2000);
  bytes.copy(expect, 0, 0, 1000);
  assert.ok(r.data.equals(expect));
  assert.is((await master.request(MATOCS_DELETE, { chunkId: 50, version: 0 })).status, Status.OK);
  assert.is(await fs.stat(chunkFilePath(chunks, 50, 3)).catch(() => null), null, 'file gone');
  assert.is(await order(MATOCS_DELETE, { chunkId: 50, version: 0 }), Status.NO_SUCH_CHUNK);
  assert.is(await order(MATOCS_DELETE, { chunkId: 11, version: 1 }), Status.WRONG_VERSION);
  // MATOCS_CREATE of a chunk it holds replaces it with an empty one.
  assert.is((await master.request(MATOCS_CREATE, { chunkId: 12, version: 1 })).status, Status.OK);
  assert.is(cs.store.get(12)?.version, 1);
  data.close('done');

  // The master drops the link: the chunkserver comes back with the same id and the full list.
  const batchesBefore = fake.batches.length;
  master.close('master restarting');
  await waitFor('re-registration', () => fake.registrations.length === 2
    && fake.batches.length > batchesBefore && fake.batches.at(-1)?.last === 1);
  assert.is(fake.registrations[1]!.csId, 7);
  const relisted = fake.batches.slice(batchesBefore)
    .flatMap((b) => b.chunks.map((c) => `${c.chunkId}:${c.version}`));
  assert.equal(relisted.sort(), ['11:2', '12:1', '13:2', '14:2', '15:2']);
  await cs.stop();
  await fake.close();
  await removeDir(dataPath);
});

test('waits for a master that is not up yet; then registers with the saved id', async () => {
  const dataPath = await tempDir('wait');
  const chunks = path.join(dataPath, 'chunks');
  await fs.mkdir(dataPath, { recursive: true });
  await fs.writeFile(path.join(dataPath, 'csid'), '42\n');
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const cs = chunkserverFor(dataPath, chunks, port);
  let started = false;
  const starting = cs.start().then(() => { started = true; });
  await new Promise((r) => setTimeout(r, 300));
  assert.not.ok(started, 'not ready without a master');
  const fake = await startFakeMaster(99, port);
  await starting;
  assert.is(cs.csId, 42);
  assert.is(fake.registrations[0]!.csId, 42);
  assert.equal(fake.batches.map((b) => [b.chunks.length, b.last]), [[0, 1]],
    'an empty list still ends');
  await cs.stop();
  await fake.close();
  await removeDir(dataPath);
});

test('ENOSPC below the reserve; damaged copies reported now and after reconnecting', async () => {
  const dataPath = await tempDir('full');
  const chunks = path.join(dataPath, 'chunks');
  await seedChunks(chunks, [5]);
  const fake = await startFakeMaster(3);
  const cs = chunkserverFor(dataPath, chunks, fake.port, { hddReserveBytes: 2 ** 52 });
  await cs.start();
  assert.is(fake.registrations[0]!.freeBytes, 0);
  const master = masterLinkOf(fake);
  const create = await master.request(MATOCS_CREATE, { chunkId: 60, version: 1 });
  assert.is(create.status, Status.ENOSPC);
  // Damage chunk 5 (write a block, flip a byte), then read it.
  const data = await dialData(cs.dataPort);
  const block = patternBytes(65536, 5);
  await data.call(CLTOCS_WRITE, writeBody(5, 2, 0, 0, block), block);
  await cs.store.close();
  await flipByte(chunkFilePath(chunks, 5, 2), HEADER_BYTES + 10);
  data.close('done');
  await cs.stop();
  const again = chunkserverFor(dataPath, chunks, fake.port, { hddReserveBytes: 2 ** 52 });
  await again.start();
  const link2 = await dialData(again.dataPort);
  const r = await link2.request(CLTOCS_READ, { chunkId: 5, version: 2, offset: 0, size: 100 });
  assert.is(r.status, Status.CHECKSUM_MISMATCH);
  await waitFor('damage reported', () => fake.damaged.length === 1);
  assert.equal(fake.damaged[0], { chunkId: 5, version: 2 });
  masterLinkOf(fake).close('master restarting');
  await waitFor('damage reported again', () => fake.damaged.length === 2);
  link2.close('done');
  await again.stop();
  await fake.close();
  await removeDir(dataPath);
});

test('masters: skips a dead one and a shadow, stays with the active, fails over', async () => {
  const dataPath = await tempDir('masters');
  const chunks = path.join(dataPath, 'chunks');
  await seedChunks(chunks, [21, 22, 23]);
  const shadow = await startFakeMaster(30);
  shadow.active = false;
  const active = await startFakeMaster(30);
  const nobody = await deadPort();
  const config = testConfig({
    dataPath, chunkListBatchMax: 2,
    masters: [nobody, shadow.port, active.port].map((port) => ({ host: '127.0.0.1', port })),
  });
  const cs = new Chunkserver(config, [{ path: chunks, reserveBytes: 0 }], log.child('cs'));
  await cs.start();
  assert.is(cs.csId, 30);
  assert.is(cs.masterLink.master, `127.0.0.1:${active.port}`);
  assert.ok(shadow.refused >= 1, 'the shadow answered NOT_ACTIVE_MASTER');
  assert.is(shadow.registrations.length, 0);
  await waitFor('heartbeats to the active master', () => active.heartbeats >= 3);
  assert.is(active.registrations.length, 1, 'stays with the master that accepted');
  assert.is(shadow.heartbeats, 0);

  // The active master goes; the shadow is promoted: the link moves on and lists every chunk.
  shadow.active = true;
  active.active = false;
  masterLinkOf(active).close('master stepping down');
  await waitFor('registered with the promoted master', () => shadow.registrations.length === 1
    && shadow.batches.at(-1)?.last === 1);
  assert.is(shadow.registrations[0]!.csId, 30, 'the saved id');
  const listed = shadow.batches.flatMap((b) => b.chunks.map((c) => c.chunkId));
  assert.equal(listed.sort(), [21, 22, 23]);
  assert.is(cs.masterLink.master, `127.0.0.1:${shadow.port}`);
  await cs.stop();
  await shadow.close();
  await active.close();
  await removeDir(dataPath);
});

test.run();
