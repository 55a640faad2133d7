// Goal: the background scrub on a running chunkserver. It verifies every chunk, finds a byte
// flipped on disk under the running server in a chunk nobody reads, reports the copy to the
// (fake) master with CSTOMA_CHUNK_DAMAGED once, stops serving it, counts it in CLTOCS_STATS, and
// keeps serving the healthy chunks. With a rate of 0 it does nothing.
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BLOCK_SIZE_BYTES, CLTOCS_READ, Status } from '@antlerfs/protocol';
import { HEADER_BYTES, chunkFilePath } from '../src/chunk-file.ts';
import { Chunkserver } from '../src/chunkserver.ts';
import {
  dialData, flipByte, log, patternBytes, readChunk, removeDir, scanStore, startFakeMaster,
  statsOf, tempDir, testConfig, waitFor, writeChunk, type FakeMaster,
} from './fixtures.ts';

const LENGTHS = [3 * BLOCK_SIZE_BYTES, 200_000, 1000];

async function seeded(dataPath: string): Promise<string> {
  const chunks = path.join(dataPath, 'chunks');
  const scanned = await scanStore(chunks);
  for (const [i, length] of LENGTHS.entries()) {
    await writeChunk(scanned.store, i + 1, 1, patternBytes(length, i + 1));
  }
  await scanned.close();
  return chunks;
}

function chunkserverFor(dataPath: string, fake: FakeMaster, scrubBytesPerSecond: number) {
  const config = testConfig({
    dataPath, masters: [{ host: '127.0.0.1', port: fake.port }], scrubBytesPerSecond,
    scrubPassMinMs: 20,
  });
  const folders = [{ path: path.join(dataPath, 'chunks'), reserveBytes: 0 }];
  return new Chunkserver(config, folders, log.child('cs'));
}

test('scrub finds a flipped byte, reports it once, stops serving that copy', async () => {
  const dataPath = await tempDir('scrub');
  const chunks = await seeded(dataPath);
  const fake = await startFakeMaster(4);
  const cs = chunkserverFor(dataPath, fake, 64 * 1024 * 1024);
  await cs.start();
  const link = await dialData(cs.dataPort);
  await waitFor('a whole scrub pass', () => cs.scrubber.counters.scrub_passes >= 1);
  let c = await statsOf(link);
  assert.ok(c.scrub_chunks >= LENGTHS.length, `scrubbed ${c.scrub_chunks}`);
  assert.is(c.scrub_damaged, 0);
  assert.equal(fake.damaged, []);
  // Flip a byte of chunk 2 on disk while the server runs; nobody reads chunk 2.
  await flipByte(chunkFilePath(chunks, 2, 1), HEADER_BYTES + BLOCK_SIZE_BYTES + 99);
  await waitFor('damage reported', () => fake.damaged.length === 1);
  assert.equal(fake.damaged, [{ chunkId: 2, version: 1 }]);
  const passes = cs.scrubber.counters.scrub_passes;
  await waitFor('two more passes', () => cs.scrubber.counters.scrub_passes >= passes + 2);
  c = await statsOf(link);
  assert.is(c.scrub_damaged, 1, 'counted once');
  assert.equal(fake.damaged.length, 1, 'reported once');
  assert.ok(c.scrub_bytes > 0);
  const r = await link.request(CLTOCS_READ, { chunkId: 2, version: 1, offset: 0, size: 100 });
  assert.is(r.status, Status.CHECKSUM_MISMATCH, 'the damaged copy is not served');
  for (const id of [1, 3]) {
    const back = await readChunk(link, id, 1, LENGTHS[id - 1]!);
    assert.ok(back.equals(patternBytes(LENGTHS[id - 1]!, id)), `chunk ${id} still served`);
  }
  link.close('done');
  await cs.stop();
  await fake.close();
  await removeDir(dataPath);
});

test('a scrub rate of 0 scrubs nothing', async () => {
  const dataPath = await tempDir('noscrub');
  await seeded(dataPath);
  const fake = await startFakeMaster(5);
  const cs = chunkserverFor(dataPath, fake, 0);
  await cs.start();
  assert.not.ok(cs.scrubber.enabled);
  const link = await dialData(cs.dataPort);
  await waitFor('a few heartbeats', () => fake.heartbeats >= 3);
  const c = await statsOf(link);
  assert.is(c.scrub_chunks, 0);
  assert.is(c.scrub_passes, 0);
  link.close('done');
  await cs.stop();
  await fake.close();
  await removeDir(dataPath);
});

test.run();
