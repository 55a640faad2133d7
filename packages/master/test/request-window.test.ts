// Goal: a retried request is never applied twice. The windows stay bounded (per client, and
// clients by least recent change) and rebuild identically from a dump and from a replay; over
// the wire, a create, an unlink and a rename retried with the same clientId and request id
// after the master was SIGKILLed (replay) and after a clean restart (dump) are answered as the
// first time, while the metadata version does not move. Method: RequestWindows and MetaStore
// in process; the antler-master binary with raw client links that choose their request ids.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CLTOMA_CREATE, CLTOMA_LOOKUP, CLTOMA_MKDIR, CLTOMA_RENAME, CLTOMA_UNLINK, InodeType, Logger,
  Status, setLogLevel,
} from '@antlerfs/protocol';
import { defaultMasterConfig } from '../src/config.ts';
import { MetaStore } from '../src/meta-store.ts';
import { RequestWindows } from '../src/request-window.ts';
import { canonical, randomWorkload, removeTempDirs, seeded, tempDir } from './helpers.ts';
import {
  killAllMasters, killMaster, registeredClient, retryingClient, startMaster, stopMaster,
} from './master-process.ts';

setLogLevel('error');
const log = new Logger('test');
/** Stores left open as if their process died; kept referenced so nothing closes them. */
const crashed: MetaStore[] = [];

const entry = (requestId: number, version: number) =>
  ({ requestId, version, kind: 1, attr: null, changed: 0 });

test('windows are bounded per client and in clients, least recent client first', () => {
  const w = new RequestWindows({ entriesMax: 3, clientsMax: 2 });
  for (let i = 1; i <= 5; i++) w.record(1n, entry(i, i));
  assert.equal([1, 2, 3, 4, 5].map((id) => w.find(1n, id)?.version ?? 0), [0, 0, 3, 4, 5]);
  w.record(2n, entry(1, 6));
  w.record(1n, entry(6, 7)); // client 1 is now the most recent
  w.record(3n, entry(1, 8)); // client 2 goes
  assert.is(w.find(2n, 1), undefined);
  assert.is(w.find(1n, 6)?.version, 7);
  assert.is(w.find(3n, 1)?.version, 8);
  w.record(3n, entry(1, 9));
  assert.is(w.find(3n, 1)?.version, 9, 'a repeat of an id replaces its entry');
  assert.equal([w.clientCount, w.entryCount], [2, 4]);
  assert.equal([...w.windows()].map(([id, es]) => [id, es.map((e) => e.requestId)]),
    [[1n, [4, 5, 6]], [3n, [1]]]);
});

test('windows rebuild the same from a dump and from a replay', async () => {
  const dir = tempDir();
  const config = defaultMasterConfig({ dataPath: dir });
  const open = () => MetaStore.open({ config, log, onFatal: (err) => { throw err; } });
  const live = await open();
  await randomWorkload(live, 300, seeded(7));
  await live.writeDump('test');
  await randomWorkload(live, 300, seeded(8));
  assert.ok(live.md.requests.entryCount > 100, 'the workload made changes with origins');
  const expected = canonical(live.md);
  crashed.push(live); // no close: replay from the dump's windows plus the records after it
  const again = await open();
  assert.is(canonical(again.md), expected);
  await again.close(); // a final dump with the windows
  const third = await open();
  assert.is(canonical(third.md), expected);
  await third.close();
});

test('retries after SIGKILL and after a clean restart are not applied twice', async () => {
  const dataPath = tempDir();
  const clientId = 0xc0ffee01n;
  const first = await startMaster(dataPath);
  const port = first.ready.clientPort!;
  const c = await retryingClient(port, clientId, 100);
  const entry = { mode: 0o644, uid: 0, gid: 0 };
  const dir = (await c.link.call(CLTOMA_MKDIR, { parent: 1, name: 'd', ...entry })).body.attr;
  const createF = { parent: dir.inode, name: 'f', ...entry, exclusive: 1, promise: 0 };
  const f = (await c.link.call(CLTOMA_CREATE, createF)).body.attr; // request 101
  await c.link.call(CLTOMA_CREATE, { ...createF, name: 'g' }); // 102
  await c.link.call(CLTOMA_UNLINK, { parent: dir.inode, name: 'g' }); // 103
  const rename = { srcParent: dir.inode, srcName: 'f', dstParent: 1, dstName: 'moved', flags: 0 };
  await c.link.call(CLTOMA_RENAME, rename); // 104
  await killMaster(first);

  const retries = async (clientPort: string): Promise<number> => {
    const a = await retryingClient(clientPort, clientId, 101);
    const created = await a.link.call(CLTOMA_CREATE, createF);
    assert.is(created.body.attr.inode, f.inode, 'the create answered as the first time');
    assert.is(created.body.attr.type, InodeType.FILE);
    a.link.close('done');
    const b = await retryingClient(clientPort, clientId, 103);
    const unlinkG = await b.link.request(CLTOMA_UNLINK, { parent: dir.inode, name: 'g' });
    assert.is(unlinkG.status, Status.OK, 'a retried unlink is OK, not ENOENT');
    assert.is((await b.link.request(CLTOMA_RENAME, rename)).status, Status.OK); // 104
    b.link.close('done');
    return b.metaVersion;
  };
  const second = await startMaster(dataPath);
  const versionBefore = Number(second.ready.metaVersion);
  await retries(second.ready.clientPort!);
  const plain = await registeredClient(second.ready.clientPort!);
  const moved = await plain.call(CLTOMA_LOOKUP, { parent: 1, name: 'moved' });
  assert.is(moved.body.attr.inode, f.inode);
  assert.is((await plain.request(CLTOMA_LOOKUP, { parent: dir.inode, name: 'f' })).status,
    Status.ENOENT, 'nothing was created again');
  // Without a clientId, the same request is simply new: it fails as POSIX says.
  assert.is((await plain.request(CLTOMA_UNLINK, { parent: dir.inode, name: 'g' })).status,
    Status.ENOENT);
  plain.close('done');
  assert.is(await stopMaster(second), 0, 'a clean stop: the windows go into the dump');

  const third = await startMaster(dataPath);
  assert.is(Number(third.ready.metaVersion), versionBefore, 'no retry applied anything');
  assert.is(await retries(third.ready.clientPort!), versionBefore);
  const fresh = await retryingClient(third.ready.clientPort!, clientId, 200);
  const existing = { ...createF, parent: 1, name: 'moved' };
  const newRequest = await fresh.link.request(CLTOMA_CREATE, existing);
  assert.is(newRequest.status, Status.EEXIST, 'a new request id is a new request');
  fresh.link.close('done');
  assert.is(await stopMaster(third), 0);
});

test.after(() => {
  killAllMasters();
  removeTempDirs();
});
test.run();
