// Goal: the data port over real loopback sockets. Pipelined writes and reads on one link, every
// refusal status (bad payload checksum, unknown chunk, wrong version, out-of-block write, too
// large read), a flipped byte answered with CHECKSUM_MISMATCH and counted, the per-connection
// bound applying backpressure without losing requests, and hostile input (random, truncated,
// oversized, foreign frames) closing only the offending connection.
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BLOCK_SIZE_BYTES, CLTOCS_FSYNC, CLTOCS_READ, CLTOCS_STATS, CLTOCS_WRITE, CSTOCS_GET_CHECKSUMS,
  CSTOMA_HEARTBEAT,
  FRAME_HEADER_BYTES, PAYLOAD_MAX_DATA_BYTES, READ_SIZE_MAX_BYTES, Status, encodeFrameHeader,
  type Link, type StatusCode,
} from '@antlerfs/protocol';
import { HEADER_BYTES, chunkFilePath } from '../src/chunk-file.ts';
import {
  DataNode, dialData, flipByte, patternBytes, sha256, waitFor, writeBody,
} from './fixtures.ts';

function dial(node: DataNode): Promise<Link> {
  return dialData(node.port);
}

/** The CLTOCS_READ fields. */
function readOf(
  chunkId: number, version: number, offset: number, size: number,
): { chunkId: number; version: number; offset: number; size: number } {
  return { chunkId, version, offset, size };
}

/** The status a write of `data` gets. */
async function writeStatus(
  link: Link, body: ReturnType<typeof writeBody>, data: Buffer,
): Promise<StatusCode> {
  return (await link.request(CLTOCS_WRITE, body, data)).status;
}

async function stats(link: Link): Promise<Record<string, number>> {
  const r = await link.call(CLTOCS_STATS, {});
  return Object.fromEntries(r.body.counters.map((c) => [c.name, c.value]));
}

test('pipelined writes and reads on one link, with counters', async () => {
  const node = await DataNode.start('ds');
  await node.store.create(100, 1);
  const link = await dial(node);
  const data = patternBytes(40 * BLOCK_SIZE_BYTES + 777, 5);
  const writes = [];
  for (let b = 0; b * BLOCK_SIZE_BYTES < data.length; b++) {
    const end = Math.min(data.length, (b + 1) * BLOCK_SIZE_BYTES);
    const block = data.subarray(b * BLOCK_SIZE_BYTES, end);
    writes.push(link.request(CLTOCS_WRITE, writeBody(100, 1, b, 0, block), block));
  }
  const statuses = (await Promise.all(writes)).map((r) => r.status);
  assert.ok(statuses.every((s) => s === Status.OK), `statuses ${statuses}`);
  const fsync = await link.request(CLTOCS_FSYNC, { chunkId: 100, version: 1, chain: [] });
  assert.is(fsync.status, Status.OK);
  const reads = [];
  for (let off = 0; off < data.length + READ_SIZE_MAX_BYTES; off += READ_SIZE_MAX_BYTES) {
    reads.push(link.call(CLTOCS_READ, readOf(100, 1, off, READ_SIZE_MAX_BYTES)));
  }
  const whole = Buffer.concat((await Promise.all(reads)).map((r) => r.data));
  const expect = Buffer.alloc(whole.length);
  data.copy(expect);
  assert.is(sha256(whole), sha256(expect), 'read back with zeros past the stored length');
  const odd = await link.call(CLTOCS_READ, readOf(100, 1, 12345, 100_000));
  assert.ok(odd.data.equals(data.subarray(12345, 112_345)), 'unaligned read');
  const c = await stats(link);
  assert.is(c.write_requests, 41);
  assert.is(c.write_bytes, data.length);
  assert.is(c.fsync_requests, 1);
  assert.is(c.read_requests, reads.length + 1);
  assert.is(c.read_bytes, reads.length * READ_SIZE_MAX_BYTES + 100_000);
  assert.is(c.checksum_errors, 0);
  assert.is(c.chunks, 1);
  link.close('done');
  await node.stop();
});

test('refusals: checksum, unknown chunk, version, bounds', async () => {
  const node = await DataNode.start('refuse');
  await node.store.create(7, 3);
  const link = await dial(node);
  const data = Buffer.from('hello');
  const bad = { ...writeBody(7, 3, 0, 0, data), checksum: 1n };
  assert.is((await link.request(CLTOCS_WRITE, bad, data)).status, Status.CHECKSUM_MISMATCH);
  assert.is(await writeStatus(link, writeBody(8, 3, 0, 0, data), data), Status.NO_SUCH_CHUNK);
  assert.is(await writeStatus(link, writeBody(7, 2, 0, 0, data), data), Status.WRONG_VERSION);
  const overBlock = writeBody(7, 3, 0, BLOCK_SIZE_BYTES - 2, data);
  assert.is(await writeStatus(link, overBlock, data), Status.EINVAL);
  assert.is(await writeStatus(link, writeBody(7, 3, 1024, 0, data), data), Status.EINVAL);
  const empty = Buffer.alloc(0);
  assert.is(await writeStatus(link, writeBody(7, 3, 0, 0, empty), empty), Status.EINVAL);
  const tooLarge = await link.request(CLTOCS_READ, readOf(7, 3, 0, READ_SIZE_MAX_BYTES + 1));
  assert.is(tooLarge.status, Status.EINVAL);
  const wrongVersion = await link.request(CLTOCS_READ, readOf(7, 4, 0, 10));
  assert.is(wrongVersion.status, Status.WRONG_VERSION);
  const c = await stats(link);
  assert.is(c.payload_checksum_errors, 1);
  assert.is(c.checksum_errors, 1);
  link.close('done');
  await node.stop();
});

test('a flipped byte: CHECKSUM_MISMATCH to the client, counted, copy not served', async () => {
  const node = await DataNode.start('flip');
  await node.store.create(9, 1);
  const damaged: number[] = [];
  node.store.onDamaged = (c) => damaged.push(c.chunkId);
  const link = await dial(node);
  const data = patternBytes(2 * BLOCK_SIZE_BYTES, 9);
  for (let b = 0; b < 2; b++) {
    const block = data.subarray(b * BLOCK_SIZE_BYTES, (b + 1) * BLOCK_SIZE_BYTES);
    await link.call(CLTOCS_WRITE, writeBody(9, 1, b, 0, block), block);
  }
  await flipByte(chunkFilePath(node.dir, 9, 1), HEADER_BYTES + BLOCK_SIZE_BYTES + 1);
  const ok = await link.call(CLTOCS_READ, readOf(9, 1, 0, BLOCK_SIZE_BYTES));
  assert.ok(ok.data.equals(data.subarray(0, BLOCK_SIZE_BYTES)), 'the intact block, before');
  const r = await link.request(CLTOCS_READ, readOf(9, 1, BLOCK_SIZE_BYTES, 10));
  assert.is(r.status, Status.CHECKSUM_MISMATCH);
  const after = await link.request(CLTOCS_READ, readOf(9, 1, 0, BLOCK_SIZE_BYTES));
  assert.is(after.status, Status.CHECKSUM_MISMATCH, 'a damaged copy is not served');
  const sums = await link.request(CSTOCS_GET_CHECKSUMS, { chunkId: 9, version: 1 });
  assert.is(sums.status, Status.CHECKSUM_MISMATCH, 'nor replicated from');
  assert.equal(damaged, [9]);
  const c = await stats(link);
  assert.is(c.checksum_errors, 1);
  assert.is(c.block_checksum_errors, 1);
  link.close('done');
  await node.stop();
});

test('at WRITES_INFLIGHT_MAX the connection waits, and every request is answered', async () => {
  const node = await DataNode.start('bound', { writesInflightMax: 2 });
  await node.store.create(1, 1);
  const link = await dial(node);
  const writes = [];
  for (let i = 0; i < 200; i++) {
    const piece = patternBytes(1000, i);
    writes.push(link.request(CLTOCS_WRITE, writeBody(1, 1, i % 1024, 0, piece), piece));
  }
  const statuses = (await Promise.all(writes)).map((r) => r.status);
  assert.ok(statuses.every((s) => s === Status.OK));
  const r = await link.call(CLTOCS_READ, readOf(1, 1, 199 * BLOCK_SIZE_BYTES, 1000));
  assert.ok(r.data.equals(patternBytes(1000, 199)));
  link.close('done');
  await node.stop();
});

test('a client that takes no replies cannot make the server buffer without bound', async () => {
  const node = await DataNode.start('slow');
  await node.store.create(2, 1);
  const s = net.connect(node.port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  try {
    s.pause();
    const requests = 200;
    for (let i = 0; i < requests; i++) {
      const body = Buffer.alloc(20);
      body.writeUInt32BE(2, 4);
      body.writeUInt32BE(1, 8);
      body.writeUInt32BE(READ_SIZE_MAX_BYTES, 16);
      s.write(encodeFrameHeader(CLTOCS_READ.type, body.length, i + 1));
      s.write(body);
    }
    const counter = (name: string): number =>
      node.server.statsList().find((c) => c.name === name)!.value;
    await waitFor('reads held back', () => counter('read_requests') === requests
      && counter('requests_waiting') > 0 && counter('reply_queue_bytes') > 0);
    // Replies queued: at most the threshold plus one reply per running read.
    const queued = counter('reply_queue_bytes');
    assert.ok(queued <= 8 * 1024 * 1024 + 16 * (READ_SIZE_MAX_BYTES + 64), `queued ${queued}`);
    assert.ok(counter('requests_inflight') - counter('requests_waiting') <= 16, 'reads running');
    let received = 0;
    const replyBytes = requests * (FRAME_HEADER_BYTES + 1 + READ_SIZE_MAX_BYTES);
    const done = new Promise<void>((resolve) => s.on('data', (d: Buffer) => {
      received += d.length;
      if (received >= replyBytes) resolve();
    }));
    s.resume();
    await done;
    assert.is(received, replyBytes, 'every read answered');
  } finally {
    s.destroy();
    await node.stop();
  }
});

/** Sends raw bytes on a fresh socket and waits until the server closes it. */
async function sendHostile(port: number, bytes: Buffer[], endAfter: boolean): Promise<void> {
  const s = net.connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  const closed = new Promise((r) => s.once('close', r));
  s.on('error', () => undefined);
  for (const b of bytes) s.write(b);
  if (endAfter) s.end();
  await closed;
}

test('hostile input closes only that connection; a proper read still works', async () => {
  const node = await DataNode.start('hostile');
  await node.store.create(4, 1);
  const good = await dial(node);
  const data = patternBytes(5000, 4);
  await good.call(CLTOCS_WRITE, writeBody(4, 1, 0, 0, data), data);
  let seed = 12345;
  const random = (n: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) { seed = (seed * 1103515245 + 12345) >>> 0; b[i] = seed >>> 24; }
    return b;
  };
  const readBody = Buffer.alloc(20);
  readBody.writeUInt32BE(4, 4);
  readBody.writeUInt32BE(1, 8);
  readBody.writeUInt32BE(100, 16);
  const cases: [string, Buffer[], boolean][] = [
    ['random bytes', [random(4096)], false],
    ['unknown type', [encodeFrameHeader(999_999, 0, 1)], false],
    ['master message on the data port',
      [encodeFrameHeader(CSTOMA_HEARTBEAT.type, 20, 1), random(20)], false],
    ['oversized length',
      [encodeFrameHeader(CLTOCS_WRITE.type, PAYLOAD_MAX_DATA_BYTES + 1, 1)], false],
    ['short struct', [encodeFrameHeader(CLTOCS_READ.type, 7, 1), random(7)], false],
    ['trailing bytes',
      [encodeFrameHeader(CLTOCS_READ.type, 21, 1), readBody, Buffer.from([0])], false],
    ['write with a huge chain count', [encodeFrameHeader(CLTOCS_WRITE.type, 40, 1),
      Buffer.concat([random(34), Buffer.from([0xff, 0xff, 0xff, 0xff]), random(2)])], false],
    ['truncated frame then close',
      [encodeFrameHeader(CLTOCS_READ.type, 20, 1), readBody.subarray(0, 9)], true],
    ['header only then close', [Buffer.alloc(FRAME_HEADER_BYTES - 3)], true],
  ];
  for (const [what, bytes, endAfter] of cases) {
    await sendHostile(node.port, bytes, endAfter);
    const r = await good.call(CLTOCS_READ, { chunkId: 4, version: 1, offset: 0, size: 5000 });
    assert.ok(r.data.equals(data), `read after ${what}`);
  }
  // Many random frames with valid headers of data messages and random bodies.
  for (let i = 0; i < 50; i++) {
    const types = [CLTOCS_READ.type, CLTOCS_WRITE.type, CLTOCS_FSYNC.type, CLTOCS_STATS.type];
    const body = random(i % 60);
    await sendHostile(node.port, [encodeFrameHeader(types[i % 4]!, body.length, i), body], true);
  }
  const c = await stats(good);
  assert.ok(c.malformed_closes >= 6, `malformed closes ${c.malformed_closes}`);
  const fresh = await dial(node);
  const r = await fresh.call(CLTOCS_READ, { chunkId: 4, version: 1, offset: 0, size: 5000 });
  assert.ok(r.data.equals(data), 'a new connection reads');
  const connections = (): number =>
    node.server.statsList().find((s) => s.name === 'connections')!.value;
  await waitFor('hostile sockets gone', () => connections() === 2);
  good.close('done');
  fresh.close('done');
  await node.stop();
});

test.run();
