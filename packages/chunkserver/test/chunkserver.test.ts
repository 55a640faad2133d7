// Goal: the real antler-chunkserver binary. --version/--help, a bad key refused with exit 2;
// started on port 0 before its master is up, it logs that it retries and says `ready` with the
// bound port only once registered; it serves a write and a read; SIGTERM while writes are in
// flight answers or refuses each one, every acknowledged write is on disk afterwards, and the
// process exits 0 having released its lock. After SIGKILL every acknowledged block is intact.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLTOCS_READ, CLTOCS_WRITE, MATOCS_CREATE, Status } from '@antlerfs/protocol';
import { ChunkFile, chunkFilePath } from '../src/chunk-file.ts';
import {
  bin, collect, deadPort, dialData, log, patternBytes, removeDir, scanStore, startBin,
  startFakeMaster, tempDir, waitFor, writeBody,
} from './fixtures.ts';

const run = promisify(execFile);

test('--version, --help, and a bad key', async () => {
  const v = await run(process.execPath, [bin, '--version']);
  assert.is(v.stdout.trim(), 'antler-chunkserver 0.1.0');
  const h = await run(process.execPath, [bin, '--help']);
  assert.match(h.stdout, /--hdd-reserve-bytes/);
  try {
    await run(process.execPath, [bin, '--no-such-key', '1']);
    assert.unreachable('bad flag accepted');
  } catch (err) {
    const e = err as { code: number; stderr: string };
    assert.is(e.code, 2);
    assert.match(e.stderr, /unknown option --no-such-key/);
  }
});

test('ready after registration; serves; SIGTERM finishes writes and exits clean', async () => {
  const dataPath = await tempDir('bin');
  const masterPort = await deadPort();
  const child = startBin(dataPath, masterPort, ['--master-reconnect-delay-max-ms', '100']);
  const out = collect(child);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await waitFor('retry line', () => /master not reachable: retrying/.test(out.text()));
  assert.not.match(out.text(), / ready /, 'not ready before registering');
  const fake = await startFakeMaster(5, masterPort);
  await waitFor('ready line', () => / chunkserver ready /.test(out.text()));
  const ready = / chunkserver ready dataPort=(\d+) csId=(\d+)/.exec(out.text());
  assert.ok(ready, out.text());
  const dataPort = Number(ready![1]);
  assert.is(Number(ready![2]), 5);
  assert.ok(await fs.stat(path.join(dataPath, '.lock')));

  const master = fake.links.find((l) => !l.closed)!;
  assert.is((await master.request(MATOCS_CREATE, { chunkId: 1, version: 1 })).status, Status.OK);
  const link = await dialData(dataPort);
  const blocks = Array.from({ length: 200 }, (_, b) => patternBytes(65536, b));
  const first = await link.call(CLTOCS_WRITE, writeBody(1, 1, 0, 0, blocks[0]!), blocks[0]!);
  assert.ok(first);
  const back = await link.call(CLTOCS_READ, { chunkId: 1, version: 1, offset: 0, size: 65536 });
  assert.ok(back.data.equals(blocks[0]!));
  // Many writes in flight, then SIGTERM: each is answered OK or refused, none half-done.
  const writes = blocks.slice(1).map((block, i) => link
    .request(CLTOCS_WRITE, writeBody(1, 1, i + 1, 0, block), block)
    .then((r) => r.status, () => -1));
  child.kill('SIGTERM');
  const statuses = await Promise.all(writes);
  assert.is(await exited, 0, out.text());
  assert.match(out.text(), /module stopped module=data-server/);
  assert.is(await fs.stat(path.join(dataPath, '.lock')).catch(() => null), null, 'lock released');
  await fake.close();

  const scanned = await scanStore(path.join(dataPath, 'chunks'));
  const { store } = scanned;
  assert.equal(store.damagedChunks(), [], 'no torn block');
  let acknowledged = 0;
  for (const [i, s] of statuses.entries()) {
    if (s !== Status.OK) continue;
    acknowledged++;
    const back = await store.read(1, 1, (i + 1) * 65536, 65536);
    assert.ok(back.equals(blocks[i + 1]!), `block ${i + 1}`);
  }
  assert.ok(statuses.every((s) => s === Status.OK || s === -1), `statuses ${statuses}`);
  const refused = statuses.length - acknowledged;
  log.info('writes acknowledged before the stop', { acknowledged, refused });
  await scanned.close();
  link.close('done');
  await removeDir(dataPath);
});

test('SIGKILL mid-stream: every acknowledged block survives, the header is repaired', async () => {
  const dataPath = await tempDir('kill');
  const fake = await startFakeMaster(6);
  const child = startBin(dataPath, fake.port, []);
  const out = collect(child);
  const exited = new Promise((r) => child.once('exit', r));
  await waitFor('ready line', () => / chunkserver ready /.test(out.text()));
  const dataPort = Number(/ ready dataPort=(\d+)/.exec(out.text())![1]);
  const master = fake.links.find((l) => !l.closed)!;
  await master.call(MATOCS_CREATE, { chunkId: 2, version: 1 });
  const link = await dialData(dataPort);
  const blocks = Array.from({ length: 300 }, (_, b) => patternBytes(65536, 1000 + b));
  const acked = new Set<number>();
  const writes = blocks.map((block, b) => link
    .request(CLTOCS_WRITE, writeBody(2, 1, b, 0, block), block)
    .then((r) => { if (r.status === Status.OK) acked.add(b); }, () => undefined));
  await waitFor('some blocks acknowledged', () => acked.size >= 20);
  child.kill('SIGKILL');
  await Promise.all(writes);
  await exited;
  link.close('done');
  await fake.close();
  const chunks = path.join(dataPath, 'chunks');
  const scanned = await scanStore(chunks);
  const { store } = scanned;
  const lengthBytes = store.get(2)!.lengthBytes;
  // A block killed between its data and checksum writes may be bad; it was never acknowledged.
  const bad = await store.verifyChunk(2);
  for (const b of bad) assert.not.ok(acked.has(b), `acknowledged block ${b} is bad`);
  await scanned.close();
  // The repaired file, block by block (each verified against its checksum): a copy with a torn
  // block is damaged and no longer served as a whole, so it is read here directly.
  const file = await ChunkFile.open(chunkFilePath(chunks, 2, 1), 2, 1, lengthBytes);
  for (const b of acked) {
    assert.ok((b + 1) * 65536 <= lengthBytes, `block ${b} within the stored length`);
    assert.ok((await file.read(b * 65536, 65536)).equals(blocks[b]!), `block ${b}`);
  }
  await file.close();
  await removeDir(dataPath);
});

test.run();
