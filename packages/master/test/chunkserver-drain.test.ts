// Goal: CLTOMA_CHUNKSERVER_DRAIN marks a server for removal (LIST_CHUNKSERVERS says DRAINING,
// then DRAINED once a scan found nothing depending on it), an unknown server is ENOENT,
// CLTOMA_HEALTH returns the health JSON with the mark, the mark survives a master restart, and
// drain 0 puts the server back in service. Method: an in-process master on port 0, a fake
// chunkserver with no chunks, plain client links.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CLTOMA_CHUNKSERVER_DRAIN, CLTOMA_HEALTH, CLTOMA_LIST_CHUNKSERVERS, CLTOMA_REGISTER,
  ChunkserverState, Logger, PAYLOAD_MAX_CLIENT_MASTER_BYTES, PROTOCOL_VERSION, Status,
  connectLink, setLogLevel, type Link,
} from '@antlerfs/protocol';
import { defaultMasterConfig, type MasterConfig } from '../src/config.ts';
import { Master } from '../src/master.ts';
import { FakeChunkserver } from './fake-chunkserver.ts';
import { removeTempDirs, tempDir } from './helpers.ts';

setLogLevel('warn');
const log = new Logger('test');
/** Bound of the waits for a scan pass (the loop runs every 20 ms here). */
const WAIT_MS = 10_000;

async function startMaster(config: MasterConfig): Promise<Master> {
  const m = new Master(config, { log, onFatal: (err) => { throw err; } });
  await m.start();
  return m;
}

async function client(m: Master): Promise<Link> {
  const link = await connectLink('127.0.0.1', m.ports.clientPort, {
    kind: 'client-master', payloadMaxBytes: PAYLOAD_MAX_CLIENT_MASTER_BYTES, log,
  });
  await link.call(CLTOMA_REGISTER, { clientName: 'drain', protocolVersion: PROTOCOL_VERSION });
  return link;
}

async function stateOf(link: Link, csId: number): Promise<number | undefined> {
  const { body } = await link.call(CLTOMA_LIST_CHUNKSERVERS, {});
  return body.servers.find((s) => s.csId === csId)?.state;
}

async function waitState(link: Link, csId: number, state: number): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (await stateOf(link, csId) !== state) {
    if (Date.now() > deadline) throw new Error(`server ${csId} never reached state ${state}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('drain marks, DRAINED, health JSON, restart keeps the mark, undrain', async () => {
  const config = defaultMasterConfig({
    dataPath: tempDir(), listenHost: '127.0.0.1', clientPort: 0, chunkserverPort: 0,
    monitorPort: 0, metaloggerPort: 0, replicationLoopMs: 20,
  });
  let m = await startMaster(config);
  let cs = await FakeChunkserver.start(m.ports.chunkserverPort);
  let link = await client(m);
  await waitState(link, cs.csId, ChunkserverState.ONLINE);
  const unknown = await link.request(CLTOMA_CHUNKSERVER_DRAIN, { csId: 999, drain: 1 });
  assert.is(unknown.status, Status.ENOENT);
  await link.call(CLTOMA_CHUNKSERVER_DRAIN, { csId: cs.csId, drain: 1 });
  const state = await stateOf(link, cs.csId);
  assert.ok(state === ChunkserverState.DRAINING || state === ChunkserverState.DRAINED);
  await waitState(link, cs.csId, ChunkserverState.DRAINED);
  const { body } = await link.call(CLTOMA_HEALTH, {});
  const health = JSON.parse(body.json) as {
    drains: number[]; chunkservers: { csId: number; state: string; safeToRemove: boolean }[];
  };
  assert.equal(health.drains, [cs.csId]);
  assert.equal(health.chunkservers.map((s) => [s.csId, s.state, s.safeToRemove]),
    [[cs.csId, 'drained', true]]);

  link.close('restart');
  cs.close();
  await m.stop();
  m = await startMaster({ ...config, clientPort: 0, chunkserverPort: 0, monitorPort: 0 });
  cs = await FakeChunkserver.start(m.ports.chunkserverPort, { csId: cs.csId });
  link = await client(m);
  await waitState(link, cs.csId, ChunkserverState.DRAINED);
  await link.call(CLTOMA_CHUNKSERVER_DRAIN, { csId: cs.csId, drain: 0 });
  assert.is(await stateOf(link, cs.csId), ChunkserverState.ONLINE);
  link.close('done');
  cs.close();
  await m.stop();
});

test.after(removeTempDirs);
test.run();
