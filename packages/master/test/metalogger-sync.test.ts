// Goal: synchronous mode. The counting itself: N metaloggers must hold a version (the N-th
// highest ACK), an ACK counts after its metalogger leaves, waits end with EAGAIN after the
// timeout. Then the real master with SYNC_METALOGGERS=1: a client's create is answered only
// after the metalogger ACKs it (checked by ordering: a read sent after the record reached the
// metalogger is answered first); without a metalogger a change fails with EAGAIN and is not
// applied; a change whose ACK never came stays applied, and its retry is answered from it.
// Method: MetaloggerSync in process; the antler-master binary with a raw metalogger.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CLTOMA_CREATE, CLTOMA_GETATTR, CLTOMA_LIST_METALOGGERS, CLTOMA_LOOKUP, FsError, MATOML_RECORDS,
  MLTOMA_ACK, MLTOMA_REGISTER, MLTOMA_STREAM, Router, Status, setLogLevel, type Link,
} from '@antlerfs/protocol';
import { MetaloggerSync, type AckSource } from '../src/metalogger-sync.ts';
import { removeTempDirs, tempDir } from './helpers.ts';
import {
  killAllMasters, metaloggerLink, registeredClient, retryingClient, startMaster, stopMaster,
  until,
} from './master-process.ts';

setLogLevel('error');

async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return err instanceof FsError ? err.code : String(err);
  }
  return 'resolved';
}

test('N metaloggers must hold a version; waits end with EAGAIN after the timeout', async () => {
  const sync = new MetaloggerSync({ required: 2, timeoutMs: 50 });
  const [a, b, c]: AckSource[] = [{ ackedVersion: 0 }, { ackedVersion: 0 }, { ackedVersion: 0 }];
  assert.is(await rejection(sync.whenReady()), 'EAGAIN', 'no metalogger connected');
  const ready = sync.whenReady();
  sync.started(a!);
  sync.started(b!);
  await ready;
  const done: number[] = [];
  const waits = [3, 5, 9].map((v) => sync.whenAcked(v).then(() => done.push(v)));
  a!.ackedVersion = 6;
  sync.acked(a!);
  await Promise.resolve();
  assert.equal(done, [], 'one of two is not enough');
  sync.started(c!);
  c!.ackedVersion = 4;
  sync.acked(c!);
  await new Promise((r) => setImmediate(r));
  assert.equal(done, [3], 'the second highest ACK counts');
  assert.is(sync.syncedVersion, 4);
  b!.ackedVersion = 8;
  sync.acked(b!);
  await new Promise((r) => setImmediate(r));
  assert.equal(done, [3, 5]);
  sync.ended(b!);
  assert.is(sync.syncedVersion, 6, 'what a departed metalogger acknowledged stays counted');
  assert.is(await rejection(waits[2]!), 'EAGAIN', 'version 9 never acknowledged');
  sync.setRequired(0);
  await sync.whenAcked(1_000);
  sync.close();
});

/** A metalogger that streams live from the current version and ACKs only when told. */
async function liveMetalogger(port: string): Promise<{
  link: Link; versions: number[]; streamFrom: number;
}> {
  const versions: number[] = [];
  const router = new Router().onMessage(MATOML_RECORDS, (body) => {
    for (let i = 0; i < body.count; i++) versions.push(body.firstVersion + i);
  });
  const link = await metaloggerLink(port, router);
  // Nothing held: the master offers a dump (not downloaded here) and the stream after it.
  const reg = (await link.call(MLTOMA_REGISTER, { name: 'sync', haveVersion: 0 })).body;
  assert.ok(reg.dumpVersion > 0 && reg.dumpBytes > 0, 'a dump newer than version 0');
  await link.call(MLTOMA_STREAM, { fromVersion: reg.streamFrom });
  return { link, versions, streamFrom: reg.streamFrom };
}

const file = (name: string) => ({
  parent: 1, name, mode: 0o644, uid: 0, gid: 0, exclusive: 1, promise: 0,
});

test('a create is answered only after the metalogger ACKs it', async () => {
  const master = await startMaster(tempDir(), ['--sync-metaloggers', '1']);
  const ml = await liveMetalogger(master.ready.metaloggerPort!);
  const c = await registeredClient(master.ready.clientPort!);
  const events: string[] = [];
  const create = c.call(CLTOMA_CREATE, file('f')).then((r) => {
    events.push('create answered');
    return r;
  });
  await until(() => ml.versions.length > 0, 'the create\'s record at the metalogger');
  events.push('record at the metalogger');
  await c.call(CLTOMA_GETATTR, { inode: 1 }); // sent after the record was on the master's disk
  events.push('read answered');
  ml.link.send(MLTOMA_ACK, { version: ml.versions.at(-1)! });
  events.push('ack sent');
  const attr = (await create).body.attr;
  assert.equal(events,
    ['record at the metalogger', 'read answered', 'ack sent', 'create answered']);
  const listed = (await c.call(CLTOMA_LIST_METALOGGERS, {})).body.metaloggers;
  assert.equal(listed.map((m) => [m.name, m.sync, m.lagVersions]), [['sync', 1, 0]]);
  assert.is((await c.call(CLTOMA_LOOKUP, { parent: 1, name: 'f' })).body.attr.inode, attr.inode);
  c.close('done');
  ml.link.close('done');
  assert.is(await stopMaster(master), 0);
});

test('no metalogger: EAGAIN, not applied; no ACK: EAGAIN, applied, retry answered', async () => {
  const master = await startMaster(tempDir(),
    ['--sync-metaloggers', '1', '--sync-timeout-ms', '300']);
  const { clientPort, metaloggerPort } = master.ready;
  const c = await registeredClient(clientPort!);
  assert.is((await c.request(CLTOMA_CREATE, file('early'))).status, Status.EAGAIN);
  assert.is((await c.request(CLTOMA_LOOKUP, { parent: 1, name: 'early' })).status, Status.ENOENT,
    'a change that found no metalogger was not applied');
  assert.is((await c.request(CLTOMA_GETATTR, { inode: 1 })).status, Status.OK, 'reads go on');

  const ml = await liveMetalogger(metaloggerPort!);
  const clientId = 0x5eed5eedn;
  const first = await retryingClient(clientPort!, clientId, 500);
  const r = await first.link.request(CLTOMA_CREATE, file('late'));
  assert.is(r.status, Status.EAGAIN, 'the metalogger never acknowledged it');
  first.link.close('give up');
  const applied = await c.call(CLTOMA_LOOKUP, { parent: 1, name: 'late' });
  ml.link.send(MLTOMA_ACK, { version: ml.versions.at(-1)! });
  const retry = await retryingClient(clientPort!, clientId, 500);
  const again = await retry.link.request(CLTOMA_CREATE, file('late'));
  assert.is(again.status, Status.OK, 'the retry is answered from the applied change');
  assert.is(again.body!.attr.inode, applied.body.attr.inode);
  retry.link.close('done');
  c.close('done');
  ml.link.close('done');
  assert.is(await stopMaster(master), 0);
});

test.after(() => {
  killAllMasters();
  removeTempDirs();
});
test.run();
