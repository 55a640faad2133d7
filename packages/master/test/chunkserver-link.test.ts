// Goal: the chunkserver port: ids handed out and kept across restarts, reconciliation of a
// reported chunk list (unknown -> delete, stale -> delete, equal -> valid, higher -> adopted
// and logged), loss on link close or missed heartbeats, re-registration replacing an old
// link, and damage/loss reports. Method: an in-process master with stand-in chunkservers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CLTOMA_CREATE, CLTOMA_READ_CHUNKS, CLTOMA_REGISTER, CLTOMA_WRITE_CHUNK, CLTOMA_WRITE_END,
  CSTOMA_CHUNK_DAMAGED, CSTOMA_CHUNK_LOST, CSTOMA_HEARTBEAT, Logger,
  PAYLOAD_MAX_CLIENT_MASTER_BYTES, PROTOCOL_VERSION, Status, connectLink, setLogLevel, type Link,
} from '@antlerfs/protocol';
import { defaultMasterConfig, type MasterConfig } from '../src/config.ts';
import { Master } from '../src/master.ts';
import { FakeChunkserver, until } from './fake-chunkserver.ts';
import { removeTempDirs, tempDir } from './helpers.ts';

setLogLevel('warn');
const log = new Logger('test');

function config(dataPath: string, over: Partial<MasterConfig> = {}): MasterConfig {
  return defaultMasterConfig({
    dataPath, listenHost: '127.0.0.1', clientPort: 0, chunkserverPort: 0, monitorPort: 0,
    metaloggerPort: 0, ...over,
  });
}

async function start(dataPath: string, over: Partial<MasterConfig> = {}): Promise<Master> {
  const m = new Master(config(dataPath, over), { log, onFatal: (err) => { throw err; } });
  await m.start();
  return m;
}

async function client(m: Master): Promise<Link> {
  const link = await connectLink('127.0.0.1', m.ports.clientPort, {
    kind: 'client-master', payloadMaxBytes: PAYLOAD_MAX_CLIENT_MASTER_BYTES, log,
  });
  await link.call(CLTOMA_REGISTER, { clientName: 't', protocolVersion: PROTOCOL_VERSION });
  return link;
}

/** A file with one written chunk; returns its inode and chunk id. */
async function fileWithChunk(c: Link, name: string): Promise<{ inode: number; chunkId: number }> {
  const create = { parent: 1, name, mode: 0o644, uid: 0, gid: 0, exclusive: 1, promise: 0 };
  const f = (await c.call(CLTOMA_CREATE, create)).body.attr;
  const w = await c.call(CLTOMA_WRITE_CHUNK, { inode: f.inode, chunkIndex: 0, promisedChunkId: 0 });
  const end = { inode: f.inode, chunkIndex: 0, chunkId: w.body.chunkId, length: 10,
    promised: 0 };
  await c.call(CLTOMA_WRITE_END, end);
  return { inode: f.inode, chunkId: w.body.chunkId };
}

async function locations(c: Link, inode: number): Promise<{ version: number; csIds: number[] }> {
  const r = await c.call(CLTOMA_READ_CHUNKS, { inode, firstIndex: 0, count: 1 });
  const chunk = r.body.chunks[0]!;
  return { version: chunk.version, csIds: chunk.locations.map((l) => l.csId).sort() };
}

test('ids are handed out, logged, and kept across a restart', async () => {
  const dir = tempDir();
  let m = await start(dir);
  const a = await FakeChunkserver.start(m.ports.chunkserverPort);
  const b = await FakeChunkserver.start(m.ports.chunkserverPort);
  assert.equal([a.csId, b.csId], [1, 2]);
  a.close();
  b.close();
  await m.stop();
  m = await start(dir);
  const again = await FakeChunkserver.start(m.ports.chunkserverPort, { csId: 2 });
  const fresh = await FakeChunkserver.start(m.ports.chunkserverPort);
  assert.is(again.csId, 2, 'a known id is kept');
  assert.is(fresh.csId, 3, 'new ids never repeat an old one');
  const foreign = await FakeChunkserver.start(m.ports.chunkserverPort, { csId: 77 });
  assert.is(foreign.csId, 77, 'an id the master does not know is adopted');
  for (const s of [again, fresh, foreign]) s.close();
  await m.stop();
});

test('reconciliation of a reported chunk list', async () => {
  const dir = tempDir();
  let m = await start(dir, { defaultGoal: 1 });
  const cs = await FakeChunkserver.start(m.ports.chunkserverPort);
  let c = await client(m);
  const equal = await fileWithChunk(c, 'equal');
  const stale = await fileWithChunk(c, 'stale');
  const higher = await fileWithChunk(c, 'higher');
  const bump = await c.call(CLTOMA_WRITE_CHUNK, {
    inode: stale.inode, chunkIndex: 0, promisedChunkId: 0,
  });
  assert.is(bump.body.version, 2);
  c.close('done');
  cs.close();
  await m.stop();

  m = await start(dir, { defaultGoal: 1 });
  const unknownId = 2 ** 45;
  const reported = await FakeChunkserver.start(m.ports.chunkserverPort, {
    csId: cs.csId,
    chunks: [[equal.chunkId, 1], [stale.chunkId, 1], [higher.chunkId, 3], [unknownId, 7]],
  });
  c = await client(m);
  await until(() => reported.orders.length >= 2, 'deletions of strays');
  assert.ok(reported.orders.includes(`DELETE ${unknownId} 0`), 'unknown id: deleted, any version');
  assert.ok(reported.orders.includes(`DELETE ${stale.chunkId} 1`), 'stale: that version deleted');
  assert.equal(await locations(c, equal.inode), { version: 1, csIds: [cs.csId] });
  assert.equal(await locations(c, stale.inode), { version: 2, csIds: [] });
  const adopted = await locations(c, higher.inode);
  assert.equal(adopted, { version: 3, csIds: [cs.csId] }, 'higher: adopted');
  c.close('done');
  reported.close();
  await m.stop();
  m = await start(dir, { defaultGoal: 1 });
  assert.is(m.store.md.chunks.live(higher.chunkId)!.version, 3, 'the adoption was logged');
  await m.stop();
});

test('lost chunkservers: heartbeats missed, replaced by a new registration', async () => {
  const m = await start(tempDir(), { chunkserverTimeoutMs: 300 });
  const a = await FakeChunkserver.start(m.ports.chunkserverPort);
  const b = await FakeChunkserver.start(m.ports.chunkserverPort);
  const c = await client(m);
  const f = await fileWithChunk(c, 'f');
  assert.equal((await locations(c, f.inode)).csIds, [a.csId, b.csId]);
  // b keeps beating, a goes silent: a is lost after the timeout and its copy stops counting.
  const beat = setInterval(() => { void b.heartbeat().catch(() => undefined); }, 50);
  await until(() => a.link.closed, 'the silent server is dropped', 3000);
  assert.equal((await locations(c, f.inode)).csIds, [b.csId]);
  // b registers again on a new link (as after a network blip): the old link is closed.
  const b2 = await FakeChunkserver.start(m.ports.chunkserverPort, {
    csId: b.csId, chunks: [[f.chunkId, 1]],
  });
  clearInterval(beat);
  await until(() => b.link.closed, 'the old link closed');
  assert.equal((await locations(c, f.inode)).csIds, [b.csId], 'its copies come back with the list');
  await b2.link.call(CSTOMA_CHUNK_DAMAGED, { chunkId: f.chunkId, version: 1 });
  assert.equal((await locations(c, f.inode)).csIds, [], 'a damaged copy is not listed');
  await b2.link.call(CSTOMA_CHUNK_LOST, { chunkId: f.chunkId, version: 1 });
  assert.is(m.store.md.chunks.live(f.chunkId)!.copies.size, 0);
  const st = m.status();
  assert.equal(st.chunkservers.map((s) => s.state).sort(), ['lost', 'online']);
  c.close('done');
  b2.close();
  await m.stop();
});

test('a chunk whose copies went before anything was written is made again', async () => {
  const m = await start(tempDir(), { defaultGoal: 1 });
  const a = await FakeChunkserver.start(m.ports.chunkserverPort);
  const c = await client(m);
  const create = { parent: 1, name: 'f', mode: 0o644, uid: 0, gid: 0, exclusive: 1, promise: 0 };
  const f = (await c.call(CLTOMA_CREATE, create)).body.attr;
  const w = await c.call(CLTOMA_WRITE_CHUNK, { inode: f.inode, chunkIndex: 0, promisedChunkId: 0 });
  const chunkId = w.body.chunkId;
  // The writer gives the lease back without having written (length 0), and the only copy is
  // lost (a chunkserver killed before the first write finds an empty file at start).
  await c.call(CLTOMA_WRITE_END, { inode: f.inode, chunkIndex: 0, chunkId, length: 0, promised: 0 });
  await a.link.call(CSTOMA_CHUNK_LOST, { chunkId, version: 1 });
  assert.equal((await locations(c, f.inode)).csIds, []);
  const again = await c.call(CLTOMA_WRITE_CHUNK, {
    inode: f.inode, chunkIndex: 0, promisedChunkId: 0,
  });
  assert.is(again.body.chunkId, chunkId, 'the same chunk');
  assert.is(again.body.version, 2, 'at the next version');
  assert.equal(again.body.chain.map((l) => l.csId), [a.csId]);
  assert.ok(a.orders.some((o) => o.includes('CREATE') && o.includes(String(chunkId))),
    `made again on the server (${a.orders.join('; ')})`);
  const end = { inode: f.inode, chunkIndex: 0, chunkId, length: 10, promised: 0 };
  await c.call(CLTOMA_WRITE_END, end);
  assert.equal(await locations(c, f.inode), { version: 2, csIds: [a.csId] });
  // Once the file's length reaches into it, a chunk with no copy stays lost: never zeros.
  await a.link.call(CSTOMA_CHUNK_LOST, { chunkId, version: 2 });
  const lost = await c.request(CLTOMA_WRITE_CHUNK, {
    inode: f.inode, chunkIndex: 0, promisedChunkId: 0,
  });
  assert.is(lost.status, Status.CHUNK_LOST);
  c.close('done');
  a.close();
  await m.stop();
});

test('requests from an unregistered chunkserver link are refused', async () => {
  const m = await start(tempDir());
  const cs = await FakeChunkserver.start(m.ports.chunkserverPort);
  const raw = await connectLink('127.0.0.1', m.ports.chunkserverPort, {
    kind: 'master-chunkserver', payloadMaxBytes: 1 << 20, log,
  });
  const r = await raw.request(CSTOMA_HEARTBEAT, { totalBytes: 1, freeBytes: 1, chunkCount: 0 });
  assert.is(r.status, Status.EPERM);
  raw.close('done');
  cs.close();
  await m.stop();
});

test.after(removeTempDirs);
test.run();
