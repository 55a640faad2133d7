// Goal: the planner copies the most endangered chunks first, never to a holder, a draining or
// an unusable server, keeps to the per-server and total limits, adds the copy only when it
// arrived at the version asked for, retries failures, deletes extra copies on the fullest
// server only when no copy runs, replaces invalid copies, and rebalances only when nothing
// needs healing. Method: an in-memory registry and namespace; replicate/remove are fakes whose
// answers the test releases by hand; no sockets, an injected clock.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CHUNK_SIZE_BYTES, Logger, Status, setLogLevel, type StatusCode } from '@antlerfs/protocol';
import { ChunkRegistry } from '../src/chunk-registry.ts';
import { FileNode, type Node } from '../src/inode-table.ts';
import {
  ReplicationPlanner, type PlannerLimits, type PlannerServer, type ReplicateOrder,
} from '../src/replication-planner.ts';

setLogLevel('error');

const GIB = 1024 ** 3;

interface Pending { csId: number; order: ReplicateOrder; resolve: (s: StatusCode) => void }

function setup(opts: { servers: number; limits?: Partial<PlannerLimits> }) {
  let now = 1_000_000;
  const registry = new ChunkRegistry();
  const nodes: Node[] = [];
  const servers: PlannerServer[] = [];
  for (let i = 1; i <= opts.servers; i++) {
    servers.push({
      csId: i, host: '127.0.0.1', port: 9000 + i, freeBytes: 100 * GIB, totalBytes: 200 * GIB,
      usable: true, online: true, draining: false,
    });
  }
  const pending: Pending[] = [];
  const removed: string[] = [];
  const strays: string[] = [];
  const limits: PlannerLimits = {
    loopMs: 1000, perServerMax: 2, totalMax: 100, rebalanceMovesMax: 0,
    balanceMarginPercent: 5, replicationTimeoutMs: 600_000, startGraceMs: 0,
    ...opts.limits,
  };
  const planner = new ReplicationPlanner({
    registry, inodes: () => nodes.values(), servers: () => servers,
    replicate: (csId, order) => new Promise((resolve) => {
      pending.push({ csId, order, resolve: (s) => resolve({ status: s, lengthBytes: 4096 }) });
    }),
    remove: async (csId, chunkId) => {
      removed.push(`${chunkId}@${csId}`);
      return Status.OK;
    },
    stray: (chunkId, version, csId) => strays.push(`${chunkId}v${version}@${csId}`),
    limits, log: new Logger('test'), nowMs: () => now, random: () => 0.5,
  });
  let inode = 100;
  const addFile = (goal: number, copies: number[][]): number[] => {
    const f = new FileNode({
      inode: inode++, mode: 0o644, uid: 0, gid: 0, timeMs: 0, goal, trashtimeS: 0,
    });
    const ids: number[] = [];
    copies.forEach((holders, i) => {
      const id = inode * 1000 + i;
      registry.add(id, 1);
      for (const cs of holders) registry.addCopy(id, cs, true);
      f.setChunk(i, id);
      ids.push(id);
    });
    f.lengthBytes = copies.length * CHUNK_SIZE_BYTES;
    nodes.push(f);
    return ids;
  };
  const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
  const answer = async (status: StatusCode, which = 0): Promise<Pending> => {
    const p = pending.splice(which, 1)[0]!;
    p.resolve(status);
    await settle();
    return p;
  };
  return {
    registry, planner, servers, pending, removed, strays, addFile, answer, settle,
    advance: (ms: number) => { now += ms; },
  };
}

test('endangered chunks go first; lost ones are not tried; never to a holder', () => {
  const t = setup({ servers: 4, limits: { totalMax: 1 } });
  const [undergoal] = t.addFile(3, [[1, 2]]);
  const [lost] = t.addFile(2, [[]]);
  const [endangered] = t.addFile(2, [[3]]);
  t.planner.passNow();
  assert.is(t.pending.length, 1, 'the total limit holds');
  assert.is(t.pending[0]!.order.chunkId, endangered);
  assert.is.not(t.pending[0]!.csId, 3);
  assert.equal(t.pending[0]!.order.sources, [{ host: '127.0.0.1', port: 9003 }]);
  assert.is(t.planner.queueLength, 1, 'the undergoal one waits; the lost one is not queued');
  assert.ok(undergoal !== lost);
});

test('per-server limits hold for sources and targets', () => {
  const t = setup({ servers: 3, limits: { perServerMax: 2 } });
  // Ten chunks whose only copy is on server 1: it can be the source of two at once.
  for (let i = 0; i < 10; i++) t.addFile(2, [[1]]);
  t.planner.passNow();
  assert.is(t.pending.length, 2);
  assert.ok(t.planner.skipped['no free source']! > 0);
  const targets = t.pending.map((p) => p.csId);
  assert.ok(targets.every((cs) => cs === 2 || cs === 3));
});

test('a finished copy counts at once and the next one starts', async () => {
  const t = setup({ servers: 3, limits: { perServerMax: 1 } });
  const ids = t.addFile(2, [[1], [1]]);
  t.planner.passNow();
  assert.is(t.pending.length, 1);
  const p = await t.answer(Status.OK);
  const chunk = t.registry.get(p.order.chunkId)!;
  assert.is(chunk.copies.get(p.csId)?.valid, true);
  assert.is(chunk.copies.get(p.csId)?.lengthBytes, 4096);
  assert.is(t.pending.length, 1, 'the freed slot took the other chunk');
  assert.is(t.pending[0]!.order.chunkId, ids.find((id) => id !== p.order.chunkId));
  assert.is(t.planner.counters.done, 1);
  assert.is(t.planner.counters.bytesDone, 4096);
});

test('a copy of a chunk written meanwhile is not added but deleted', async () => {
  const t = setup({ servers: 3 });
  const [id] = t.addFile(2, [[1]]);
  t.planner.passNow();
  t.registry.setVersion(id!, 2);
  const p = await t.answer(Status.OK);
  assert.is(t.registry.get(id!)!.copies.has(p.csId), false);
  assert.equal(t.strays, [`${id}v1@${p.csId}`]);
  assert.is(t.planner.counters.obsolete, 1);
});

test('a failed copy is counted by status and retried only later', async () => {
  const t = setup({ servers: 2 });
  const [id] = t.addFile(2, [[1]]);
  t.planner.passNow();
  await t.answer(Status.EIO);
  assert.is(t.planner.failedBy.EIO, 1);
  assert.is(t.pending.length, 0, 'not at once');
  t.planner.passNow();
  assert.is(t.pending.length, 0);
  t.advance(60_000);
  t.planner.passNow();
  assert.is(t.pending.length, 1);
  assert.is(t.pending[0]!.order.chunkId, id);
});

test('a leased chunk is not copied', () => {
  const t = setup({ servers: 3 });
  const [id] = t.addFile(2, [[1]]);
  t.registry.get(id!)!.leaseSession = 7;
  t.planner.passNow();
  assert.is(t.pending.length, 0);
  assert.ok(t.planner.skipped.leased! > 0);
});

test('draining servers get no copies but serve as sources; their copies do not count', () => {
  const t = setup({ servers: 3 });
  t.servers[1]!.draining = true; // csId 2
  const [id] = t.addFile(2, [[1, 2]]);
  t.planner.passNow();
  assert.is(t.pending.length, 1);
  assert.is(t.pending[0]!.csId, 3);
  assert.is(t.pending[0]!.order.chunkId, id);
  assert.is(t.planner.snapshot.drainPending.get(2), 1);
});

test('extra copies go from the fullest server', async () => {
  const t = setup({ servers: 4 });
  const [over] = t.addFile(1, [[1, 2]]);
  t.addFile(1, [[3], [3], [3]]); // server 3 holds the most
  const [over2] = t.addFile(1, [[3, 4]]);
  t.planner.passNow();
  await t.settle();
  assert.ok(t.removed.includes(`${over2}@3`), 'the fullest one loses its copy');
  assert.is(t.registry.get(over!)!.copies.size, 1);
  assert.is(t.registry.get(over2!)!.copies.size, 1);
  assert.is(t.planner.counters.removedOvergoal, 2);
});

test('an invalid copy next to a valid one is deleted; a lone invalid one is kept', async () => {
  const t = setup({ servers: 3 });
  const [a, b] = t.addFile(2, [[1, 2], [3]]);
  t.registry.addCopy(a!, 2, false);
  t.registry.addCopy(b!, 3, false);
  t.planner.passNow();
  await t.settle();
  assert.equal(t.removed, [`${a}@2`]);
  assert.is(t.registry.get(b!)!.copies.size, 1);
  assert.is(t.planner.snapshot.classes.lost, 1);
});

test('rebalancing moves chunks to the emptiest server, only with nothing to heal', async () => {
  const t = setup({ servers: 3, limits: { rebalanceMovesMax: 1, balanceMarginPercent: 0 } });
  for (let i = 0; i < 6; i++) t.addFile(2, [[1, 2]]);
  t.servers.forEach((s) => { s.freeBytes = 1 * GIB; });
  t.planner.passNow();
  assert.is(t.pending.length, 1, 'one move at a time');
  assert.is(t.pending[0]!.csId, 3);
  const p = await t.answer(Status.OK);
  await t.settle();
  const chunk = t.registry.get(p.order.chunkId)!;
  assert.is(chunk.copies.has(3), true);
  assert.is(chunk.copies.size, 2, 'the copy on the source went');
  assert.is(t.planner.counters.movesDone, 1);
  // An endangered chunk stops new moves.
  while (t.pending.length > 0) await t.answer(Status.EAGAIN);
  t.addFile(2, [[1]]);
  t.advance(10_000);
  t.planner.passNow();
  assert.ok(t.pending.every((q) => t.registry.get(q.order.chunkId)!.copies.size === 1));
});

test('nothing is planned during the start grace or while a server is still registering', () => {
  const t = setup({ servers: 3 });
  t.servers[2]!.usable = false; // online, its chunk list still coming
  const [id] = t.addFile(2, [[1]]);
  t.planner.passNow();
  assert.is(t.pending.length, 0);
  assert.ok(t.planner.skipped['held: registration']! > 0);
  t.servers[2]!.usable = true;
  t.planner.passNow();
  assert.is(t.pending.length, 1);
  assert.is(t.pending[0]!.order.chunkId, id);
});

test.run();
