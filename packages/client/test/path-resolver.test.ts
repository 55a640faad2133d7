// Goal: changes by path cost one master request when the folder is known, and stay correct when
// the folder cache is out of date: after this client's own rename or rmdir, and after another
// client moved or replaced the folder (the change fails on the old inode and runs once more on a
// fresh lookup). Method: two clients against the fake master; master requests counted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, FsError } from '../src/index.ts';
import { startFakeCluster, type FakeCluster } from './fake-cluster.ts';

let cluster: FakeCluster;
let a: Client;
let b: Client;

const connect = (folderCacheTtlMs?: number): Promise<Client> => Client.connect({
  master: cluster.master.address, tuning: { backoffMsMin: 5, backoffMsMax: 20 },
  // A long trust, so that nothing here depends on how fast the machine is.
  folderCacheTtlMs: folderCacheTtlMs ?? 600_000,
});

test.before(async () => {
  cluster = await startFakeCluster(1);
  a = await connect();
  b = await connect();
});

test.after(async () => {
  a.close();
  b.close();
  await cluster.stop();
});

/** Master requests `client` sends while `work` runs, by message name. */
async function requestsOf(client: Client, work: () => Promise<unknown>): Promise<string[]> {
  const before = client.masterRequestCounts();
  await work();
  const out: string[] = [];
  for (const [name, n] of Object.entries(client.masterRequestCounts())) {
    for (let i = (before[name] ?? 0); i < n; i++) out.push(name);
  }
  return out.sort();
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    assert.instance(err, FsError);
    return (err as FsError).code;
  }
}

test('a known folder: create, rename and unlink are one master request each', async () => {
  await a.mkdir('/one');
  const create = await requestsOf(a, async () => (await a.open('/one/f', 'w')).close());
  assert.equal(create, ['CLTOMA_CREATE']);
  assert.equal(await requestsOf(a, () => a.rename('/one/f', '/one/g')), ['CLTOMA_RENAME']);
  assert.equal(await requestsOf(a, () => a.unlink('/one/g')), ['CLTOMA_UNLINK']);
  assert.equal(await requestsOf(a, () => a.unlink('/top-level-missing').catch(() => 0)),
    ['CLTOMA_UNLINK'], 'the root needs no lookup');
});

test('ttl 0: every change by path looks its folder up first', async () => {
  const off = await connect(0);
  try {
    await off.mkdir('/off');
    const create = await requestsOf(off, async () => (await off.open('/off/f', 'w')).close());
    assert.equal(create, ['CLTOMA_CREATE', 'CLTOMA_LOOKUP_PATH']);
    assert.equal(await requestsOf(off, () => off.unlink('/off/f')),
      ['CLTOMA_LOOKUP_PATH', 'CLTOMA_UNLINK']);
  } finally {
    off.close();
  }
});

test('this client\'s rename and rmdir of a folder forget it and all below', async () => {
  await a.mkdir('/p/q', { recursive: true });
  await a.writeFile('/p/q/f', Buffer.from('x'));
  await a.rename('/p', '/p2');
  assert.is(await code(a.open('/p/q/f2', 'w')), 'ENOENT', 'not created in the moved folder');
  assert.is(await code(b.stat('/p2/q/f2')), 'ENOENT');
  assert.is((await a.readFile('/p2/q/f')).toString(), 'x');
  await a.unlink('/p2/q/f');
  await a.rmdir('/p2/q');
  await a.mkdir('/p2/q');
  await (await a.open('/p2/q/new', 'w')).close();
  assert.is(await code(b.stat('/p2/q/new')), 'ok', 'in the new folder, not the removed one');
});

test('another client moved the folder away and made a new one: retried on a fresh lookup',
  async () => {
    await a.mkdir('/m');
    await a.writeFile('/m/x', Buffer.from('old'));
    await b.rename('/m', '/moved');
    await b.mkdir('/m');
    await b.writeFile('/m/y', Buffer.from('new'));
    // A's /m is still the moved folder, which has no y: ENOENT there, then the new /m.
    const unlink = await requestsOf(a, () => a.unlink('/m/y'));
    assert.equal(unlink, ['CLTOMA_LOOKUP_PATH', 'CLTOMA_UNLINK', 'CLTOMA_UNLINK']);
    assert.is(await code(b.stat('/m/y')), 'ENOENT', 'removed from the new folder');
    assert.is((await b.readFile('/moved/x')).toString(), 'old', 'the moved one untouched');
    await b.writeFile('/m/w', Buffer.from('w'));
    assert.equal(await requestsOf(a, () => a.rename('/m/w', '/m/z')), ['CLTOMA_RENAME'],
      'the fresh entry is trusted again');
  });

test('another client removed the folder and made a new one: the create lands in it',
  async () => {
    await a.mkdir('/r');
    await (await a.open('/r/f', 'w')).close();
    await b.unlink('/r/f');
    await b.rmdir('/r');
    await b.mkdir('/r');
    await (await a.open('/r/g', 'w')).close(); // the old inode is gone: ENOENT, then retried
    assert.equal((await b.readdir('/r')).map((e) => e.name), ['g']);
    await b.unlink('/r/g');
    await b.rmdir('/r');
    assert.is(await code(a.writeFile('/r/h', Buffer.from('h'))), 'ENOENT',
      'no folder at the path any more: the retry fails as a fresh lookup would');
  });

test.run();
