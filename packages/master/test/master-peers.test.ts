// Goal: two masters never accept writes at once. A master whose MASTER_PEERS include an active
// master of the same cluster refuses to start (non-zero exit, the reason logged); a peer of
// another cluster, a peer that is not active and an unreachable peer do not hold it back;
// while it asks, it answers NOT_ACTIVE_MASTER to client sessions, chunkservers and
// metaloggers. MASTER_PEERS is parsed strictly. Method: real antler-master binaries on port 0
// (the second one on a copy of the first one's folder); a stand-in peer only where a master
// must be caught in the middle of asking.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CLTOMA_REGISTER, CLTOMA_SESSION, CSTOMA_REGISTER, ConfigError, FsError, Logger, MLTOMA_REGISTER,
  PAYLOAD_MAX_CLIENT_MASTER_BYTES, PAYLOAD_MAX_MASTER_CHUNKSERVER_BYTES, PROTOCOL_VERSION, Router,
  Status, connectLink, listenLinks, setLogLevel,
} from '@antlerfs/protocol';
import { parsePeers } from '../src/master-peers.ts';
import { removeTempDirs, tempDir } from './helpers.ts';
import {
  clientLink, killAllMasters, lineFields, metaloggerLink, registeredClient, spawnMaster,
  startMaster, stopMaster, waitForLine,
} from './master-process.ts';

setLogLevel('error');
const log = new Logger('test');

const session = { clientId: 7n, clientName: 'test', protocolVersion: PROTOCOL_VERSION };

test('MASTER_PEERS parses host:port lists strictly', () => {
  assert.equal(parsePeers(''), []);
  assert.equal(parsePeers(' m1:9421, [::1]:9500 ,10.0.0.2:1 '), [
    { host: 'm1', port: 9421 }, { host: '::1', port: 9500 }, { host: '10.0.0.2', port: 1 },
  ]);
  for (const bad of ['m1', 'm1:', 'm1:0', 'm1:70000', 'a b:1', ':9421']) {
    assert.throws(() => parsePeers(bad), (e: unknown) => e instanceof ConfigError, bad);
  }
});

test('an active master of the same cluster keeps a second one from starting', async () => {
  const dirA = tempDir();
  const a = await startMaster(dirA);
  assert.is(await stopMaster(a), 0);
  const dirB = tempDir();
  for (const name of fs.readdirSync(dirA)) {
    if (name !== '.lock') fs.copyFileSync(path.join(dirA, name), path.join(dirB, name));
  }
  const active = await startMaster(dirA);
  const peer = `127.0.0.1:${active.ready.clientPort}`;
  const second = spawnMaster(dirB, ['--master-peers', `127.0.0.1:1, ${peer}`]);
  assert.is(await second.exited, 1, 'refused with a non-zero exit');
  const why = second.output.find((l) => / error master refusing to become the active master /
    .test(l));
  assert.ok(why, second.output.join('\n'));
  assert.match(why!, new RegExp(`peer ${peer} is the active master of cluster ` +
    `${active.ready.clusterId}`));
  assert.not.ok(second.output.some((l) => / master ready /.test(l)));
  const c = await registeredClient(active.ready.clientPort!);
  c.close('the active master still serves');

  // Another cluster's master (a new file system) is no reason to stay out.
  const other = await startMaster(tempDir(), ['--master-peers', peer]);
  assert.ok(other.output.some((l) => /peer master serves another cluster/.test(l)));
  assert.is(await stopMaster(other), 0);
  assert.is(await stopMaster(active), 0);
});

test('while it asks its peers, a master answers NOT_ACTIVE_MASTER', async () => {
  // A stand-in peer that answers only when told, and then says it is not active either.
  let answer!: () => void;
  const answered = new Promise<void>((resolve) => { answer = resolve; });
  const router = new Router().on(CLTOMA_SESSION, async () => {
    await answered;
    throw new FsError('NOT_ACTIVE_MASTER', 'stand-in');
  });
  const peer = await listenLinks('127.0.0.1', 0, {
    kind: 'client-master', payloadMaxBytes: PAYLOAD_MAX_CLIENT_MASTER_BYTES, log, router,
  }, () => undefined);
  const peerPort = (peer.address() as { port: number }).port;
  const m = spawnMaster(tempDir(), ['--master-peers', `127.0.0.1:${peerPort}`]);
  const asking = lineFields(await waitForLine(m, /not active yet: asking the other masters/));
  const c = await clientLink(asking.clientPort!);
  assert.is((await c.request(CLTOMA_SESSION, session)).status, Status.NOT_ACTIVE_MASTER);
  const reg = { clientName: 'x', protocolVersion: PROTOCOL_VERSION };
  assert.is((await c.request(CLTOMA_REGISTER, reg)).status, Status.NOT_ACTIVE_MASTER);
  const cs = await connectLink('127.0.0.1', Number(asking.chunkserverPort), {
    kind: 'master-chunkserver', payloadMaxBytes: PAYLOAD_MAX_MASTER_CHUNKSERVER_BYTES, log,
  });
  const csRegister = { csId: 0, host: '127.0.0.1', port: 1, totalBytes: 1, freeBytes: 1 };
  assert.is((await cs.request(CSTOMA_REGISTER, csRegister)).status, Status.NOT_ACTIVE_MASTER);
  const ml = await metaloggerLink(asking.metaloggerPort!);
  const mlRegister = { name: 'x', haveVersion: 0 };
  assert.is((await ml.request(MLTOMA_REGISTER, mlRegister)).status, Status.NOT_ACTIVE_MASTER);
  answer();
  const ready = lineFields(await waitForLine(m, / info  master ready /));
  assert.is(ready.clientPort, asking.clientPort);
  const opened = await c.call(CLTOMA_SESSION, session);
  assert.is(opened.body.clusterId, ready.clusterId, 'active now: sessions open');
  for (const l of [c, cs, ml]) l.close('done');
  assert.is(await stopMaster(m), 0);
  await new Promise<void>((resolve) => peer.close(() => resolve()));
});

test.after(() => {
  killAllMasters();
  removeTempDirs();
});
test.run();
