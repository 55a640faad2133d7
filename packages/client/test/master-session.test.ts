// Goal: the master session. Address lists parse; the session reconnects on the next request
// after the master restarted; a request in flight when the link drops fails with ENOTCONN;
// with no master at all, the call fails with ENOTCONN after bounded retries.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLTOMA_MKDIR, CLTOMA_STATFS, FsError, Logger } from '@antlerfs/protocol';
import { MasterSession, parseMasterList } from '../src/master-session.ts';
import { Client } from '../src/index.ts';
import { startFakeCluster } from './fake-cluster.ts';

const log = new Logger('test');
log.log = () => undefined;

test('parseMasterList', () => {
  const two = parseMasterList('10.0.0.1:9000, m2');
  assert.equal(two, [{ host: '10.0.0.1', port: 9000 }, { host: 'm2', port: 9421 }]);
  assert.equal(parseMasterList('[::1]:7'), [{ host: '::1', port: 7 }]);
  assert.throws(() => parseMasterList('h:99999'), (e: unknown) => (e as FsError).code === 'EINVAL');
  assert.throws(() => parseMasterList(' , '), (e: unknown) => (e as FsError).code === 'EINVAL');
});

test('reconnects on the next request after the master restarts', async () => {
  const cluster = await startFakeCluster(1);
  const tuning = { backoffMsMin: 5, backoffMsMax: 50, masterConnectRoundsMax: 20 };
  const client = await Client.connect({ master: cluster.master.address, tuning });
  await client.mkdir('/before');
  await cluster.master.stop();
  await cluster.master.start(); // same port, same namespace
  assert.is((await client.stat('/before')).type, 2);
  await client.mkdir('/after');
  client.close();
  await cluster.stop();
});

test('a change in flight when the link drops fails: ENOTCONN; a read is sent again', async () => {
  const cluster = await startFakeCluster(1);
  const session = new MasterSession({
    masters: [{ host: '127.0.0.1', port: cluster.master.port }], clientName: 't', log,
    connectRoundsMax: 2, connectTimeoutMs: 1000, requestTimeoutMs: 10_000, backoffMsMin: 5,
    backoffMsMax: 10,
  });
  const link = await session.ready();
  const mkdir = { parent: 1, name: 'x', mode: 0o755, uid: 0, gid: 0 };
  const inflight = session.call(CLTOMA_MKDIR, mkdir, '/x')
    .then(() => null, (err: unknown) => err);
  const read = session.call(CLTOMA_STATFS, {}, 'statfs');
  link.close('cut by test');
  assert.is((await read).chunkservers, 1);
  assert.is(((await inflight) as FsError).code, 'ENOTCONN');
  assert.is((await session.call(CLTOMA_STATFS, {}, 'statfs')).chunkservers, 1);
  session.close();
  await cluster.stop();
});

test('no master: ENOTCONN after bounded retries', async () => {
  const cluster = await startFakeCluster(0);
  const address = cluster.master.address;
  await cluster.stop();
  try {
    const tuning = { backoffMsMin: 1, backoffMsMax: 2, masterConnectFirstRoundsMax: 3 };
    await Client.connect({ master: address, tuning });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, FsError);
    assert.is((err as FsError).code, 'ENOTCONN');
    assert.match((err as FsError).message, /cannot reach master/);
  }
});

test.run();
