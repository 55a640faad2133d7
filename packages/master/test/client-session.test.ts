// Goal: every CLTOMA_* request over a real Link: session rules and limits, namespace
// operations with their statuses, and the write flow (allocation on distinct chunkservers,
// version bumps, the lease and its release on disconnect, reads listing valid copies only,
// bad-copy reports, truncation cuts, deletions), and CLTOMA_SESSION's repeats: each changing
// request repeated with the same clientId and request id is answered as the first time and
// not applied again. Folder stamps: each change in a folder tells the folder's names version
// before and after it, which moves with every change of its names by anybody and with nothing
// else, survives a restart as the version loaded; GETATTR_FOLDER and LIST_NAMES tell it.
// Method: an in-process master on port 0 with stand-in chunkservers on real links.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  AssertionError, CHUNK_SIZE_BYTES, CLTOMA_CREATE, CLTOMA_GETATTR, CLTOMA_GETATTR_FOLDER,
  CLTOMA_LINK, CLTOMA_LIST_CHUNKSERVERS, CLTOMA_LIST_NAMES,
  CLTOMA_LOOKUP, CLTOMA_LOOKUP_PATH, CLTOMA_MKDIR, CLTOMA_READDIR, CLTOMA_READLINK,
  CLTOMA_READ_CHUNKS, CLTOMA_REGISTER, CLTOMA_RENAME, CLTOMA_REPORT_BAD_CHUNK, CLTOMA_RMDIR,
  CLTOMA_SESSION, CLTOMA_SETATTR, CLTOMA_SETGOAL, CLTOMA_SETTRASHTIME, CLTOMA_STATFS,
  CLTOMA_SYMLINK, CLTOMA_UNLINK, CLTOMA_WRITE_CHUNK, CLTOMA_WRITE_END, ChunkserverState, InodeType, Logger,
  PAYLOAD_MAX_CLIENT_MASTER_BYTES, PROTOCOL_VERSION, RenameFlags, SetAttr, Status, connectLink,
  setLogLevel,
  type Fields, type Link, type RequestDef, type Struct,
} from '@antlerfs/protocol';
import { attrOf, type Attr } from '../src/inode-table.ts';
import { defaultMasterConfig, type MasterConfig } from '../src/config.ts';
import { Master } from '../src/master.ts';
import { FakeChunkserver, until } from './fake-chunkserver.ts';
import { removeTempDirs, tempDir } from './helpers.ts';

setLogLevel('warn');
const log = new Logger('test');

/** The write flow's own orders are counted here: no chunks made ahead (chunk-pool.test.ts). */
async function startMaster(over: Partial<MasterConfig> = {}): Promise<Master> {
  const config = defaultMasterConfig({
    dataPath: tempDir(), listenHost: '127.0.0.1', clientPort: 0, chunkserverPort: 0, monitorPort: 0,
    metaloggerPort: 0, chunkPoolSize: 0,
    ...over,
  });
  const m = new Master(config, { log, onFatal: (err) => { throw err; } });
  await m.start();
  return m;
}

async function connect(m: Master, firstRequestId?: number): Promise<Link> {
  return connectLink('127.0.0.1', m.ports.clientPort, {
    kind: 'client-master', payloadMaxBytes: PAYLOAD_MAX_CLIENT_MASTER_BYTES, log, firstRequestId,
  });
}

async function client(m: Master, name = 'test'): Promise<Link> {
  const link = await connect(m);
  await link.call(CLTOMA_REGISTER, reg(name));
  return link;
}

const attrs = { mode: 0o644, uid: 1000, gid: 1000 };
function reg(clientName: string, protocolVersion = PROTOCOL_VERSION) {
  return { clientName, protocolVersion };
}

/** The status of one request. */
async function st<F extends Fields, R extends Fields>(
  link: Link, def: RequestDef<F, R>, body: Struct<F>,
): Promise<number> {
  return (await link.request(def, body)).status;
}

async function createFile(link: Link, parent: number, name: string): Promise<Attr> {
  return (await link.call(CLTOMA_CREATE, {
    parent, name, ...attrs, exclusive: 1, promise: 0,
  })).body.attr;
}

function setLength(inode: number, length: number) {
  const none = { mode: 0, uid: 0, gid: 0, atimeMs: 0, mtimeMs: 0 };
  return { inode, setMask: SetAttr.LENGTH, ...none, length };
}

function writeEnd(inode: number, chunkIndex: number, chunkId: number, length: number) {
  return { inode, chunkIndex, chunkId, length, promised: 0 };
}

const ids = (locations: { csId: number }[]): number[] => locations.map((l) => l.csId).sort();

test('a session must register first; protocol and session limits', async () => {
  const m = await startMaster({ sessionsMax: 2 });
  const raw = await connect(m);
  assert.is(await st(raw, CLTOMA_GETATTR, { inode: 1 }), Status.EPERM);
  assert.is(await st(raw, CLTOMA_REGISTER, reg('x', 99)), Status.EPROTO);
  const registered = await raw.call(CLTOMA_REGISTER, reg('x'));
  assert.ok(registered.body.sessionId > 0);
  assert.is(await st(raw, CLTOMA_REGISTER, reg('x')), Status.EINVAL);
  const second = await client(m);
  const third = await connect(m);
  assert.is(await st(third, CLTOMA_REGISTER, reg('y')), Status.EAGAIN);
  for (const l of [raw, second, third]) l.close('done');
  await m.stop();
});

test('namespace operations and their statuses over the wire', async () => {
  const m = await startMaster();
  const c = await client(m);
  const d = (await c.call(CLTOMA_MKDIR, { parent: 1, name: 'd', ...attrs })).body.attr;
  assert.is(d.type, InodeType.DIR);
  assert.is(d.goal, 2, 'DEFAULT_GOAL of the root is inherited');
  const f = await createFile(c, d.inode, 'f');
  const again = { parent: d.inode, name: 'f', ...attrs, exclusive: 1, promise: 0 };
  assert.is(await st(c, CLTOMA_CREATE, again), Status.EEXIST);
  const same = await c.call(CLTOMA_CREATE, {
    parent: d.inode, name: 'f', ...attrs, exclusive: 0, promise: 0,
  });
  assert.is(same.body.attr.inode, f.inode, 'non-exclusive create returns the existing file');
  const onDir = { parent: 1, name: 'd', ...attrs, exclusive: 0, promise: 0 };
  assert.is(await st(c, CLTOMA_CREATE, onDir), Status.EISDIR);
  assert.is((await c.call(CLTOMA_LOOKUP, { parent: d.inode, name: 'f' })).body.attr.inode, f.inode);
  assert.is((await c.call(CLTOMA_LOOKUP_PATH, { path: '/d/f' })).body.attr.inode, f.inode);
  assert.is(await st(c, CLTOMA_LOOKUP, { parent: 1, name: 'x'.repeat(256) }), Status.ENAMETOOLONG);
  const set = await c.call(CLTOMA_SETATTR, {
    inode: f.inode, setMask: SetAttr.MODE | SetAttr.MTIME_NOW, mode: 0o600, uid: 0, gid: 0,
    atimeMs: 0, mtimeMs: 0, length: 0,
  });
  assert.is(set.body.attr.mode, 0o600);
  assert.ok(set.body.attr.mtimeMs >= f.mtimeMs);
  const symlink = { parent: 1, name: 's', target: '/d/f', uid: 0, gid: 0 };
  const s = (await c.call(CLTOMA_SYMLINK, symlink)).body.attr;
  assert.is((await c.call(CLTOMA_READLINK, { inode: s.inode })).body.target, '/d/f');
  assert.is(await st(c, CLTOMA_READLINK, { inode: f.inode }), Status.EINVAL);
  const hard = await c.call(CLTOMA_LINK, { inode: f.inode, parent: 1, name: 'hard' });
  assert.is(hard.body.attr.nlink, 2);
  assert.is(await st(c, CLTOMA_LINK, { inode: d.inode, parent: 1, name: 'x' }), Status.EPERM);
  assert.is(await st(c, CLTOMA_RMDIR, { parent: 1, name: 'd' }), Status.ENOTEMPTY);
  // Removals and renames answer with their folders just after the change, as GETATTR would.
  const getattr = async (inode: number) => (await c.call(CLTOMA_GETATTR, { inode })).body.attr;
  const moved = (await c.call(CLTOMA_RENAME,
    { srcParent: d.inode, srcName: 'f', dstParent: 1, dstName: 'g', flags: 0 })).body;
  assert.equal(moved.srcParentAttr, await getattr(d.inode));
  assert.equal(moved.dstParentAttr, await getattr(1));
  const within = (await c.call(CLTOMA_RENAME,
    { srcParent: 1, srcName: 'g', dstParent: 1, dstName: 'g2', flags: 0 })).body;
  assert.equal(within.srcParentAttr, within.dstParentAttr, 'one folder: the same attributes');
  assert.equal(within.dstParentAttr, await getattr(1));
  await c.call(CLTOMA_RENAME,
    { srcParent: 1, srcName: 'g2', dstParent: 1, dstName: 'g', flags: 0 });
  // NOREPLACE: EEXIST when the name exists (nothing changes), a plain rename when it does not;
  // a missing source is ENOENT first; EXCHANGE swaps two names; both, or other flags: EINVAL.
  const noReplace = (src: string, dst: string, flags: number = RenameFlags.NOREPLACE) =>
    st(c, CLTOMA_RENAME, { srcParent: 1, srcName: src, dstParent: 1, dstName: dst, flags });
  await createFile(c, 1, 'keep');
  assert.is(await noReplace('g', 'keep'), Status.EEXIST);
  assert.is((await c.call(CLTOMA_LOOKUP, { parent: 1, name: 'g' })).body.attr.type,
    InodeType.FILE, 'the source stays');
  assert.is(await noReplace('missing', 'keep'), Status.ENOENT);
  assert.is(await noReplace('g', 'keep', 3), Status.EINVAL);
  assert.is(await noReplace('g', 'keep', 4), Status.EINVAL);
  assert.is(await noReplace('g', 'g3'), Status.OK);
  assert.is(await noReplace('g3', 'g'), Status.OK);
  const inodeOf = async (name: string) =>
    (await c.call(CLTOMA_LOOKUP, { parent: 1, name })).body.attr.inode;
  const [gInode, keepInode] = [await inodeOf('g'), await inodeOf('keep')];
  assert.is(await noReplace('g', 'keep', RenameFlags.EXCHANGE), Status.OK);
  assert.equal([await inodeOf('g'), await inodeOf('keep')], [keepInode, gInode], 'swapped');
  assert.is(await noReplace('g', 'missing', RenameFlags.EXCHANGE), Status.ENOENT);
  assert.is(await noReplace('g', 'keep', RenameFlags.EXCHANGE), Status.OK);
  await c.call(CLTOMA_UNLINK, { parent: 1, name: 'keep' });
  const intoItself = { srcParent: 1, srcName: 'd', dstParent: d.inode, dstName: 'x', flags: 0 };
  assert.is(await st(c, CLTOMA_RENAME, intoItself), Status.EINVAL);
  const rootBefore = await getattr(1);
  const removed = (await c.call(CLTOMA_RMDIR, { parent: 1, name: 'd' })).body.parentAttr;
  assert.equal(removed, await getattr(1));
  assert.is(removed.nlink, rootBefore.nlink - 1, 'the folder is gone from the root\'s count');
  assert.is(await st(c, CLTOMA_UNLINK, { parent: 1, name: 'd' }), Status.ENOENT);
  for (let i = 0; i < 25; i++) await c.call(CLTOMA_MKDIR, { parent: 1, name: `sub${i}`, ...attrs });
  const names: string[] = [];
  let cursor = '';
  for (let page = 0; page < 20; page++) {
    const r = await c.call(CLTOMA_READDIR, { inode: 1, cursor, entriesMax: 10 });
    names.push(...r.body.entries.map((e) => e.name));
    cursor = r.body.nextCursor;
    if (r.body.end) break;
  }
  assert.is(names.length, 28);
  assert.equal(names, [...names].sort());
  const goal = await c.call(CLTOMA_SETGOAL, { inode: 1, goal: 3, recursive: 1 });
  assert.is(goal.body.changed, 28, 'every inode once');
  const trash = await c.call(CLTOMA_SETTRASHTIME, { inode: 1, trashtimeS: 60, recursive: 0 });
  assert.is(trash.body.changed, 1);
  assert.is(await st(c, CLTOMA_SETGOAL, { inode: 1, goal: 0, recursive: 0 }), Status.EINVAL);
  const statfs = (await c.call(CLTOMA_STATFS, {})).body;
  assert.equal([statfs.inodes, statfs.chunkservers, statfs.totalBytes], [28, 0, 0]);
  c.close('done');
  await m.stop();
});

test('write flow: distinct servers, lease, version bump, reads, bad copies', async () => {
  const m = await startMaster();
  const port = m.ports.chunkserverPort;
  const servers = await Promise.all([0, 1, 2].map(() => FakeChunkserver.start(port)));
  assert.equal(servers.map((s) => s.csId).sort(), [1, 2, 3]);
  assert.is(m.servers.placementCandidates().length, 3);
  const a = await client(m, 'a');
  const b = await client(m, 'b');
  const f = await createFile(a, 1, 'f');
  const w1 = await a.call(CLTOMA_WRITE_CHUNK, {
    inode: f.inode, chunkIndex: 0, promisedChunkId: 0,
  });
  assert.is(w1.body.version, 1);
  assert.is(w1.body.chain.length, 2, 'goal 2: two copies');
  assert.is(new Set(w1.body.chain.map((l) => l.csId)).size, 2, 'on distinct servers');
  const creates = servers.flatMap((s) => s.orders).filter((o) => o.startsWith('CREATE'));
  assert.is(creates.length, 2);
  assert.is(await st(b, CLTOMA_WRITE_CHUNK, {
    inode: f.inode, chunkIndex: 0, promisedChunkId: 0,
  }), Status.CHUNK_BUSY);
  assert.is(await st(b, CLTOMA_SETATTR, setLength(f.inode, 0)), Status.CHUNK_BUSY);
  const end = await a.call(CLTOMA_WRITE_END, writeEnd(f.inode, 0, w1.body.chunkId, 1000));
  assert.is(end.body.attr.length, 1000);
  const past = writeEnd(f.inode, 0, w1.body.chunkId, CHUNK_SIZE_BYTES + 1);
  assert.is(await st(a, CLTOMA_WRITE_END, past), Status.EINVAL);
  const w2 = await b.call(CLTOMA_WRITE_CHUNK, {
    inode: f.inode, chunkIndex: 0, promisedChunkId: 0,
  });
  assert.is(w2.body.chunkId, w1.body.chunkId);
  assert.is(w2.body.version, 2, 'an existing chunk gets version + 1');
  assert.is(w2.body.length, 1000);
  assert.is(servers.flatMap((s) => s.orders).filter((o) => o.startsWith('SET_VERSION')).length, 2);
  await b.call(CLTOMA_WRITE_END, writeEnd(f.inode, 0, w2.body.chunkId, 500));
  const read = await a.call(CLTOMA_READ_CHUNKS, { inode: f.inode, firstIndex: 0, count: 10 });
  assert.is(read.body.length, 1000, 'a shorter WRITE_END never shrinks the file');
  assert.is(read.body.chunks.length, 1);
  assert.equal(ids(read.body.chunks[0]!.locations), ids(w1.body.chain));
  const bad = read.body.chunks[0]!.locations[0]!.csId;
  await a.call(CLTOMA_REPORT_BAD_CHUNK, { chunkId: w1.body.chunkId, version: 2, csId: bad });
  const after = await a.call(CLTOMA_READ_CHUNKS, { inode: f.inode, firstIndex: 0, count: 10 });
  const left = ids(w1.body.chain).filter((x) => x !== bad);
  assert.equal(ids(after.body.chunks[0]!.locations), left, 'the bad copy is no longer listed');
  // A write to a hole far out: a second chunk; the hole between is not listed.
  const w3 = await a.call(CLTOMA_WRITE_CHUNK, {
    inode: f.inode, chunkIndex: 5, promisedChunkId: 0,
  });
  assert.ok(w3.body.chunkId > w1.body.chunkId, 'chunk ids only grow');
  await a.call(CLTOMA_WRITE_END, writeEnd(f.inode, 5, w3.body.chunkId, 5 * CHUNK_SIZE_BYTES + 10));
  const both = await a.call(CLTOMA_READ_CHUNKS, { inode: f.inode, firstIndex: 0, count: 10 });
  assert.equal(both.body.chunks.map((c) => c.index), [0, 5]);
  for (const l of [a, b]) l.close('done');
  for (const s of servers) s.close();
  await m.stop();
});

test('truncate cuts the last chunk, frees the rest; unlink deletes the copies', async () => {
  const m = await startMaster({ deletionsPerSecond: 1000 });
  const port = m.ports.chunkserverPort;
  const servers = await Promise.all([0, 1].map(() => FakeChunkserver.start(port)));
  const c = await client(m);
  const f = await createFile(c, 1, 'f');
  const chunkIds: number[] = [];
  for (const index of [0, 1, 2]) {
    const w = await c.call(CLTOMA_WRITE_CHUNK, {
      inode: f.inode, chunkIndex: index, promisedChunkId: 0,
    });
    const length = (index + 1) * CHUNK_SIZE_BYTES;
    await c.call(CLTOMA_WRITE_END, writeEnd(f.inode, index, w.body.chunkId, length));
    chunkIds.push(w.body.chunkId);
  }
  const t = await c.call(CLTOMA_SETATTR, setLength(f.inode, CHUNK_SIZE_BYTES + 100));
  assert.is(t.body.attr.length, CHUNK_SIZE_BYTES + 100);
  for (const s of servers) {
    assert.ok(s.orders.includes(`TRUNCATE ${chunkIds[1]} 1->2 100`), 'the cut chunk is cut on all');
  }
  await until(() => servers.every((s) => !s.chunks.has(chunkIds[2]!)), 'past the end: deleted');
  const read = await c.call(CLTOMA_READ_CHUNKS, { inode: f.inode, firstIndex: 0, count: 10 });
  assert.equal(read.body.chunks.map((x) => [x.index, x.version]), [[0, 1], [1, 2]]);
  const grow = await c.call(CLTOMA_SETATTR, setLength(f.inode, 10 * CHUNK_SIZE_BYTES));
  assert.is(grow.body.attr.length, 10 * CHUNK_SIZE_BYTES, 'a grow only changes the length');
  await c.call(CLTOMA_UNLINK, { parent: 1, name: 'f' });
  await until(() => servers.every((s) => s.chunks.size === 0), 'all copies deleted');
  await until(() => m.store.md.chunks.get(chunkIds[0]!) === undefined, 'registry entry gone');
  assert.is(m.status().chunks, 0);
  c.close('done');
  for (const s of servers) s.close();
  await m.stop();
});

test('a lease goes with its session; no servers -> NO_CHUNKSERVERS; full -> ENOSPC', async () => {
  const m = await startMaster();
  const a = await client(m, 'a');
  const f = await createFile(a, 1, 'f');
  const write = { inode: f.inode, chunkIndex: 0, promisedChunkId: 0 };
  assert.is(await st(a, CLTOMA_WRITE_CHUNK, write), Status.NO_CHUNKSERVERS);
  const full = await FakeChunkserver.start(m.ports.chunkserverPort, { freeBytes: 1024 });
  assert.is(await st(a, CLTOMA_WRITE_CHUNK, write), Status.ENOSPC);
  full.close();
  const cs = await FakeChunkserver.start(m.ports.chunkserverPort);
  const w = await a.call(CLTOMA_WRITE_CHUNK, { inode: f.inode, chunkIndex: 0, promisedChunkId: 0 });
  assert.is(w.body.chain.length, 1, 'goal 2 with one usable server: one copy');
  const b = await client(m, 'b');
  assert.is(await st(b, CLTOMA_WRITE_CHUNK, write), Status.CHUNK_BUSY);
  a.close('gone');
  await until(() => m.store.md.chunks.get(w.body.chunkId)!.leaseSession === 0, 'lease released');
  const again = await b.call(CLTOMA_WRITE_CHUNK, {
    inode: f.inode, chunkIndex: 0, promisedChunkId: 0,
  });
  assert.is(again.body.version, 2);
  const list = await b.call(CLTOMA_LIST_CHUNKSERVERS, {});
  const states = new Map(list.body.servers.map((s) => [s.csId, s.state]));
  assert.is(states.get(full.csId), ChunkserverState.LOST);
  assert.is(states.get(cs.csId), ChunkserverState.ONLINE);
  b.close('done');
  cs.close();
  await m.stop();
});

test('requests in flight per session are bounded (EAGAIN beyond)', async () => {
  const m = await startMaster({ sessionRequestsInflightMax: 2 });
  const cs = await FakeChunkserver.start(m.ports.chunkserverPort);
  const c = await client(m);
  const files = [];
  for (let i = 0; i < 4; i++) files.push(await createFile(c, 1, `f${i}`));
  cs.holding = true;
  const pending = files.map((f) => st(c, CLTOMA_WRITE_CHUNK, {
    inode: f.inode, chunkIndex: 0, promisedChunkId: 0,
  }));
  await until(() => cs.orders.length >= 2, 'two writes reach the chunkserver');
  cs.release();
  const statuses = (await Promise.all(pending)).sort();
  assert.equal(statuses, [Status.OK, Status.OK, Status.EAGAIN, Status.EAGAIN]);
  c.close('done');
  cs.close();
  await m.stop();
});

test('CLTOMA_SESSION: every changing request repeated is answered, not applied again', async () => {
  const m = await startMaster();
  const cs = await FakeChunkserver.start(m.ports.chunkserverPort);
  const clientId = 0xabcdefn;
  /** A session whose next request carries id `first`. */
  const sessionAt = async (first: number): Promise<Link> => {
    const link = await connect(m, first - 1);
    const r = await link.call(CLTOMA_SESSION, { clientId, ...reg('retrying') });
    assert.is(r.body.clusterId, m.store.clusterId);
    return link;
  };
  const a = await sessionAt(10);
  const f0 = await createFile(a, 1, 'data'); // 10
  const w = await a.call(CLTOMA_WRITE_CHUNK, {
    inode: f0.inode, chunkIndex: 0, promisedChunkId: 0,
  }); // 11
  const steps: [RequestDef, Record<string, unknown>][] = [
    [CLTOMA_MKDIR, { parent: 1, name: 'd', ...attrs }],
    [CLTOMA_CREATE, { parent: 1, name: 'f', ...attrs, exclusive: 1, promise: 0 }],
    [CLTOMA_SYMLINK, { parent: 1, name: 's', target: '/f', uid: 0, gid: 0 }],
    [CLTOMA_LINK, { inode: f0.inode, parent: 1, name: 'hard' }],
    [CLTOMA_WRITE_END, writeEnd(f0.inode, 0, w.body.chunkId, 7000)], // ends the lease
    [CLTOMA_SETATTR, { ...setLength(f0.inode, 0), setMask: SetAttr.MODE, mode: 0o600 }],
    [CLTOMA_SETATTR, setLength(f0.inode, 5000)],
    [CLTOMA_SETGOAL, { inode: 1, goal: 3, recursive: 1 }],
    [CLTOMA_SETTRASHTIME, { inode: 1, trashtimeS: 9, recursive: 0 }],
    [CLTOMA_RENAME, { srcParent: 1, srcName: 'f', dstParent: 1, dstName: 'g', flags: 0 }],
    [CLTOMA_RENAME,
      { srcParent: 1, srcName: 'g', dstParent: 1, dstName: 's', flags: RenameFlags.EXCHANGE }],
    [CLTOMA_UNLINK, { parent: 1, name: 'hard' }],
    [CLTOMA_RMDIR, { parent: 1, name: 'd' }],
  ];
  const first = [];
  for (const [def, body] of steps) first.push(await a.request(def, body as never)); // 12..
  const statuses = first.map((r) => r.status);
  assert.equal(statuses, steps.map(() => Status.OK), 'every step applied once');
  a.close('a lost reply');
  const version = m.store.version;
  const b = await sessionAt(12);
  // A removal or rename is answered with its folders as they are now (later than the change),
  // and every change in a folder with its stamps not known (0, 0): they were then.
  const now = { ...attrOf(m.store.md.namespace.node(1)) };
  const unknown = { parentBefore: 0, parentAfter: 0 };
  const nowOfFolders: Record<string, object> = {
    CLTOMA_RENAME: {
      srcParentAttr: now, dstParentAttr: now, srcBefore: 0, srcAfter: 0, dstBefore: 0, dstAfter: 0,
    },
    CLTOMA_UNLINK: { parentAttr: now, ...unknown }, CLTOMA_RMDIR: { parentAttr: now, ...unknown },
  };
  const created = ['CLTOMA_MKDIR', 'CLTOMA_CREATE', 'CLTOMA_SYMLINK', 'CLTOMA_LINK'];
  for (const [i, [def, body]] of steps.entries()) {
    const again = await b.request(def, body as never);
    const original = first[i]!.body as Record<string, unknown>;
    if (created.includes(def.name)) {
      assert.ok((original.parentAfter as number) > (original.parentBefore as number), def.name);
    }
    const expected = nowOfFolders[def.name] ??
      (created.includes(def.name) ? { ...original, ...unknown } : original);
    assert.equal([again.status, again.body], [first[i]!.status, expected], def.name);
  }
  assert.is(m.store.version, version, 'no repeat applied anything');
  assert.is(m.status().requests.repeatsAnswered, steps.length);
  b.close('done');
  // The same id with another kind of request is a new request (ids wrapped around).
  const c = await sessionAt(12); // 12 was a MKDIR
  assert.is(await st(c, CLTOMA_UNLINK, { parent: 1, name: 'nothing' }), Status.ENOENT);
  // A repeated WRITE_CHUNK runs again: a new version and a new lease.
  const d = await sessionAt(11);
  const before = m.store.md.chunks.live(w.body.chunkId)!.version;
  const rewrite = await d.call(CLTOMA_WRITE_CHUNK, {
    inode: f0.inode, chunkIndex: 0, promisedChunkId: 0,
  });
  assert.equal([rewrite.body.chunkId, rewrite.body.version], [w.body.chunkId, before + 1]);
  for (const l of [c, d]) l.close('done');
  cs.close();
  await m.stop();
});

test('folder stamps: names versions before and after every change in a folder', async () => {
  const dataPath = tempDir();
  let m = await startMaster({ dataPath });
  let a = await client(m);
  const version = async (inode: number) =>
    (await a.call(CLTOMA_GETATTR_FOLDER, { inode })).body.namesVersion;
  const d = await a.call(CLTOMA_MKDIR, { parent: 1, name: 'd', ...attrs });
  const e = await a.call(CLTOMA_MKDIR, { parent: 1, name: 'e', ...attrs });
  const dIno = d.body.attr.inode;
  const eIno = e.body.attr.inode;
  assert.is(e.body.parentBefore, d.body.parentAfter, 'the root: one change after the other');
  assert.is(await version(dIno), d.body.parentAfter, 'a new folder: its creation\'s version');
  let v = await version(dIno);
  const stampIn = async (def: RequestDef, body: object): Promise<void> => {
    const r = (await a.call(def, body as never)).body as Record<string, number>;
    assert.is(r.parentBefore, v, `${def.name} starts where the folder was`);
    assert.ok(r.parentAfter > v, `${def.name} moves it on`);
    v = r.parentAfter;
  };
  await stampIn(CLTOMA_CREATE, { parent: dIno, name: 'f', ...attrs, exclusive: 1, promise: 0 });
  const f = (await a.call(CLTOMA_LOOKUP, { parent: dIno, name: 'f' })).body.attr;
  await stampIn(CLTOMA_SYMLINK, { parent: dIno, name: 's', target: 'f', uid: 0, gid: 0 });
  await stampIn(CLTOMA_LINK, { inode: f.inode, parent: dIno, name: 'h' });
  await stampIn(CLTOMA_MKDIR, { parent: dIno, name: 'sub', ...attrs });
  await stampIn(CLTOMA_RMDIR, { parent: dIno, name: 'sub' });
  await stampIn(CLTOMA_UNLINK, { parent: dIno, name: 'h' });
  // Changes elsewhere, of attributes or of data, leave its names version alone.
  await createFile(a, eIno, 'other');
  await a.call(CLTOMA_SETATTR, { ...setLength(f.inode, 0), setMask: SetAttr.MODE, mode: 0o600 });
  await a.call(CLTOMA_SETATTR, setLength(f.inode, 100));
  assert.is(await version(dIno), v, 'only its own names move it');
  // open(O_CREAT) of a name already there changes nothing.
  const again = await a.call(CLTOMA_CREATE, {
    parent: dIno, name: 'f', ...attrs, exclusive: 0, promise: 0,
  });
  assert.equal([again.body.parentBefore, again.body.parentAfter], [v, v]);
  // A rename within the folder; then across two: both stamped with the one change.
  const within = await a.call(CLTOMA_RENAME,
    { srcParent: dIno, srcName: 'f', dstParent: dIno, dstName: 'g', flags: 0 });
  assert.equal([within.body.srcBefore, within.body.dstBefore], [v, v]);
  assert.is(within.body.srcAfter, within.body.dstAfter);
  v = within.body.srcAfter;
  const eBefore = await version(eIno);
  const across = await a.call(CLTOMA_RENAME,
    { srcParent: dIno, srcName: 'g', dstParent: eIno, dstName: 'g', flags: 0 });
  assert.equal([across.body.srcBefore, across.body.dstBefore], [v, eBefore]);
  assert.is(across.body.srcAfter, across.body.dstAfter);
  v = across.body.srcAfter;
  assert.equal([await version(dIno), await version(eIno)], [v, v]);
  // LIST_NAMES: every name at the names version, or none past the limit asked.
  const listed = (await a.call(CLTOMA_LIST_NAMES, { inode: dIno, namesMax: 10 })).body;
  assert.equal(listed.names.map((n) => n.name).sort(), ['s'], 'f went as g to e');
  assert.equal([listed.namesVersion, listed.complete], [v, 1]);
  const tooMany = (await a.call(CLTOMA_LIST_NAMES, { inode: dIno, namesMax: 0 })).body;
  assert.equal([tooMany.names, tooMany.namesVersion, tooMany.complete], [[], v, 0]);
  // Errors: no such folder, not a folder.
  assert.is(await st(a, CLTOMA_GETATTR_FOLDER, { inode: 99_999 }), Status.ENOENT);
  const file = await createFile(a, 1, 'plain');
  assert.is(await st(a, CLTOMA_GETATTR_FOLDER, { inode: file.inode }), Status.ENOTDIR);
  assert.is(await st(a, CLTOMA_LIST_NAMES, { inode: file.inode, namesMax: 9 }), Status.ENOTDIR);
  // A restart: no version goes back, and the next change starts from what the folder says.
  a.close('restart');
  await m.stop();
  m = await startMaster({ dataPath });
  a = await client(m);
  const loaded = await version(dIno);
  assert.ok(loaded >= v, `${loaded} >= ${v}`);
  v = loaded;
  await stampIn(CLTOMA_CREATE, { parent: dIno, name: 'after', ...attrs, exclusive: 1, promise: 0 });
  a.close('done');
  await m.stop();
});

test('a failed assertion in a handler reaches onFatal (the daemon exits on it)', async () => {
  const config = defaultMasterConfig({
    dataPath: tempDir(), listenHost: '127.0.0.1', clientPort: 0, chunkserverPort: 0, monitorPort: 0,
    metaloggerPort: 0,
  });
  const fatal: Error[] = [];
  const m = new Master(config, { log, onFatal: (err) => { fatal.push(err); } });
  await m.start();
  m.store.md.namespace.lookup = () => { throw new AssertionError('a broken invariant'); };
  const c = await client(m);
  assert.is(await st(c, CLTOMA_LOOKUP, { parent: 1, name: 'x' }), Status.EIO);
  assert.equal(fatal.map((e) => e.message), ['a broken invariant']);
  assert.is(await st(c, CLTOMA_LOOKUP, { parent: 1, name: 'nope' }), Status.EIO);
  assert.is(await st(c, CLTOMA_GETATTR, { inode: 99 }), Status.ENOENT, 'a status is no bug');
  assert.is(fatal.length, 2);
  c.close('done');
  await m.stop();
});

test.after(removeTempDirs);
test.run();
