// Goal: what one client writes and closes, another client (its own master session and its own
// chunkserver connections) reads in full, byte for byte, including an overwrite in place.
// Method: two clients of one real cluster; write with one, close, read with the other, sha256.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster } from '../harness/cluster.ts';
import { KIB, MIB, content, contentSha256, sha256 } from '../harness/data.ts';
import { readSha256, writeContent } from '../harness/files.ts';

test('a file written and closed by one client reads back in full from another', async () => {
  await using cluster = await startCluster({ chunkservers: 3 });
  const writer = await cluster.client('writer');
  const reader = await cluster.client('reader');
  // Two chunks, the last one ending inside a block: every edge the read path has.
  const sizeBytes = 64 * MIB + 3 * MIB + 5 * KIB + 7;
  await writer.mkdir('/shared');
  await writeContent(writer, '/shared/big', { seed: 11, sizeBytes, way: 'handle' });
  assert.is((await reader.stat('/shared/big')).length, sizeBytes);
  const back = await readSha256(reader, '/shared/big');
  assert.is(back.sizeBytes, sizeBytes);
  assert.is(back.sha256, contentSha256(11, sizeBytes));

  // And the other way round, with a small file and writeFile.
  const small = content(12, 100 * KIB + 1);
  await reader.writeFile('/shared/small', small);
  assert.is(sha256(await writer.readFile('/shared/small')), sha256(small));
});

test('an overwrite in place by one client is what the other reads next', async () => {
  await using cluster = await startCluster({ chunkservers: 3 });
  const a = await cluster.client('a');
  const b = await cluster.client('b');
  const sizeBytes = 2 * MIB + 3;
  const expected = content(21, sizeBytes);
  await a.writeFile('/f', expected);
  // b reads it once, so anything it keeps (locations, read-ahead) is warm before the change.
  assert.is(sha256(await b.readFile('/f')), sha256(expected));

  const patch = content(22, 100 * KIB);
  const at = MIB - 1000; // across a block edge, inside the one chunk
  const handle = await a.open('/f', 'r+');
  await handle.write(patch, at);
  await handle.close();
  patch.copy(expected, at);
  const again = await readSha256(b, '/f');
  assert.is(again.sizeBytes, sizeBytes);
  assert.is(again.sha256, sha256(expected), 'b reads the overwrite');

  // Growing the file by appending from b is seen by a.
  const tail = content(23, 70 * KIB);
  const h2 = await b.open('/f', 'a');
  await h2.write(tail);
  await h2.close();
  const grown = Buffer.concat([expected, tail]);
  assert.is((await a.stat('/f')).length, grown.length);
  assert.is(sha256(await a.readFile('/f')), sha256(grown), 'a reads the appended bytes');
});

test.run();
