// Goal: replication between real data servers on 127.0.0.1. A whole 64 MiB chunk ordered by a
// (fake) master is copied from a real source and reads back byte for byte, and survives a
// restart (its flushed data left the page cache); a source with a flipped byte on disk and sources that send wrong bytes are skipped
// for the next source, on both verification paths (inline, and the worker pool for 1 MiB pieces
// with the tail inline); an order whose every source fails leaves the copy held before
// untouched and nothing behind; REPLICATIONS_MAX and the bounded queue (EAGAIN past it) hold, a
// repeated order joins the first, stop() fails what runs and waits; the real binary SIGKILLed
// mid-copy keeps no copy after restart.
import fs from 'node:fs/promises';
import type net from 'node:net';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BLOCK_SIZE_BYTES, CHUNK_SIZE_BYTES, CLTOCS_READ, CSTOCS_GET_CHECKSUMS, FsError, MATOCS_REPLICATE,
  PAYLOAD_MAX_DATA_BYTES, Router, Status, listenLinks, type Link,
} from '@antlerfs/protocol';
import {
  HEADER_BYTES, REPLICA_TEMP_SUFFIX, chunkFilePath, chunkSubfolder,
} from '../src/chunk-file.ts';
import type { ChunkStore } from '../src/chunk-store.ts';
import {
  PREAD_WOULD_BLOCK, dropCachedAvailable, preadNoWait, preadNoWaitAvailable,
} from '@antlerfs/native';
import { Chunkserver } from '../src/chunkserver.ts';
import { Replicator } from '../src/replicator.ts';
import {
  DataNode, collect, deadPort, dialData, flipByte, log, patternBytes, readChunk, removeDir,
  scanStore, sha256, startBin, startFakeMaster, statsOf, tempDir, testConfig, waitFor, writeChunk,
  type FakeMaster,
} from './fixtures.ts';

const MIB = 1024 * 1024;

function chunkserverFor(dataPath: string, fake: FakeMaster): Chunkserver {
  const config = testConfig({ dataPath, masters: [{ host: '127.0.0.1', port: fake.port }] });
  const folders = [{ path: path.join(dataPath, 'chunks'), reserveBytes: 0 }];
  return new Chunkserver(config, folders, log.child('cs'));
}

function masterLinkOf(fake: FakeMaster): Link {
  const live = fake.links.filter((l) => !l.closed);
  assert.is(live.length, 1, 'one live link from the chunkserver');
  return live[0]!;
}

function hop(port: number): { host: string; port: number } {
  return { host: '127.0.0.1', port };
}

/** Names in the chunk's subfolder (to see what a copy left behind). */
async function filesOf(folder: string, chunkId: number): Promise<string[]> {
  return (await fs.readdir(path.join(folder, chunkSubfolder(chunkId)))).sort();
}

test('a 64 MiB chunk is copied from a real source, reads back identical, survives restart',
  async () => {
    const source = await DataNode.start('repl-src');
    const data = patternBytes(CHUNK_SIZE_BYTES, 64);
    await writeChunk(source.store, 77, 3, data);
    const dataPath = await tempDir('repl-dst');
    const fake = await startFakeMaster(2);
    const cs = chunkserverFor(dataPath, fake);
    await cs.start();
    const startedMs = Date.now();
    const reply = await masterLinkOf(fake).request(MATOCS_REPLICATE,
      { chunkId: 77, version: 3, sources: [hop(source.port)] }, undefined, { timeoutMs: 60_000 });
    const ms = Math.max(1, Date.now() - startedMs);
    log.info('replicated a whole chunk', { ms, mbPerS: Math.round(CHUNK_SIZE_BYTES / 1000 / ms) });
    assert.is(reply.status, Status.OK);
    assert.is(reply.body!.lengthBytes, CHUNK_SIZE_BYTES);
    const chunks = path.join(dataPath, 'chunks');
    if (dropCachedAvailable && preadNoWaitAvailable) {
      // Flushed data left the page cache (HDD_DROP_WRITTEN_CACHE is on by default).
      const fh = await fs.open(chunkFilePath(chunks, 77, 3), 'r');
      const probe = Buffer.alloc(4096);
      for (const at of [CHUNK_SIZE_BYTES / 2, CHUNK_SIZE_BYTES - 4096]) {
        assert.is(preadNoWait(fh.fd, probe, 0, probe.length, HEADER_BYTES + at),
          PREAD_WOULD_BLOCK, `replica data at ${at} is not cached`);
      }
      await fh.close();
    }
    const link = await dialData(cs.dataPort);
    const back = await readChunk(link, 77, 3, CHUNK_SIZE_BYTES);
    assert.is(sha256(back), sha256(data), 'same bytes');
    const c = await statsOf(link);
    assert.is(c.replications_done, 1);
    assert.is(c.replications_failed, 0);
    assert.is(c.replication_bytes, CHUNK_SIZE_BYTES);
    assert.equal(await filesOf(chunks, 77), [path.basename(chunkFilePath(chunks, 77, 3))]);
    link.close('done');
    await cs.stop();
    const scanned = await scanStore(chunks);
    assert.equal(scanned.store.get(77), { chunkId: 77, version: 3, lengthBytes: CHUNK_SIZE_BYTES });
    assert.equal(await scanned.store.verifyChunk(77), [], 'every block verifies after restart');
    await scanned.close();
    await fake.close();
    await source.stop();
    await removeDir(dataPath);
  });

/**
 * A data server that answers like `honest` but flips one byte of the piece read at `badOffset`
 * (its checksum table stays right: what it sends must be caught on arrival).
 */
async function startLiar(
  honest: ChunkStore, badOffset: number,
): Promise<{ port: number; close(): Promise<void> }> {
  const router = new Router()
    .on(CSTOCS_GET_CHECKSUMS, async (b) => {
      const { lengthBytes, table } = await honest.checksums(b.chunkId, b.version);
      return { body: { lengthBytes }, data: table };
    })
    .on(CLTOCS_READ, async (b) => {
      const data = Buffer.from(await honest.read(b.chunkId, b.version, b.offset, b.size));
      if (b.offset === badOffset) data[100] ^= 0x40;
      return { data };
    });
  const links: Link[] = [];
  const server = await listenLinks('127.0.0.1', 0, {
    kind: 'data', payloadMaxBytes: PAYLOAD_MAX_DATA_BYTES, log, router,
  }, (l) => links.push(l));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const l of links) l.close('done');
      await new Promise((r) => server.close(r));
    },
  };
}

/** Three 1 MiB pieces and a tail of one partial block (zero-padded on the wire). */
const ODD_LENGTH_BYTES = 3 * MIB + 1000;

test('bad sources are skipped: a flipped byte on disk, bad bytes on the wire', async () => {
  const lengthBytes = ODD_LENGTH_BYTES;
  const data = patternBytes(lengthBytes, 90);
  const flipped = await DataNode.start('repl-flip');
  const good = await DataNode.start('repl-good');
  await writeChunk(flipped.store, 90, 5, data);
  await writeChunk(good.store, 90, 5, data);
  await flipped.halt(); // restart so the flip is read from disk
  await flipByte(chunkFilePath(flipped.dir, 90, 5), HEADER_BYTES + 20 * BLOCK_SIZE_BYTES + 7);
  const flippedAgain = await DataNode.startIn(flipped.dir);
  const liarInPiece = await startLiar(good.store, 2 * MIB);
  const liarInTail = await startLiar(good.store, 3 * MIB);
  // The destination already holds chunk 90 at an older version, with other bytes.
  const dataPath = await tempDir('repl-skip');
  const chunks = path.join(dataPath, 'chunks');
  const seeded = await scanStore(chunks);
  await writeChunk(seeded.store, 90, 1, patternBytes(5000, 1));
  await seeded.close();
  const fake = await startFakeMaster(3);
  const cs = chunkserverFor(dataPath, fake);
  await cs.start();
  const sources = [flippedAgain.port, liarInPiece.port, liarInTail.port, good.port].map(hop);
  const reply = await masterLinkOf(fake).request(MATOCS_REPLICATE,
    { chunkId: 90, version: 5, sources }, undefined, { timeoutMs: 60_000 });
  assert.is(reply.status, Status.OK);
  assert.is(reply.body!.lengthBytes, lengthBytes);
  const link = await dialData(cs.dataPort);
  assert.is(sha256(await readChunk(link, 90, 5, lengthBytes)), sha256(data));
  const old = await link.request(CLTOCS_READ, { chunkId: 90, version: 1, offset: 0, size: 10 });
  assert.is(old.status, Status.WRONG_VERSION, 'the older copy was replaced');
  assert.equal(await filesOf(chunks, 90), [path.basename(chunkFilePath(chunks, 90, 5))]);
  assert.ok(flippedAgain.store.isDamaged(90), 'the source found its own bad block');
  const c = await statsOf(link);
  assert.is(c.replications_done, 1);
  assert.is(c.replications_failed, 0);
  assert.ok(c.replication_bytes > lengthBytes, 'the failed attempts moved bytes too');
  link.close('done');
  await cs.stop();
  await fake.close();
  await liarInPiece.close();
  await liarInTail.close();
  await flippedAgain.stop();
  await good.stop();
  await removeDir(dataPath);
});

test('verified on the worker pool: 1 MiB pieces move there and back, a bad one is caught',
  async () => {
    const data = patternBytes(ODD_LENGTH_BYTES, 92);
    const good = await DataNode.start('repl-pool-src');
    await writeChunk(good.store, 92, 1, data);
    const liarInPiece = await startLiar(good.store, MIB);
    const liarInTail = await startLiar(good.store, 3 * MIB);
    const dest = await DataNode.start('repl-pool');
    let onPool = 0;
    const verifyOnPool = dest.pool.verifyPiece.bind(dest.pool);
    dest.pool.verifyPiece = (piece, sums) => {
      onPool++;
      return verifyOnPool(piece, sums);
    };
    const replicator = new Replicator({
      store: dest.store, checksumPool: dest.pool, log, replicationsMax: 1, queueMax: 0,
      bytesPerSecond: 0, readsInflightMax: 4, timeoutMs: 10_000, verification: 'pool',
    });
    const sources = [liarInPiece.port, liarInTail.port, good.port].map(hop);
    assert.is(await replicator.replicate({ chunkId: 92, version: 1, sources }), ODD_LENGTH_BYTES);
    assert.ok(onPool >= 3, `1 MiB pieces checked on the pool (${onPool})`);
    const pieces: Buffer[] = [];
    for (let offset = 0; offset < ODD_LENGTH_BYTES; offset += MIB) {
      pieces.push(await dest.store.read(92, 1, offset, Math.min(MIB, ODD_LENGTH_BYTES - offset)));
    }
    assert.is(sha256(Buffer.concat(pieces)), sha256(data));
    assert.is(replicator.counters.replications_done, 1);
    await replicator.stop();
    await liarInPiece.close();
    await liarInTail.close();
    await dest.stop();
    await good.stop();
  });

test('every source failing: the order fails, the copy held before stays, nothing is left',
  async () => {
    const source = await DataNode.start('repl-none');
    await writeChunk(source.store, 91, 7, patternBytes(200_000, 7));
    const dataPath = await tempDir('repl-fail');
    const chunks = path.join(dataPath, 'chunks');
    const seeded = await scanStore(chunks);
    const held = patternBytes(5000, 2);
    await writeChunk(seeded.store, 91, 2, held);
    await seeded.close();
    const fake = await startFakeMaster(4);
    const cs = chunkserverFor(dataPath, fake);
    await cs.start();
    // A port nobody listens on, then a source that holds another version.
    const sources = [hop(await deadPort()), hop(source.port)];
    const reply = await masterLinkOf(fake).request(MATOCS_REPLICATE,
      { chunkId: 91, version: 8, sources });
    assert.is(reply.status, Status.WRONG_VERSION, 'the last source\'s answer');
    const empty = await masterLinkOf(fake).request(MATOCS_REPLICATE,
      { chunkId: 91, version: 8, sources: [] });
    assert.is(empty.status, Status.EINVAL);
    const link = await dialData(cs.dataPort);
    assert.ok((await readChunk(link, 91, 2, 5000)).equals(held), 'the old copy is intact');
    assert.equal(await filesOf(chunks, 91), [path.basename(chunkFilePath(chunks, 91, 2))]);
    const c = await statsOf(link);
    assert.is(c.replications_failed, 1);
    assert.is(c.replications_done, 0);
    link.close('done');
    await cs.stop();
    await fake.close();
    await source.stop();
    await removeDir(dataPath);
  });

/** A source that holds every CSTOCS_GET_CHECKSUMS until open() (then answers like `honest`). */
async function startGatedSource(honest: DataNode): Promise<{
  port: number; asked: () => number; open(): void; close(): Promise<void>;
}> {
  let asked = 0;
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => { open = resolve; });
  const router = new Router()
    .on(CSTOCS_GET_CHECKSUMS, async (b) => {
      asked++;
      await gate;
      const { lengthBytes, table } = await honest.store.checksums(b.chunkId, b.version);
      return { body: { lengthBytes }, data: table };
    })
    .on(CLTOCS_READ, async (b) => ({
      data: await honest.store.read(b.chunkId, b.version, b.offset, b.size),
    }));
  const links: Link[] = [];
  const server = await listenLinks('127.0.0.1', 0, {
    kind: 'data', payloadMaxBytes: PAYLOAD_MAX_DATA_BYTES, log, router,
  }, (l) => links.push(l));
  return {
    port: (server.address() as net.AddressInfo).port,
    asked: () => asked,
    open: () => open(),
    close: async () => {
      for (const l of links) l.close('done');
      await new Promise((r) => server.close(r));
    },
  };
}

async function expectCode(work: () => Promise<unknown>, code: string): Promise<void> {
  try {
    await work();
  } catch (err) {
    assert.instance(err, FsError);
    assert.is((err as FsError).code, code);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

test('REPLICATIONS_MAX and the queue bound the work; EAGAIN past them; stop fails the rest',
  async () => {
    const honest = await DataNode.start('repl-honest');
    for (let id = 1; id <= 5; id++) await writeChunk(honest.store, id, 1, patternBytes(70_000, id));
    const gated = await startGatedSource(honest);
    const dest = await DataNode.start('repl-bound');
    const replicator = new Replicator({
      store: dest.store, checksumPool: dest.pool, log, replicationsMax: 1, queueMax: 1,
      bytesPerSecond: 0, readsInflightMax: 2, timeoutMs: 10_000, verification: 'inline',
    });
    const order = (chunkId: number, version = 1): Promise<number> =>
      replicator.replicate({ chunkId, version, sources: [hop(gated.port)] });
    const first = order(1);
    await waitFor('the first copy asks its source', () => gated.asked() === 1);
    const second = order(2);
    assert.equal(replicator.load, { running: 1, queued: 1 });
    await expectCode(() => order(3), 'EAGAIN');
    assert.is(replicator.counters.replications_refused, 1);
    assert.is(order(1), first, 'a repeated order joins the one in progress');
    await expectCode(() => order(1, 2), 'EAGAIN');
    gated.open();
    assert.equal(await Promise.all([first, second]), [70_000, 70_000]);
    assert.ok((await dest.store.read(2, 1, 0, 70_000)).equals(patternBytes(70_000, 2)));
    assert.equal(replicator.load, { running: 0, queued: 0 });

    // stop(): the running copy (held by a fresh gate) and the queued one both fail.
    const gated2 = await startGatedSource(honest);
    const running = replicator.replicate({ chunkId: 4, version: 1, sources: [hop(gated2.port)] });
    await waitFor('the copy asks its source', () => gated2.asked() === 1);
    const queued = replicator.replicate({ chunkId: 5, version: 1, sources: [hop(gated2.port)] });
    const outcomes = Promise.allSettled([running, queued]);
    await replicator.stop();
    for (const o of await outcomes) {
      assert.is(o.status, 'rejected');
      assert.is(((o as PromiseRejectedResult).reason as FsError).code, 'EAGAIN');
    }
    assert.is(dest.store.get(4), undefined);
    assert.equal(await filesOf(dest.dir, 4), [], 'no temporary file left');
    await expectCode(() => order(6), 'EAGAIN');
    gated2.open();
    await gated.close();
    await gated2.close();
    await dest.stop();
    await honest.stop();
  });

test('the real binary SIGKILLed mid-copy keeps no copy after restart', async () => {
  const source = await DataNode.start('kill-src');
  await writeChunk(source.store, 123, 1, patternBytes(CHUNK_SIZE_BYTES, 123));
  const dataPath = await tempDir('kill-dst');
  const chunks = path.join(dataPath, 'chunks');
  const fake = await startFakeMaster(9);
  // 4 MiB/s: the copy would take about 15 s, so it is killed well before its end.
  const flags = ['--replication-bytes-per-second', '4M', '--scrub-bytes-per-second', '0'];
  const child = startBin(dataPath, fake.port, flags);
  const out = collect(child);
  const exited = new Promise((r) => child.once('exit', r));
  await waitFor('ready line', () => / chunkserver ready /.test(out.text()), 20_000);
  const reply = masterLinkOf(fake).request(MATOCS_REPLICATE,
    { chunkId: 123, version: 1, sources: [hop(source.port)] }).catch((err: Error) => err);
  const temp = chunkFilePath(chunks, 123, 1) + REPLICA_TEMP_SUFFIX;
  let tempBytes = 0;
  const poll = async (): Promise<void> => {
    tempBytes = (await fs.stat(temp).catch(() => null))?.size ?? 0;
  };
  const deadline = Date.now() + 20_000;
  // Polls until the copy has written 2 MiB of data, or the deadline.
  while (tempBytes < HEADER_BYTES + 2 * MIB && Date.now() < deadline) {
    await poll();
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(tempBytes >= HEADER_BYTES + 2 * MIB, `copy under way (${tempBytes} bytes)`);
  child.kill('SIGKILL');
  await exited;
  assert.instance(await reply, FsError, 'the order was never answered OK');
  assert.equal(await filesOf(chunks, 123), [path.basename(temp)], 'only the temporary file');

  const registrationsBefore = fake.registrations.length;
  const again = startBin(dataPath, fake.port, flags);
  const out2 = collect(again);
  const exited2 = new Promise((r) => again.once('exit', r));
  await waitFor('ready again', () => / chunkserver ready /.test(out2.text()), 20_000);
  assert.is(fake.registrations.length, registrationsBefore + 1);
  const listed = fake.batches.at(-1)!;
  assert.is(listed.last, 1);
  assert.not.ok(listed.chunks.some((c) => c.chunkId === 123), 'no copy listed');
  assert.equal(await filesOf(chunks, 123), [], 'the temporary file was removed');
  assert.match(out2.text(), /removing half-created chunk/);
  const dataPort = Number(/ ready dataPort=(\d+)/.exec(out2.text())![1]);
  const link = await dialData(dataPort);
  const r = await link.request(CLTOCS_READ, { chunkId: 123, version: 1, offset: 0, size: 10 });
  assert.is(r.status, Status.NO_SUCH_CHUNK);
  link.close('done');
  again.kill('SIGTERM');
  await exited2;
  await fake.close();
  await source.stop();
  await removeDir(dataPath);
});

test.run();
