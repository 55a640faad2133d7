// Goal: rename, readdir, stat and unlink are answered by the master alone: no chunkserver sees
// a read, write or fsync request from them.
// Method: write real files first (so there are chunks to touch), read every chunkserver's
// CLTOCS_STATS counters, run the metadata operations, read the counters again: unchanged.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Cluster } from '../harness/cluster.ts';
import { startCluster } from '../harness/cluster.ts';
import { KIB, MIB, contentSha256 } from '../harness/data.ts';
import { readSha256, writeContent } from '../harness/files.ts';

const DATA_COUNTERS = ['read_requests', 'write_requests', 'fsync_requests'] as const;

/** The data request counters of every chunkserver, as one comparable record. */
async function dataCounters(cluster: Cluster): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (let i = 0; i < cluster.chunkservers.length; i++) {
    const stats = await cluster.csStats(i);
    for (const name of DATA_COUNTERS) {
      assert.type(stats[name], 'number', `chunkserver ${i} reports ${name}`);
      out[`cs${i}.${name}`] = stats[name]!;
    }
  }
  return out;
}

test('rename, readdir, stat and unlink send nothing to any chunkserver', async () => {
  await using cluster = await startCluster({ chunkservers: 3 });
  const client = await cluster.client();
  await client.mkdir('/a');
  await client.mkdir('/b');
  const sizes = [1, 200 * KIB, 64 * MIB + 1]; // one block, many blocks, two chunks
  for (const [i, sizeBytes] of sizes.entries()) {
    await writeContent(client, `/a/f${i}`, { seed: 30 + i, sizeBytes, goal: 3 });
  }
  await writeContent(client, '/b/victim', { seed: 39, sizeBytes: 3 * MIB, goal: 3 });
  const before = await dataCounters(cluster);
  assert.ok(Object.values(before).some((v) => v > 0), 'the writes were counted');

  for (const [i, sizeBytes] of sizes.entries()) {
    assert.is((await client.stat(`/a/f${i}`)).length, sizeBytes);
  }
  assert.equal((await client.readdir('/a')).map((e) => e.name).sort(), ['f0', 'f1', 'f2']);
  await client.rename('/a/f0', '/a/g0'); // same directory
  await client.rename('/a/f1', '/b/f1'); // other directory
  await client.rename('/a/f2', '/b/victim'); // over an existing file, which is dropped
  await client.rename('/b', '/c'); // a whole directory
  assert.equal((await client.readdir('/a')).map((e) => e.name), ['g0']);
  assert.equal((await client.readdir('/c')).map((e) => e.name).sort(), ['f1', 'victim']);
  assert.is((await client.stat('/c/victim')).length, sizes[2]);
  await client.unlink('/a/g0');
  await client.unlink('/c/f1');
  assert.equal((await client.readdir('/a')).map((e) => e.name), []);
  await client.rmdir('/a');
  assert.equal((await client.readdir('/')).map((e) => e.name), ['c']);

  const after = await dataCounters(cluster);
  assert.equal(after, before, 'no read, write or fsync request reached a chunkserver');

  // The renamed file is still whole: the chunkservers were not needed, not broken.
  const back = await readSha256(client, '/c/victim');
  assert.is(back.sha256, contentSha256(32, sizes[2]!));
});

test.run();
