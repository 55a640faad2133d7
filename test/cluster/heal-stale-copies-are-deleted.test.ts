// Goal: a chunkserver that comes back after its chunks were written elsewhere never serves its
// old versions: those copies are deleted from its disk, every chunk ends with exactly 2 valid
// copies at the current version, and every file reads the new data.
// Method: a real cluster of three at goal 2; one server is stopped, the other two get the
// missing copies and then a new first block in every file (a version bump); the stopped one
// comes back. The master's /api/health matrix, `fileInfo` versions and the chunk file names
// on the returned server's disk (chunk_<id>_<version>.dat) are polled with bounded waits.
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HOST, startCluster, type Cluster } from '../harness/cluster.ts';
import { KIB, MIB, content, sha256 } from '../harness/data.ts';
import { readSha256, writeContent } from '../harness/files.ts';
import { waitUntil } from '../harness/wait.ts';

const FILES = 10;
const FILE_BYTES = 1 * MIB;
const PATCH_BYTES = 64 * KIB;
const HEAL_WAIT_MS = 120_000;

interface Health {
  /** Passes of the master's chunk scan; the matrix is the last pass's. */
  scan: { passes: number };
  matrix: Record<string, number[]>;
  chunkservers: { csId: number; state: string }[];
}

async function health(cluster: Cluster): Promise<Health> {
  const res = await fetch(`http://${HOST}:${cluster.master.ready.monitorPort}/api/health`);
  return await res.json() as Health;
}

async function chunksAtTwo(cluster: Cluster): Promise<number> {
  return (await health(cluster)).matrix['2']?.[2] ?? 0;
}

function expected(i: number): Buffer {
  const data = content(i, FILE_BYTES);
  content(1000 + i, PATCH_BYTES).copy(data, 0);
  return data;
}

/** [chunk id, version] of every chunk file on chunkserver i (copies in progress left out). */
function filesOn(cluster: Cluster, i: number): [number, number][] {
  const out: [number, number][] = [];
  for (const f of cluster.chunkFiles(i)) {
    const m = /^chunk_([0-9A-F]{16})_([0-9A-F]{8})\.dat$/.exec(path.basename(f));
    if (m) out.push([parseInt(m[1]!, 16), parseInt(m[2]!, 16)]);
  }
  return out;
}

test('a returning server\'s old versions are deleted, never served', async () => {
  await using cluster = await startCluster({
    chunkservers: 3,
    masterArgs: ['--replication-loop-ms', '500', '--chunkserver-timeout-ms', '3000'],
  });
  const client = await cluster.client();
  await client.mkdir('/stale');
  await client.setGoal('/stale', 2);
  for (let i = 0; i < FILES; i++) {
    await writeContent(client, `/stale/f${i}`, { seed: i, sizeBytes: FILE_BYTES });
  }
  const held = filesOn(cluster, 0).length;
  assert.ok(held > 0, 'server 0 holds copies');
  const stoppedId = Number(cluster.chunkservers[0]!.ready.csId);
  await cluster.stopChunkserver(0);
  const seenGone = await waitUntil('server 0 is seen gone', async () => {
    const h = await health(cluster);
    return h.chunkservers.find((c) => c.csId === stoppedId)?.state !== 'online' && h;
  }, { timeoutMs: HEAL_WAIT_MS });
  // The matrix is the last scan pass's: one that started after the loss was seen counts.
  await waitUntil('copies made again without server 0', async () => {
    const h = await health(cluster);
    return h.scan.passes >= seenGone.scan.passes + 2 && (h.matrix['2']?.[2] ?? 0) === FILES;
  }, { timeoutMs: HEAL_WAIT_MS });

  for (let i = 0; i < FILES; i++) {
    const handle = await client.open(`/stale/f${i}`, 'r+');
    try {
      await handle.write(content(1000 + i, PATCH_BYTES), 0);
    } finally {
      await handle.close();
    }
  }
  const versions = new Map<number, number>();
  for (let i = 0; i < FILES; i++) {
    for (const c of (await client.fileInfo(`/stale/f${i}`)).chunks) {
      assert.ok(c.version > 1, 'the write bumped the version');
      versions.set(c.chunkId, c.version);
    }
  }

  await cluster.startChunkserver(0);
  await waitUntil('old versions gone from server 0, every chunk at exactly 2', async () => {
    const stale = filesOn(cluster, 0).filter(([id, v]) => versions.get(id) !== v);
    return stale.length === 0 && await chunksAtTwo(cluster) === FILES;
  }, { timeoutMs: HEAL_WAIT_MS });
  for (let i = 0; i < FILES; i++) {
    const info = await client.fileInfo(`/stale/f${i}`);
    for (const c of info.chunks) {
      assert.is(c.version, versions.get(c.chunkId), 'no version went back');
      assert.is(c.locations.length, 2);
    }
    const back = await readSha256(client, `/stale/f${i}`);
    assert.is(back.sha256, sha256(expected(i)), `/stale/f${i} reads the new data`);
  }
});

test.run();
