// Goal: chunks are classified by their counting copies against their goal (lost, endangered,
// undergoal, stable, overgoal), copies on draining servers count for nothing but still save
// a chunk from "lost", the matrix adds up, copies of a disagreeing length are marked invalid,
// and a scan done in small slices gives the same result as one done at once.
// Method: a registry and a namespace built in memory; no sockets, an injected clock.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CHUNK_SIZE_BYTES } from '@antlerfs/protocol';
import { ChunkRegistry } from '../src/chunk-registry.ts';
import { HealthScan, classify, markLengthMismatches, urgency } from '../src/chunk-health.ts';
import { FileNode, type Node } from '../src/inode-table.ts';

function file(inode: number, goal: number, chunkIds: number[]): FileNode {
  const f = new FileNode({ inode, mode: 0o644, uid: 0, gid: 0, timeMs: 0, goal, trashtimeS: 0 });
  chunkIds.forEach((id, i) => f.setChunk(i, id));
  f.lengthBytes = chunkIds.length * CHUNK_SIZE_BYTES;
  return f;
}

test('classify: every class at its edges', () => {
  assert.is(classify(0, 1), 'lost');
  assert.is(classify(0, 3), 'lost');
  assert.is(classify(1, 1), 'stable');
  assert.is(classify(1, 2), 'endangered');
  assert.is(classify(1, 3), 'endangered');
  assert.is(classify(2, 3), 'undergoal');
  assert.is(classify(3, 3), 'stable');
  assert.is(classify(4, 3), 'overgoal');
  assert.is(classify(2, 1), 'overgoal');
});

test('urgency: draining-only first, then one copy, then by share of goal; lost never', () => {
  assert.is(urgency(0, 2, 0), Infinity);
  assert.is(urgency(2, 2), Infinity);
  assert.ok(urgency(0, 2, 1) < urgency(1, 3));
  assert.ok(urgency(1, 3) < urgency(2, 3));
  assert.ok(urgency(2, 4) < urgency(3, 4));
});

function scene() {
  const registry = new ChunkRegistry();
  for (let id = 1; id <= 6; id++) registry.add(id, 1);
  // 1: lost, 2: endangered, 3: undergoal (goal 3), 4: stable, 5: overgoal, 6: only on draining 9
  registry.addCopy(2, 1, true);
  registry.addCopy(3, 1, true); registry.addCopy(3, 2, true);
  registry.addCopy(4, 1, true); registry.addCopy(4, 2, true);
  registry.addCopy(5, 1, true); registry.addCopy(5, 2, true); registry.addCopy(5, 3, true);
  registry.addCopy(6, 9, true);
  registry.addCopy(4, 3, false); // an invalid copy next to valid ones
  const nodes: Node[] = [file(10, 2, [1, 2]), file(11, 3, [3]), file(12, 2, [4, 5, 6])];
  const scan = new HealthScan({
    registry, inodes: () => nodes.values(), nowMs: () => 5000,
    counts: (csId) => csId !== 9, draining: (csId) => csId === 9,
  });
  return { registry, scan };
}

test('a pass counts every class, the matrix and the work lists', () => {
  const { scan } = scene();
  const s = scan.runPass();
  assert.equal(s.classes, { lost: 1, endangered: 2, undergoal: 1, stable: 1, overgoal: 1 });
  assert.equal(s.matrix[2]!.slice(0, 4), [2, 1, 1, 1]); // chunks 1,6 | 2 | 4 | 5
  assert.equal(s.matrix[3]!.slice(0, 3), [0, 0, 1]);
  assert.is(s.chunks, 6);
  assert.equal(s.undergoal.map((w) => w.chunkId), [6, 2, 3], 'most urgent first, lost left out');
  assert.equal(s.overgoal.map((w) => w.chunkId), [5]);
  assert.equal(s.invalid.map((w) => w.chunkId), [4]);
  assert.is(s.invalidCopies, 1);
  assert.is(s.drainPending.get(9), 1);
  assert.is(s.heldBytes.get(9), CHUNK_SIZE_BYTES);
});

test('slices of one chunk give the same snapshot as a whole pass', () => {
  const a = scene().scan.runPass();
  const { scan } = scene();
  let steps = 0;
  while (!scan.step(1)) steps++;
  assert.ok(steps >= 5, 'the pass took several slices');
  assert.equal(scan.last.classes, a.classes);
  assert.equal(scan.last.matrix, a.matrix);
  assert.is(scan.passes, 1);
});

test('a copy whose length disagrees with the others at this version is invalid', () => {
  const registry = new ChunkRegistry();
  const chunk = registry.add(1, 3);
  registry.addCopy(1, 1, true, 1000);
  registry.addCopy(1, 2, true, 1000);
  registry.addCopy(1, 3, true, 700);
  assert.is(markLengthMismatches(chunk), 1);
  assert.is(chunk.copies.get(3)!.valid, false);
  assert.is(chunk.copies.get(1)!.valid, true);
});

test('lengths of an older version, or a tie, decide nothing', () => {
  const registry = new ChunkRegistry();
  const chunk = registry.add(1, 3);
  registry.addCopy(1, 1, true, 1000);
  registry.addCopy(1, 2, true, 700);
  assert.is(markLengthMismatches(chunk), 0, 'one against one: no majority');
  registry.addCopy(1, 3, true, 700);
  registry.setVersion(1, 4); // a write: every known length is stale now
  assert.is(markLengthMismatches(chunk), 0);
  assert.ok([...chunk.copies.values()].every((c) => c.valid));
});

test.run();
