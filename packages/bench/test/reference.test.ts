// Goal: every figure that MooseFS gave a number for carries that number and a target of 1.2 x
// it (upper end of a range, converted to the figure's unit), the library and the mount share a
// workload's reference, and "met" follows the direction of the figure. Method: the table's
// lookups on known ids, and meetsTarget on values either side of the target.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  meetsTarget, REFERENCE_NAME, referencedIds, referenceFor, TARGET_FACTOR,
} from '../src/reference.ts';

const MB_PER_MIB = 1.048576;

function close(a: number, b: number): boolean {
  return Math.abs(a - b) < 1e-9;
}

test('the reference is named and the target factor is 1.2', () => {
  assert.is(REFERENCE_NAME, 'MooseFS 3.0.117 through its FUSE mount on a 2-core machine');
  assert.is(TARGET_FACTOR, 1.2);
});

test('sequential figures: MiB/s turned into MB/s, upper end of a range, library and mount', () => {
  const expected: [string, number][] = [
    ['seq-write.goal1', 600], ['seq-write.goal2', 300], ['seq-write.goal3', 167],
    ['seq-read.goal1', 740], ['seq-read.goal2', 740], ['seq-read.goal3', 740],
  ];
  for (const [id, mib] of expected) {
    for (const which of [id, `fuse.${id}`]) {
      const ref = referenceFor(which);
      assert.ok(ref !== undefined, `${which} has a reference`);
      assert.ok(close(ref.mooseFs!, mib * MB_PER_MIB), `${which}: ${ref.mooseFs}`);
      assert.ok(close(ref.target, mib * MB_PER_MIB * 1.2), `${which}: target ${ref.target}`);
      assert.is(ref.better, 'higher');
    }
  }
  assert.is(referenceFor('seq-write.goal2')!.source, '230-300 MiB/s');
  assert.is(referenceFor('seq-write.goal1')!.ratioMin, 0.8);
  assert.is(referenceFor('seq-write.goal2')!.ratioMin, undefined);
});

test('ops figures: one thread of metadata, small files, random reads', () => {
  const expected: [string[], number][] = [
    [['metadata.create.c1', 'fuse.metadata.create'], 2900],
    [['metadata.stat.c1', 'fuse.metadata.stat'], 8300],
    [['metadata.rename.c1', 'fuse.metadata.rename'], 2800],
    [['metadata.unlink.c1', 'fuse.metadata.unlink'], 3700],
    [['small-files.write', 'fuse.small-files.write'], 608],
    [['small-files.read', 'fuse.small-files.read'], 1561],
    [['random-read.4k', 'fuse.random-read.4k'], 9000],
  ];
  for (const [ids, ops] of expected) {
    for (const id of ids) {
      const ref = referenceFor(id)!;
      assert.is(ref.mooseFs, ops, id);
      assert.ok(close(ref.target, ops * 1.2), id);
    }
  }
  // Eight clients and the chunkserver-direct ceiling have no MooseFS figure.
  for (const id of ['metadata.create.c8', 'cs-direct.write.chain1', 'raw-disk.write']) {
    assert.is(referenceFor(id), undefined, id);
  }
});

test('master memory is a stated ceiling: lower is better, no MooseFS figure', () => {
  const ref = referenceFor('master-memory.rss')!;
  assert.equal([ref.mooseFs, ref.target, ref.better], [null, 350, 'lower']);
  assert.ok(meetsTarget(ref, 349, undefined));
  assert.ok(meetsTarget(ref, 350, undefined));
  assert.not.ok(meetsTarget(ref, 351, undefined));
});

test('meetsTarget: higher is better, and a ratio asked for must be reached too', () => {
  const read = referenceFor('seq-read.goal1')!;
  assert.ok(meetsTarget(read, read.target, undefined));
  assert.not.ok(meetsTarget(read, read.target - 0.01, undefined));
  const write = referenceFor('seq-write.goal1')!;
  assert.ok(meetsTarget(write, write.target + 1, 0.8));
  assert.not.ok(meetsTarget(write, write.target + 1, 0.79), 'ratio too low');
  assert.not.ok(meetsTarget(write, write.target + 1, undefined), 'no limit measured');
  assert.not.ok(meetsTarget(write, write.target - 1, 0.9), 'value too low');
});

test('every id appears once, and library and mount figures pair up', () => {
  const ids = referencedIds();
  assert.is(new Set(ids).size, ids.length);
  for (const id of ids.filter((i) => i.startsWith('fuse.') && !i.includes('metadata'))) {
    assert.ok(ids.includes(id.slice('fuse.'.length)), `${id} has a library twin`);
  }
});

test.run();
