// Goal: a chunk write survives chain failures. Links dropped mid-write and a chunkserver lost
// mid-write make the writer ask the master for a fresh chain and resend what was not
// acknowledged; the bytes read back are the bytes written. A chain that keeps failing ends in
// an error after a bounded number of chains, and writeFile leaves nothing behind. A write in
// progress when the master link drops asks the new session for the chunk again (its lease went
// with the old session) and goes on; what was acknowledged before stays.
import crypto from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Logger } from '@antlerfs/protocol';
import { Client, FsError } from '../src/index.ts';
import { startFakeCluster, type FakeCluster } from './fake-cluster.ts';

let cluster: FakeCluster;
let client: Client;
const quietLog = new Logger('test');
quietLog.log = () => undefined;

test.before.each(async () => {
  cluster = await startFakeCluster(3);
  client = await Client.connect({
    master: cluster.master.address, log: quietLog,
    tuning: { backoffMsMin: 5, backoffMsMax: 20, writeChainRetriesMax: 3, writeWindowBlocks: 8 },
  });
  await client.setGoal('/', 2);
});

test.after.each(async () => {
  client.close();
  await cluster.stop();
});

function writeChunkRequests(): number {
  return cluster.master.requests.filter((r) => r.startsWith('WRITE_CHUNK')).length;
}

test('links dropped by the head of the chain: resent on a fresh chain, bytes intact', async () => {
  const data = crypto.randomBytes(5 * 1024 * 1024 + 77);
  cluster.servers[0]!.dropLinksAfterWrites = 20;
  await client.writeFile('/f', data);
  assert.ok(writeChunkRequests() >= 2, 'a fresh chain was asked for');
  assert.ok((await client.readFile('/f')).equals(data));
  const info = await client.fileInfo('/f');
  for (const loc of info.chunks[0]!.locations) {
    const server = cluster.servers.find((s) => s.csId === loc.csId)!;
    const stored = server.chunkBytes(info.chunks[0]!.chunkId, data.length);
    assert.ok(stored.equals(data), `copy on ${loc.csId}`);
  }
});

test('a chunkserver lost mid-write: the write goes on with the chain that is left', async () => {
  const data = crypto.randomBytes(3 * 1024 * 1024);
  cluster.servers[1]!.crashAfterWrites = 10; // the second hop of the chain
  const h = await client.open('/g', 'w');
  await h.write(data, 0);
  await h.close();
  assert.ok(writeChunkRequests() >= 2);
  const info = await client.fileInfo('/g');
  assert.equal(info.chunks[0]!.locations.map((l) => l.csId), [1]);
  assert.ok((await client.readFile('/g')).equals(data));
});

test('a chain that keeps failing: bounded retries, then the error; nothing left', async () => {
  cluster.servers[0]!.writeStatus = 'EIO';
  let error: unknown = null;
  try {
    await client.writeFile('/h', crypto.randomBytes(1024 * 1024));
  } catch (err) {
    error = err;
  }
  assert.instance(error, FsError);
  assert.is((error as FsError).code, 'EIO');
  assert.match((error as FsError).message, /\/h/);
  assert.is(writeChunkRequests(), 4, 'the first chain and three fresh ones');
  assert.equal((await client.readdir('/')).map((e) => e.name), []);
});

test('overlapping small writes in one block keep their order across a chain failure', async () => {
  cluster.servers[0]!.dropLinksAfterWrites = 3;
  const h = await client.open('/o', 'w', {});
  const expected = Buffer.alloc(5000);
  for (let i = 0; i < 50; i++) {
    const piece = Buffer.alloc(100 + i, i);
    await h.write(piece, i * 50, { transfer: true });
    piece.copy(expected, i * 50);
    if (i % 7 === 0) await h.flush();
  }
  await h.close();
  const back = await client.readFile('/o');
  assert.ok(back.equals(expected.subarray(0, back.length)));
  assert.is(back.length, 49 * 50 + 149);
});

test('a transferred buffer is released once every copy has it, never after a failure', async () => {
  const data = crypto.randomBytes(3 * 64 * 1024 + 100); // whole blocks, then a staged tail
  const h = await client.open('/t', 'w');
  let released = 0;
  await h.write(data, 0, { transfer: true, released: () => { released++; } });
  await h.flush();
  await new Promise((r) => setImmediate(r));
  assert.is(released, 1, 'released once, after the acknowledgements');
  await h.close();
  assert.ok((await client.readFile('/t')).equals(data));
  // Every copy refuses: the write fails and the buffer is never said to be free.
  for (const server of cluster.servers) server.writeStatus = 'EIO';
  const failing = await client.open('/u', 'w');
  let releasedAfterFailure = 0;
  await failing.write(crypto.randomBytes(2 * 64 * 1024), 0,
    { transfer: true, released: () => { releasedAfterFailure++; } });
  let error: unknown = null;
  await failing.close().catch((err: unknown) => { error = err; });
  assert.instance(error, FsError);
  assert.is(releasedAfterFailure, 0);
});

test('a write in progress when the master link drops: the chunk is asked for again', async () => {
  const MiB = 1024 * 1024;
  const first = crypto.randomBytes(2 * MiB);
  const second = crypto.randomBytes(MiB + 123);
  const h = await client.open('/lease', 'w');
  await h.write(first, 0); // large: returns once every copy acknowledged it
  const [chunkId] = [...cluster.master.chunks.keys()];
  const versionBefore = cluster.master.chunks.get(chunkId!)!.version;
  const asked = writeChunkRequests();
  cluster.master.dropLinks();
  await client.statfs(); // answered on the new session, which has told the writer
  await h.write(second, first.length);
  await h.close();
  assert.is(writeChunkRequests(), asked + 1, 'the new session was asked for the chunk');
  assert.is(cluster.master.chunks.get(chunkId!)!.version, versionBefore + 1);
  assert.is(cluster.master.chunks.get(chunkId!)!.lease, null, 'the lease was given back');
  const back = await client.readFile('/lease');
  assert.ok(back.equals(Buffer.concat([first, second])), 'bytes before and after the drop');
});

test.run();
