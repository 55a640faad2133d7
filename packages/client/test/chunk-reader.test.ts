// Goal: reads go on when a copy fails. A copy that answers errors, one that reports a checksum
// mismatch (reported to the master), and one whose server is gone are each skipped for the
// next copy; with no copy left the read fails with the chunk's error and the path.
import crypto from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, FsError } from '../src/index.ts';
import { startFakeCluster, type FakeCluster } from './fake-cluster.ts';

let cluster: FakeCluster;
let client: Client;
const data = crypto.randomBytes(2 * 1024 * 1024 + 3);

test.before.each(async () => {
  cluster = await startFakeCluster(3);
  client = await Client.connect({
    master: cluster.master.address, tuning: { backoffMsMin: 5, backoffMsMax: 20 },
  });
  await client.mkdir('/d');
  await client.setGoal('/d', 2);
  await client.writeFile('/d/f', data);
});

test.after.each(async () => {
  client.close();
  await cluster.stop();
});

test('a copy that answers EIO: the other copy serves every read', async () => {
  cluster.servers[0]!.readStatus = 'EIO';
  assert.ok((await client.readFile('/d/f')).equals(data));
  assert.ok(cluster.servers[1]!.counters.read_requests! > 0);
});

test('a checksum mismatch is reported to the master and the other copy is read', async () => {
  cluster.servers[1]!.readStatus = 'CHECKSUM_MISMATCH';
  assert.ok((await client.readFile('/d/f')).equals(data));
  // The report is sent without waiting for it: poll, bounded.
  for (let i = 0; i < 200 && cluster.master.badReports.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(cluster.master.badReports.some((r) => r.csId === 2));
});

test('a chunkserver that is gone: the read stream uses the copy that is left', async () => {
  await cluster.servers[0]!.stop();
  cluster.servers[0]!.down = false; // the master still lists it, as right after a crash
  const got: Buffer[] = [];
  for await (const c of client.createReadStream('/d/f')) got.push(c as Buffer);
  assert.ok(Buffer.concat(got).equals(data));
});

test('no copy left: the read fails with the status and the path', async () => {
  cluster.servers[0]!.readStatus = 'EIO';
  cluster.servers[1]!.readStatus = 'EIO';
  try {
    await client.readFile('/d/f');
    assert.unreachable('read should fail');
  } catch (err) {
    assert.instance(err, FsError);
    assert.is((err as FsError).code, 'EIO');
    assert.match((err as FsError).message, /\/d\/f/);
  }
});

test('small sequential handle reads use readahead and return the same bytes', async () => {
  const h = await client.open('/d/f', 'r');
  const parts: Buffer[] = [];
  for (let i = 0; i < 100; i++) {
    const b = Buffer.alloc(128 * 1024);
    const n = await h.read(b);
    if (n === 0) break;
    parts.push(b.subarray(0, n));
  }
  await h.close();
  assert.ok(Buffer.concat(parts).equals(data));
  const requests = cluster.servers.reduce((n, s) => n + s.counters.read_requests!, 0);
  assert.ok(requests <= 4, `reads were aligned 1 MiB requests (${requests})`);
});

test('large sequential reads are fetched ahead too; unaligned ones still read right', async () => {
  const h = await client.open('/d/f', 'r');
  const got = Buffer.alloc(data.length);
  // 1 MiB + 1 reads: every one after the first starts where the last ended, across segments.
  const step = 1024 * 1024 + 1;
  for (let at = 0, round = 0; at < data.length && round < 10; round++) {
    const n = await h.read(got, at, Math.min(step, data.length - at), at);
    assert.ok(n > 0, 'each read brings bytes until the end');
    at += n;
  }
  await h.close();
  assert.ok(got.equals(data));
  const requests = cluster.servers.reduce((n, s) => n + s.counters.read_requests!, 0);
  // The first read asks for its own ranges; the rest come from aligned 1 MiB segments.
  assert.ok(requests <= 6, `reads were fetched ahead in aligned segments (${requests})`);
});

test('closing the client ends a read stream and dials no new connection', async () => {
  const stream = client.createReadStream('/d/f', { highWaterMark: 1024 });
  const first = await new Promise<Buffer>((resolve) => stream.once('data', resolve));
  assert.ok(first.length > 0);
  const ended = new Promise<unknown>((resolve) => {
    stream.once('error', resolve);
    stream.once('close', () => resolve(null));
  });
  client.close();
  stream.resume();
  await ended;
  for (const s of cluster.servers) s.dropHops(); // leaves only connections from the client
  // Requests that were in flight fail; none of them may open a socket again: poll, bounded.
  for (let i = 0; i < 100 && cluster.servers.some((s) => s.linkCount > 0); i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(cluster.servers.map((s) => s.linkCount), [0, 0, 0]);
});

test.run();
