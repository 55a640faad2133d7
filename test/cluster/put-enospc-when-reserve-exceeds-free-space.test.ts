// Goal: when every chunkserver's reserve is above its disk's free space, a write fails with a
// clear ENOSPC (the CLI prints it and exits 1), and nothing is left behind in the namespace:
// no file and no hidden temporary file.
// Method: chunkservers started with --hdd-reserve-bytes 1 PiB (more than any test disk has
// free), then `antler put` and the library's writeFile into a fresh directory.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FsError } from '@antlerfs/client';
import { startCluster } from '../harness/cluster.ts';
import { KIB, content } from '../harness/data.ts';

const ONE_PIB_BYTES = 2 ** 50;

test('antler put fails with ENOSPC and exit code 1, leaving no file behind', async () => {
  await using cluster = await startCluster({ chunkservers: 3, reserveBytes: ONE_PIB_BYTES });
  const client = await cluster.client();
  await client.mkdir('/target');
  const src = path.join(cluster.dir, 'input');
  fs.writeFileSync(src, content(51, 300 * KIB));

  const put = await cluster.cli(['put', src, '/target/file']);
  assert.is(put.code, 1, `exit code of antler put (stderr: ${put.stderr})`);
  assert.match(put.stderr, /ENOSPC/, 'the message names ENOSPC');
  assert.equal((await client.readdir('/target')).map((e) => e.name), [],
    'no file and no temporary file in the target directory');
});

test('the library write fails with FsError ENOSPC, leaving no file behind', async () => {
  await using cluster = await startCluster({ chunkservers: 3, reserveBytes: ONE_PIB_BYTES });
  const client = await cluster.client();
  await client.mkdir('/target');
  let error: unknown = null;
  try {
    await client.writeFile('/target/file', content(52, 300 * KIB));
  } catch (err) {
    error = err;
  }
  assert.instance(error, FsError, `writeFile failed with an FsError (got ${String(error)})`);
  assert.is((error as FsError).errno, 'ENOSPC', (error as FsError).message);
  assert.equal((await client.readdir('/target')).map((e) => e.name), [],
    'no file and no temporary file in the target directory');
});

test.run();
