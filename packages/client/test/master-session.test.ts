// Goal: the master session hides master restarts and failover from its callers.
// - A change the master applied just before the link dropped (no answer sent) goes out again on
//   the next connection with the same request id and clientId, is answered from the master's
//   record, and the caller sees one success: applied once.
// - A master list whose first master answers NOT_ACTIVE_MASTER ends on the second; a master that
//   steps down mid-session sends the client (and its request) to the other one.
// - Request ids keep increasing across connections; an unanswered request keeps its id, the
//   ids between are taken by fillers, new requests follow the highest id used.
// - New requests wait while the oldest unanswered one is `requestSpanMax` ids behind.
// - No master within masterReconnectMs: ENOTCONN. A master without CLTOMA_SESSION: a change in
//   flight when the link drops fails with ENOTCONN, a read is sent again (CLTOMA_REGISTER).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLTOMA_MKDIR, CLTOMA_STATFS, FsError, Logger } from '@antlerfs/protocol';
import { MasterSession, type MasterSessionOptions } from '../src/master-session.ts';
import { Client } from '../src/index.ts';
import { startFakeCluster } from './fake-cluster.ts';
import type { FakeMaster, SeenRequest } from './fake-master.ts';

const log = new Logger('test');
log.log = () => undefined;

const fastTuning = { backoffMsMin: 5, backoffMsMax: 50 };

/** Run after each test, last first, even when it failed: clients, then fakes. */
const cleanups: (() => unknown)[] = [];
test.after.each(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function fakeCluster(...args: Parameters<typeof startFakeCluster>) {
  const cluster = await startFakeCluster(...args);
  cleanups.push(() => cluster.stop());
  return cluster;
}

async function connect(options: Parameters<typeof Client.connect>[0]): Promise<Client> {
  const client = await Client.connect({ log, ...options });
  cleanups.push(() => client.close());
  return client;
}

function sessionTo(master: FakeMaster, o: Partial<MasterSessionOptions> = {}): MasterSession {
  const session = new MasterSession({
    masters: [{ host: '127.0.0.1', port: master.port }], clientName: 't', log,
    connectRoundsMax: 1000, reconnectMs: 10_000, connectTimeoutMs: 1000,
    requestTimeoutMs: 10_000, requestSpanMax: 256, backoffMsMin: 5, backoffMsMax: 20, ...o,
  });
  cleanups.push(() => session.close());
  return session;
}

const mkdirBody = (name: string) => ({ parent: 1, name, mode: 0o755, uid: 0, gid: 0 });

/** A gate a test opens: the fake holds requests on it. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => { open = resolve; });
  return { wait, open };
}

test('reconnects on the next request after the master restarts', async () => {
  const cluster = await fakeCluster(1);
  const client = await connect({ master: cluster.master.address, tuning: fastTuning });
  await client.mkdir('/before');
  await cluster.master.stop();
  await cluster.master.start(); // same port, same namespace
  assert.is((await client.stat('/before')).type, 2);
  await client.mkdir('/after');
});

test('a change applied before the link dropped is sent again with its id: applied once',
  async () => {
    const cluster = await fakeCluster(1);
    const { master } = cluster;
    const client = await connect({ master: master.address, tuning: fastTuning });
    const dropped: SeenRequest[] = [];
    master.dropAfterApply = (r) => {
      if (dropped.some((d) => d.name === r.name)) return false;
      dropped.push(r);
      return true;
    };
    await client.mkdir('/d');
    const handle = await client.open('/d/f', 'wx'); // an exclusive create, applied once: no EEXIST
    await handle.write(Buffer.from('hello'), 0);
    await handle.close();
    await client.rename('/d/f', '/d/g');
    await client.unlink('/d/g'); // no ENOENT for the repeat
    await client.rmdir('/d');
    master.dropAfterApply = null;
    const names = ['CLTOMA_MKDIR', 'CLTOMA_CREATE', 'CLTOMA_WRITE_END', 'CLTOMA_RENAME',
      'CLTOMA_UNLINK', 'CLTOMA_RMDIR'];
    assert.equal(dropped.map((d) => d.name).sort(), [...names].sort());
    for (const name of names) {
      assert.is(master.appliedCount(name), 1, `${name} applied once`);
      const sent = master.seen.filter((s) => s.name === name);
      assert.is(sent.length, 2, `${name} sent twice`);
      assert.is(sent[1]!.requestId, sent[0]!.requestId, `${name} kept its request id`);
      assert.is(sent[1]!.clientId, sent[0]!.clientId, `${name} kept its clientId`);
      assert.is.not(sent[1]!.connection, sent[0]!.connection, `${name} came on a new link`);
    }
    assert.is(master.repeats, names.length);
    assert.equal((await client.readdir('/')).map((e) => e.name), []);
  });

test('two masters: the first is not active, the second takes the session', async () => {
  const a = await fakeCluster(1);
  const b = await fakeCluster(1);
  a.master.active = false;
  const client = await connect({
    master: [a.master.address, b.master.address], tuning: fastTuning,
  });
  await client.mkdir('/on-b');
  assert.is(b.master.appliedCount('CLTOMA_MKDIR'), 1);
  assert.is(a.master.appliedCount('CLTOMA_MKDIR'), 0);
  assert.is(a.master.sessionsOpened.length, 0, 'a refused the session');
  // b steps down, a takes over: the next request is refused by b and answered by a.
  b.master.active = false;
  a.master.active = true;
  await client.mkdir('/on-a');
  assert.is(a.master.appliedCount('CLTOMA_MKDIR'), 1);
  assert.equal((await client.readdir('/')).map((e) => e.name), ['on-a']);
  const clientIds = new Set([...a.master.sessionsOpened, ...b.master.sessionsOpened]
    .map((s) => s.clientId));
  assert.is(clientIds.size, 1, 'one clientId on both masters');
});

test('request ids: an unanswered request keeps its id, new ones follow the highest', async () => {
  const cluster = await fakeCluster(1);
  const { master } = cluster;
  const session = sessionTo(master);
  await session.ready();
  const held = gate();
  const holdFirstMkdir = (r: SeenRequest): boolean =>
    r.name === 'CLTOMA_MKDIR' && r.connection === 1;
  master.onRequest = (r) => (holdFirstMkdir(r) ? held.wait : undefined);
  const mkdir = session.call(CLTOMA_MKDIR, mkdirBody('x'), '/x');
  for (let i = 0; i < 3; i++) await session.call(CLTOMA_STATFS, {}, 'statfs');
  const onFirst = master.seen.filter((s) => s.connection === 1);
  assert.equal(onFirst.map((s) => s.name),
    ['CLTOMA_MKDIR', 'CLTOMA_STATFS', 'CLTOMA_STATFS', 'CLTOMA_STATFS']);
  const ids = onFirst.map((s) => s.requestId);
  assert.equal(ids, [ids[0]!, ids[0]! + 1, ids[0]! + 2, ids[0]! + 3]);
  assert.is(master.sessionsOpened[0]!.requestId, ids[0]! - 1);
  const epoch = session.epoch;
  master.dropLinks();
  held.open();
  assert.is((await mkdir).attr.type, 2, 'the held mkdir was answered on the new link');
  assert.is(session.epoch, epoch + 1);
  await session.call(CLTOMA_STATFS, {}, 'statfs');
  const onSecond = master.seen.filter((s) => s.connection === 2);
  assert.equal(onSecond.map((s) => [s.name, s.requestId]), [
    ['CLTOMA_MKDIR', ids[0]!], ['CLTOMA_GETATTR', ids[0]! + 1], ['CLTOMA_GETATTR', ids[0]! + 2],
    ['CLTOMA_GETATTR', ids[0]! + 3], ['CLTOMA_STATFS', ids[0]! + 4],
  ]);
  assert.is(master.sessionsOpened[1]!.requestId, ids[0]! - 1, 'the session request comes first');
  assert.is(master.sessionsOpened[1]!.clientId, session.clientId);
  assert.is(master.appliedCount('CLTOMA_MKDIR'), 1);
  // Nothing unanswered when the link goes: the next link goes on from the highest id.
  const second = await session.ready();
  master.dropLinks();
  await new Promise((resolve) => second.onClose(resolve));
  await session.call(CLTOMA_STATFS, {}, 'statfs');
  assert.is(master.sessionsOpened[2]!.requestId, ids[0]! + 5);
  assert.is(master.seen.at(-1)!.requestId, ids[0]! + 6);
  // A request sent on a link that is already dead goes out again under its id.
  master.dropLinks();
  const lost = session.call(CLTOMA_STATFS, {}, 'statfs');
  await lost;
  const last = master.seen.at(-1)!;
  assert.is(last.connection, 4);
  assert.ok(last.requestId === ids[0]! + 7 || last.requestId === ids[0]! + 8, 'fresh or kept id');
  assert.is(master.sessionsOpened[3]!.requestId, last.requestId - 1);
});

test('new requests wait while the oldest unanswered one is requestSpanMax ids behind',
  async () => {
    const cluster = await fakeCluster(1);
    const { master } = cluster;
    const session = sessionTo(master, { requestSpanMax: 4 });
    await session.ready();
    const held = gate();
    master.onRequest = (r) => (r.name === 'CLTOMA_MKDIR' ? held.wait : undefined);
    const mkdir = session.call(CLTOMA_MKDIR, mkdirBody('x'), '/x');
    const reads = Array.from({ length: 6 }, () => session.call(CLTOMA_STATFS, {}, 'statfs'));
    await Promise.all(reads.slice(0, 3));
    const statfsSeen = (): number => master.seen.filter((s) => s.name === 'CLTOMA_STATFS').length;
    assert.is(statfsSeen(), 3, 'only the ids within the span went out');
    held.open();
    await mkdir;
    await Promise.all(reads);
    assert.is(statfsSeen(), 6);
  });

test('no master within masterReconnectMs: the waiting requests fail with ENOTCONN', async () => {
  const cluster = await fakeCluster(1);
  const session = sessionTo(cluster.master, { reconnectMs: 200 });
  await session.ready();
  await cluster.master.stop();
  try {
    await session.call(CLTOMA_STATFS, {}, 'statfs');
    assert.unreachable();
  } catch (err) {
    assert.instance(err, FsError);
    assert.is((err as FsError).code, 'ENOTCONN');
    assert.match((err as FsError).message, /statfs: cannot reach master/);
  }
});

test('a master without CLTOMA_SESSION: a change in flight fails, a read is sent again',
  async () => {
    const cluster = await fakeCluster(1, { sessions: false });
    const session = sessionTo(cluster.master);
    const link = await session.ready();
    assert.is(session.sessionMode, 'register');
    const inflight = session.call(CLTOMA_MKDIR, mkdirBody('x'), '/x')
      .then(() => null, (err: unknown) => err);
    const read = session.call(CLTOMA_STATFS, {}, 'statfs');
    link.close('cut by test');
    assert.is((await read).chunkservers, 1);
    assert.is(((await inflight) as FsError).code, 'ENOTCONN');
    assert.is((await session.call(CLTOMA_STATFS, {}, 'statfs')).chunkservers, 1);
  });

test('no master: ENOTCONN after bounded retries', async () => {
  const cluster = await fakeCluster(0);
  const address = cluster.master.address;
  await cluster.stop();
  try {
    const tuning = { backoffMsMin: 1, backoffMsMax: 2, masterConnectFirstRoundsMax: 3 };
    await connect({ master: address, tuning });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, FsError);
    assert.is((err as FsError).code, 'ENOTCONN');
    assert.match((err as FsError).message, /cannot reach master/);
  }
});

test.run();
