// Goal: once a file's last name is gone (unlink, or a rename over it), its chunk files leave
// every chunkserver's disk shortly after, and the chunk files of other files stay.
// Method: write a file to keep and a file to delete at goal 3, learn which chunk files on
// disk are the doomed file's (those that appeared with it), delete it, poll the disks with a
// deadline; then the kept file still reads back whole. Deleted chunk files become spares that
// the next file's chunks take.
import fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Cluster } from '../harness/cluster.ts';
import { startCluster } from '../harness/cluster.ts';
import { KIB, MIB, contentSha256 } from '../harness/data.ts';
import { chunkCount, readSha256, writeContent } from '../harness/files.ts';
import { waitUntil } from '../harness/wait.ts';

/** The deletion queue drains within seconds; this bounds the wait, it is not a speed claim. */
const DISK_CLEAN_TIMEOUT_MS = 20_000;
const GOAL = 3;
const KEEP_BYTES = 64 * MIB + 5 * KIB; // two chunks
const DOOMED_BYTES = 64 * MIB + 64 * KIB + 1; // two chunks
/** Chunk files on disk are the files' own: no empty chunks made ahead (chunk-pool.test.ts). */
const CLUSTER = { chunkservers: 3, masterArgs: ['--chunk-pool-size', '0'] };

/** Writes /keep, then /doomed; returns the chunk files that appeared with /doomed. */
async function setUp(cluster: Cluster): Promise<{ kept: string[]; doomed: string[] }> {
  const client = await cluster.client();
  await writeContent(client, '/keep', { seed: 41, sizeBytes: KEEP_BYTES, goal: GOAL });
  const kept = cluster.chunkFiles();
  assert.is(kept.length, chunkCount(KEEP_BYTES) * GOAL, 'chunk files of /keep on disk');
  await writeContent(client, '/doomed', { seed: 42, sizeBytes: DOOMED_BYTES, goal: GOAL });
  const doomed = cluster.chunkFiles().filter((f) => !kept.includes(f));
  assert.is(doomed.length, chunkCount(DOOMED_BYTES) * GOAL, 'chunk files of /doomed on disk');
  return { kept, doomed };
}

async function expectGone(
  cluster: Cluster, files: { kept: string[]; doomed: string[] },
): Promise<void> {
  await waitUntil('the deleted file\'s chunk files to leave every disk', () => {
    return files.doomed.every((f) => !fs.existsSync(f)) || undefined;
  }, { timeoutMs: DISK_CLEAN_TIMEOUT_MS });
  const left = cluster.chunkFiles();
  assert.equal(left.filter((f) => files.doomed.includes(f)), [], 'no copy left on any disk');
  assert.equal(left.sort(), [...files.kept].sort(), 'the other file keeps every chunk file');
  const client = await cluster.client('after');
  const back = await readSha256(client, '/keep');
  assert.is(back.sha256, contentSha256(41, KEEP_BYTES), '/keep still reads back whole');
}

test('unlink: the chunk files leave every chunkserver', async () => {
  await using cluster = await startCluster(CLUSTER);
  const files = await setUp(cluster);
  const client = await cluster.client();
  await client.unlink('/doomed');
  await expectGone(cluster, files);
  // The deleted chunks' files were kept as spares (emptied) and the next file's chunks take
  // them: same bytes back, no spare left over on any server.
  const stats = await Promise.all([0, 1, 2].map((i) => cluster.csStats(i)));
  const kept = stats.reduce((sum, s) => sum + s.spare_files!, 0);
  assert.is(kept, files.doomed.length, 'every deleted chunk file kept as a spare');
  await writeContent(client, '/again', { seed: 43, sizeBytes: DOOMED_BYTES, goal: GOAL });
  const after = await Promise.all([0, 1, 2].map((i) => cluster.csStats(i)));
  assert.is(after.reduce((sum, s) => sum + s.spare_files_taken!, 0), files.doomed.length);
  assert.is(after.reduce((sum, s) => sum + s.spare_files!, 0), 0);
  assert.is((await readSha256(client, '/again')).sha256, contentSha256(43, DOOMED_BYTES));
});

test('rename over a file: the replaced file\'s chunk files leave every chunkserver', async () => {
  await using cluster = await startCluster(CLUSTER);
  const files = await setUp(cluster);
  const client = await cluster.client();
  await client.writeFile('/small', Buffer.from('the new /doomed'), { goal: GOAL });
  const small = cluster.chunkFiles()
    .filter((f) => !files.kept.includes(f) && !files.doomed.includes(f));
  await client.rename('/small', '/doomed');
  await expectGone(cluster, { kept: [...files.kept, ...small], doomed: files.doomed });
  assert.is((await client.readFile('/doomed')).toString(), 'the new /doomed');
});

test.run();
