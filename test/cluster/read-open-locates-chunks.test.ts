// Goal: opening a file for reading brings its chunk locations along (CLTOMA_LOOKUP_PATH_CHUNKS),
// so a small file is one master round trip from its data, and nothing is read wrong because of
// it: holes, files past the chunks listed with the open, paths through symlinks, and errors.
// Method: real cluster; files written through the library; each read by a fresh client whose
// master requests are counted; sha256 of what was written against what is read.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Client } from '@antlerfs/client';
import { CHUNK_SIZE_BYTES } from '@antlerfs/protocol';
import { startCluster, type Cluster } from '../harness/cluster.ts';
import { KIB, content, contentSha256, sha256 } from '../harness/data.ts';
import { writeContent } from '../harness/files.ts';

/** Master requests a client sent, by name, for what `work` did (a fresh client each time). */
async function countedRead(
  cluster: Cluster, work: (c: Client) => Promise<string>,
): Promise<{ digest: string; requests: Record<string, number> }> {
  const client = await cluster.client();
  const session = (client as unknown as { session: { requestCounts(): Record<string, number> } })
    .session;
  const before = session.requestCounts();
  const digest = await work(client);
  const after = session.requestCounts();
  const requests: Record<string, number> = {};
  for (const [name, n] of Object.entries(after)) {
    if (n !== (before[name] ?? 0)) requests[name] = n - (before[name] ?? 0);
  }
  return { digest, requests };
}

test('a small file is read with one master request; holes and symlinks read right', async () => {
  await using cluster = await startCluster({ chunkservers: 2 });
  const writer = await cluster.client();
  await writer.mkdir('/r');
  await writeContent(writer, '/r/small', { seed: 71, sizeBytes: 64 * KIB, goal: 2 });
  const small = contentSha256(71, 64 * KIB);

  const read = await countedRead(cluster, async (c) => sha256(await c.readFile('/r/small')));
  assert.is(read.digest, small);
  assert.equal(read.requests, { CLTOMA_LOOKUP_PATH_CHUNKS: 1 }, 'no READ_CHUNKS, no GETATTR');

  const viaHandle = await countedRead(cluster, async (c) => {
    const fh = await c.open('/r/small', 'r');
    try {
      const buf = Buffer.alloc(64 * KIB);
      assert.is(await fh.read(buf, 0, buf.length, 0), buf.length);
      return sha256(buf);
    } finally {
      await fh.close();
    }
  });
  assert.is(viaHandle.digest, small);
  assert.equal(viaHandle.requests, { CLTOMA_LOOKUP_PATH_CHUNKS: 1 });

  // A hole for chunk 0 and data in chunk 1: the open lists only chunk 1, chunk 0 reads as zeros.
  const tail = content(72, 5000);
  const fh = await writer.open('/r/holey', 'w');
  await fh.write(tail, CHUNK_SIZE_BYTES);
  await fh.close();
  const holey = await countedRead(cluster, async (c) => sha256(await c.readFile('/r/holey')));
  const expected = Buffer.concat([Buffer.alloc(CHUNK_SIZE_BYTES), tail]);
  assert.is(holey.digest, sha256(expected));
  assert.equal(holey.requests, { CLTOMA_LOOKUP_PATH_CHUNKS: 1 });

  // Through a symlink the path is walked as before; the bytes are the same.
  await writer.symlink('small', '/r/link');
  const linked = await countedRead(cluster, async (c) => sha256(await c.readFile('/r/link')));
  assert.is(linked.digest, small);

  const client = await cluster.client();
  for (const [p, code] of [['/r/missing', 'ENOENT'], ['/r', 'EISDIR'], ['/r/small/x', 'ENOTDIR']]) {
    try {
      await client.readFile(p!);
      assert.unreachable(`${p} read`);
    } catch (err) {
      assert.is((err as { code?: string }).code, code, p);
    }
  }
});

test.run();
