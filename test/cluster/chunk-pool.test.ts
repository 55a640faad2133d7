// Goal: chunks made ahead (the master's chunk pool) serve new files' first writes without
// losing a byte, a chunkserver killed with pooled chunks on it costs nothing but those chunks,
// and the empty chunks a master leaves behind when it stops leave the disks once the servers
// register again. Method: small files (one chunk each, goal 2) written and read back by
// sha256; the pool's counters from the monitor's /api/status; SIGKILL and restart of a
// chunkserver, then of the master; the disks polled until they hold exactly the files' copies.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster, type Cluster } from '../harness/cluster.ts';
import { KIB, contentSha256 } from '../harness/data.ts';
import { readSha256, writeContent } from '../harness/files.ts';
import { waitUntil } from '../harness/wait.ts';

const GOAL = 2;
const FILES_PER_ROUND = 24;
/** Bounds the waits for deletions and registrations; not a speed claim. */
const WAIT_MS = 30_000;

/** Files round/i of a few KiB to 200 KiB (one chunk each), written one after another. */
async function writeRound(cluster: Cluster, round: number): Promise<Map<string, string>> {
  const client = await cluster.client(`round ${round}`);
  const written = new Map<string, string>();
  for (let i = 0; i < FILES_PER_ROUND; i++) {
    const seed = round * 1000 + i;
    const sizeBytes = 3 * KIB + ((i * 7919) % 197) * KIB;
    await writeContent(client, `/r${round}/f${i}`, { seed, sizeBytes, goal: GOAL });
    written.set(`/r${round}/f${i}`, contentSha256(seed, sizeBytes));
  }
  return written;
}

async function expectAll(cluster: Cluster, files: Map<string, string>): Promise<void> {
  const client = await cluster.client('reader');
  for (const [name, sha256] of files) {
    assert.is((await readSha256(client, name)).sha256, sha256, `${name} reads back whole`);
  }
}

test('pooled chunks: files read back, a killed server\'s are dropped, leftovers are deleted',
  async () => {
    await using cluster = await startCluster({ chunkservers: 3 });
    const admin = await cluster.client('admin');
    for (const r of [0, 1]) await admin.mkdir(`/r${r}`);
    const files = await writeRound(cluster, 0);
    await expectAll(cluster, files);
    const first = await cluster.chunkPoolCounters();
    assert.ok(first.taken! >= FILES_PER_ROUND - 1,
      `files after the first took pooled chunks: ${JSON.stringify(first)}`);
    assert.ok(first.ready! > 0, 'the pool is topped up');

    assert.is(await cluster.stopChunkserver(0, 'SIGKILL'), 'SIGKILL');
    await cluster.startChunkserver(0);
    await cluster.waitForChunkservers();
    for (const [name, sha256] of await writeRound(cluster, 1)) files.set(name, sha256);
    await expectAll(cluster, files);
    const second = await cluster.chunkPoolCounters();
    assert.ok(second.discarded! > 0, `chunks on the killed server's old link were given up: ${
      JSON.stringify(second)}`);

    // The master forgets its pool when it stops; the servers' next lists delete what it held.
    await cluster.stopMaster();
    await cluster.startMaster();
    await cluster.waitForChunkservers();
    const wanted = files.size * GOAL;
    await waitUntil(`exactly the files' ${wanted} chunk files on the disks`, () =>
      cluster.chunkFiles().length === wanted || undefined, { timeoutMs: WAIT_MS });
    await expectAll(cluster, files);
  });

test.run();
