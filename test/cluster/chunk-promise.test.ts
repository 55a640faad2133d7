// Goal: a chunk promised at CREATE (made ahead by the master's pool) takes a new file's first
// write without losing a byte, through the library and through the mount, and a promise the
// master no longer knows (it was restarted between the open and the write) costs a second
// send, not data. Method: small files in a goal-2 folder, written with open/write/close (no
// goal option, so CREATE asks for a promise) and through a mount, read back by sha256; the
// pool's counters from the monitor's /api/status say promises were made and redeemed; a file
// opened before a master SIGKILL and restart is written after it and read back whole, as is a
// file another client wrote between this client's open and its first write.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FileHandle } from '@antlerfs/client';
import { startCluster, type Cluster } from '../harness/cluster.ts';
import { KIB, content, sha256 } from '../harness/data.ts';
import { readSha256 } from '../harness/files.ts';
import { startMount } from '../harness/mount.ts';

const GOAL = 2;
const FILES = 24;

/** A cluster with folder /p at GOAL and a filled pool for it (one file written there). */
async function clusterWithPool(): Promise<Cluster> {
  const cluster = await startCluster({ chunkservers: 3 });
  const admin = await cluster.client('admin');
  await admin.mkdir('/p');
  await admin.setGoal('/p', GOAL);
  const warm = await admin.open('/p/warm', 'w');
  await warm.write(dataOf(9, 0), 0);
  await warm.close();
  return cluster;
}

/** Bytes of file i: a few KiB to 300 KiB, one chunk. */
function dataOf(seed: number, i: number): Buffer {
  return content(seed * 1000 + i, 3 * KIB + ((i * 7919) % 297) * KIB);
}

test('library and mount: new files take promised chunks, every byte reads back', async () => {
  await using cluster = await startCluster({ chunkservers: 3 });
  const admin = await cluster.client('admin');
  await admin.mkdir('/p');
  await admin.setGoal('/p', GOAL);
  const client = await cluster.client('writer');
  const expected = new Map<string, string>();
  for (let i = 0; i < FILES; i++) {
    const data = dataOf(1, i);
    const handle = await client.open(`/p/lib${i}`, 'w');
    await handle.write(data, 0);
    await handle.close();
    expected.set(`/p/lib${i}`, sha256(data));
  }
  const lib = await cluster.chunkPoolCounters();
  // The first file finds the goal's pool empty (its write fills it); most later ones redeem.
  assert.ok(lib.redeemed! >= FILES / 2, `promises redeemed: ${JSON.stringify(lib)}`);
  assert.ok(lib.promised! >= lib.redeemed!);
  // Every file is under 1 MiB and closed at once: its WRITE_END took the promised chunk.
  assert.is(lib.redeemedAtEnd, lib.redeemed, 'small files name their chunk only at the end');

  const mount = await startMount(cluster);
  for (let i = 0; i < FILES; i++) {
    const data = dataOf(2, i);
    fs.writeFileSync(path.join(mount.dir, 'p', `m${i}`), data);
    expected.set(`/p/m${i}`, sha256(data));
  }
  const after = await cluster.chunkPoolCounters();
  assert.ok(after.redeemed! - lib.redeemed! >= FILES / 2,
    `promises redeemed through the mount: ${JSON.stringify(after)}`);
  // The mount hands whole blocks over as they come: WRITE_CHUNK runs while they are on their
  // way (only a file of less than a block is staged until its FLUSH and confirmed there).
  const mountAtEnd = after.redeemedAtEnd! - lib.redeemedAtEnd!;
  assert.ok(mountAtEnd < (after.redeemed! - lib.redeemed!) / 2, `at end: ${mountAtEnd}`);
  const reader = await cluster.client('reader');
  for (const [name, sum] of expected) {
    assert.is((await readSha256(reader, name)).sha256, sum, `${name} reads back whole`);
    const viaMount = fs.readFileSync(path.join(mount.dir, name));
    assert.is(sha256(viaMount), sum, `${name} through the mount`);
  }
  await mount.unmount();
});

test('a promise the restarted master does not know: the data goes to another chunk, whole',
  async () => {
    await using cluster = await clusterWithPool();
    const client = await cluster.client('writer');
    const promisedBefore = (await cluster.chunkPoolCounters()).promised!;
    const handles = [];
    for (let i = 1; i <= 3; i++) handles.push(await client.open(`/p/f${i}`, 'w'));
    assert.ok((await cluster.chunkPoolCounters()).promised! > promisedBefore, 'opens were promised');
    assert.is(await cluster.stopMaster('SIGKILL'), 'SIGKILL');
    await cluster.startMaster();
    await cluster.waitForChunkservers();
    const expected = new Map<string, string>();
    for (const [i, handle] of handles.entries()) {
      const data = dataOf(4, i);
      await handle.write(data, 0);
      await handle.close();
      expected.set(`/p/f${i + 1}`, sha256(data));
    }
    const counters = await cluster.chunkPoolCounters();
    assert.is(counters.redeemed, 0, 'the new master promised nothing of these');
    const reader = await cluster.client('reader');
    for (const [name, sum] of expected) {
      assert.is((await readSha256(reader, name)).sha256, sum, `${name} reads back whole`);
    }
  });

test('another client wrote the file first: the promise is given up, the data lands whole',
  async () => {
    await using cluster = await clusterWithPool();
    const a = await cluster.client('a');
    const before = await cluster.chunkPoolCounters();
    const mine = await a.open('/p/shared', 'w');
    assert.is((await cluster.chunkPoolCounters()).promised, before.promised! + 1, 'open promised');
    const b = await cluster.client('b');
    const theirs = await b.open('/p/shared', 'r+');
    await theirs.write(content(6, 100 * KIB), 0);
    await theirs.close();
    // Sent to the promised chunk first; the master answers with the file's own chunk instead.
    const data = content(7, 200 * KIB);
    await mine.write(data, 0);
    await mine.close();
    const after = await cluster.chunkPoolCounters();
    assert.is(after.lapsed, before.lapsed! + 1, 'the promise was given up');
    assert.is(after.redeemed, before.redeemed, 'not redeemed');
    const reader = await cluster.client('reader');
    assert.is((await readSha256(reader, '/p/shared')).sha256, sha256(data));
  });

test('data sent before the end (large, flushed, handed over) asks for the promised chunk first',
  async () => {
    await using cluster = await clusterWithPool();
    const client = await cluster.client('writer');
    const before = await cluster.chunkPoolCounters();
    const expected = new Map<string, string>();
    const write = async (name: string, data: Buffer, between?: (h: FileHandle)
      => Promise<void>): Promise<void> => {
      const handle = await client.open(name, 'w');
      await handle.write(data, 0);
      await between?.(handle);
      await handle.close();
      expected.set(name, sha256(data));
    };
    await write('/p/large', content(11, 3 * 1024 * KIB)); // sent from the caller's buffer
    await write('/p/flushed', content(12, 40 * KIB), (h) => h.flush());
    // Handed over as it is (as the mount does), whole blocks: sent at once, and its buffer comes
    // back once acknowledged, which the answer to the WRITE_CHUNK sent with it allows.
    const openData = content(13, 128 * KIB);
    const handedOver = await client.open('/p/handed-over', 'w');
    let released = false;
    await handedOver.write(openData, 0, { transfer: true, released: () => { released = true; } });
    const since = Date.now();
    while (!released && Date.now() - since < 5000) await new Promise((r) => setTimeout(r, 20));
    assert.ok(released, 'acknowledged before the end');
    await handedOver.close();
    expected.set('/p/handed-over', sha256(openData));
    await write('/p/small', content(14, 40 * KIB)); // staged until the close
    const after = await cluster.chunkPoolCounters();
    assert.is(after.redeemed! - before.redeemed!, 4, `all redeemed: ${JSON.stringify(after)}`);
    assert.is(after.redeemedAtEnd! - before.redeemedAtEnd!, 1, 'only the small one at its end');
    const reader = await cluster.client('reader');
    for (const [name, sum] of expected) {
      assert.is((await readSha256(reader, name)).sha256, sum, `${name} reads back whole`);
    }
  });

test.run();
