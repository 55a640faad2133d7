// Goal: the frame reader hands out payloads without copying them, whether bytes come as Node's
// chunks (push) or land in the reader's own read buffers (readBuffer/pushRead), and a link
// hands a request's tail and a reply's data out as the pieces they arrived in.
// Method: a stream of data frames fed in reads of seeded random sizes, payloads compared byte
// for byte; a loopback link carrying 1 MiB replies and block tails.
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CLTOCS_READ, CLTOCS_WRITE, FRAME_HEADER_BYTES, Frame, FrameReader, Logger,
  PAYLOAD_MAX_DATA_BYTES, READ_SIZE_MAX_BYTES, Router, Status, checksum, connectLink,
  encodeInto, encodedSize, freeSlabCount, isInvalid, listenLinks, slabCounters,
} from '../src/index.ts';

const log = new Logger('test');

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** A CLTOCS_WRITE frame (header, struct, `tailBytes` bytes of `fill`). */
function writeFrame(requestId: number, tailBytes: number, fill: number): Buffer {
  const body = {
    chunkId: requestId, version: 1, blockIndex: 0, offsetInBlock: 0, checksum: 0n, chain: [],
  };
  const structBytes = encodedSize(CLTOCS_WRITE.fields, body);
  const frame = Buffer.alloc(FRAME_HEADER_BYTES + structBytes + tailBytes, fill);
  frame.writeUInt32BE(CLTOCS_WRITE.type, 0);
  frame.writeUInt32BE(structBytes + tailBytes, 4);
  frame.writeUInt32BE(requestId, 8);
  encodeInto(CLTOCS_WRITE.fields, body, frame, FRAME_HEADER_BYTES);
  return frame;
}

/**
 * Feeds `stream` through readBuffer/pushRead in reads of random sizes; returns the frames, each
 * also given to `onFrame` as soon as it is complete.
 */
function readInPieces(stream: Buffer, rnd: () => number, onFrame?: (f: Frame) => void): Frame[] {
  const reader = new FrameReader('data', PAYLOAD_MAX_DATA_BYTES);
  const frames: Frame[] = [];
  let at = 0;
  // Each pass consumes at least one byte, so it ends within stream.length passes.
  while (at < stream.length) {
    const room = reader.readBuffer();
    assert.ok(room.length > 0, 'a read buffer has room');
    const want = Math.max(1, Math.floor(rnd() * 200_000));
    const n = Math.min(room.length, want, stream.length - at);
    stream.copy(room, 0, at, at + n);
    at += n;
    const got = reader.pushRead(n);
    assert.not.ok(isInvalid(got));
    for (const f of got as Frame[]) onFrame?.(f);
    frames.push(...(got as Frame[]));
  }
  return frames;
}

test('frames read into the reader\'s own buffers arrive whole and uncopied', () => {
  const sizes = [65536, 10, 0, READ_SIZE_MAX_BYTES, 65536, 4096, READ_SIZE_MAX_BYTES, 1];
  const frames = sizes.map((size, i) => writeFrame(i + 1, size, i + 1));
  const stream = Buffer.concat(frames);
  for (let seed = 1; seed <= 20; seed++) {
    const got = readInPieces(stream, prng(seed));
    assert.is(got.length, frames.length, `seed ${seed}`);
    got.forEach((f, i) => {
      assert.is(f.requestId, i + 1);
      assert.ok(f.payload.equals(frames[i]!.subarray(FRAME_HEADER_BYTES)), `frame ${i}`);
      assert.is(f.payloadBytes, f.payload.length);
      // A 1 MiB payload lands in at most two pieces: what came with its header, then the rest.
      if (sizes[i] === READ_SIZE_MAX_BYTES) assert.ok(f.parts.length <= 2, `${f.parts.length}`);
    });
  }
});

test('released frames give their slabs back; frames kept keep their bytes', () => {
  for (let seed = 1; seed <= 10; seed++) {
    const rnd = prng(seed);
    // Every tenth payload is large enough to be read into a buffer of its own.
    const sizes = Array.from({ length: 400 }, (_, i) =>
      Math.floor(rnd() * (i % 10 === 0 ? READ_SIZE_MAX_BYTES : 70_000)));
    const sent = sizes.map((size, i) => writeFrame(i + 1, size, (i % 251) + 1));
    let released = 0;
    let reused = 0;
    const kept: Frame[] = [];
    const got = readInPieces(Buffer.concat(sent), rnd, (f) => {
      if (rnd() < 0.8) {
        const before = freeSlabCount();
        f.release();
        f.release(); // a second release changes nothing
        released++;
        if (freeSlabCount() > before) reused++;
      } else {
        kept.push(f);
      }
    });
    assert.is(got.length, sent.length);
    assert.ok(released > 0 && kept.length > 0, `seed ${seed}: both kinds`);
    assert.ok(reused > 0, `seed ${seed}: slabs went back (${released} frames released)`);
    // Later reads went into slabs given back: a frame kept must not see them.
    for (const f of kept) {
      const i = f.requestId - 1;
      assert.ok(f.payload.equals(sent[i]!.subarray(FRAME_HEADER_BYTES)), `seed ${seed} frame ${i}`);
    }
  }
});

test('a route that recycles gives back the slabs of OK answers only', async () => {
  const failedViews: Buffer[][] = [];
  const router = new Router().on(CLTOCS_WRITE, (body, ctx) => {
    if (body.chunkId % 32 !== 0) return {};
    // Kept after the answer: legal, since the answer is not OK.
    failedViews.push([...ctx.dataParts]);
    return { status: Status.EIO };
  }, { recycles: true });
  const opts = { kind: 'data' as const, payloadMaxBytes: PAYLOAD_MAX_DATA_BYTES, log, router };
  const server = await listenLinks('127.0.0.1', 0, opts, () => undefined);
  const port = (server.address() as net.AddressInfo).port;
  const link = await connectLink('127.0.0.1', port, opts);
  const reusedBefore = slabCounters.reused;
  try {
    const blocks = Array.from({ length: 256 }, (_, i) => Buffer.alloc(65536, i + 1));
    const replies = await Promise.all(blocks.map((block, i) => link.request(CLTOCS_WRITE, {
      chunkId: i + 1, version: 1, blockIndex: 0, offsetInBlock: 0, checksum: 0n, chain: [],
    }, block)));
    assert.equal(replies.filter((r) => r.status === Status.EIO).length, 8);
    assert.ok(slabCounters.reused > reusedBefore, 'slabs of OK answers were read into again');
    assert.is(failedViews.length, 8);
    failedViews.forEach((views, k) => {
      const fill = 32 * (k + 1);
      assert.ok(Buffer.concat(views).equals(Buffer.alloc(65536, fill)), `kept tail ${k}`);
    });
  } finally {
    link.close('done');
    await new Promise((resolve) => server.close(resolve));
  }
});

test('a reply\'s written hook runs once its bytes are with the kernel', async () => {
  const data = Buffer.alloc(READ_SIZE_MAX_BYTES, 9);
  let written = 0;
  const router = new Router().on(CLTOCS_READ, () => ({ data, written: () => { written++; } }));
  const opts = { kind: 'data' as const, payloadMaxBytes: PAYLOAD_MAX_DATA_BYTES, log, router };
  const server = await listenLinks('127.0.0.1', 0, opts, () => undefined);
  const port = (server.address() as net.AddressInfo).port;
  const link = await connectLink('127.0.0.1', port, opts);
  try {
    const replies = await Promise.all([1, 2, 3].map(() => link.request(CLTOCS_READ, {
      chunkId: 1, version: 1, offset: 0, size: READ_SIZE_MAX_BYTES,
    })));
    for (const r of replies) assert.ok(r.data!.equals(data));
    // Every byte arrived, so every write finished; its callback may still be on its way.
    for (let i = 0; i < 100 && written < 3; i++) await new Promise((r) => setTimeout(r, 10));
    assert.is(written, 3, 'once per reply');
  } finally {
    link.close('done');
    await new Promise((resolve) => server.close(resolve));
  }
});

test('pushed chunks that continue each other in memory join into one view', () => {
  const frame = writeFrame(7, 65536, 3);
  const reader = new FrameReader('data', PAYLOAD_MAX_DATA_BYTES);
  const cut = FRAME_HEADER_BYTES + 1000;
  const first = reader.push(frame.subarray(0, cut));
  const second = reader.push(frame.subarray(cut));
  assert.equal(first, []);
  const frames = second as Frame[];
  assert.is(frames.length, 1);
  assert.is(frames[0]!.parts.length, 1, 'one view of the sender\'s buffer');
  assert.is(frames[0]!.payload.buffer, frame.buffer, 'never copied');
  // Separate buffers stay separate pieces; the joined payload is made only when asked for.
  const apart = new FrameReader('data', PAYLOAD_MAX_DATA_BYTES);
  apart.push(Buffer.from(frame.subarray(0, cut)));
  const split = apart.push(Buffer.from(frame.subarray(cut))) as Frame[];
  assert.is(split[0]!.parts.length, 2);
  assert.ok(split[0]!.payload.equals(frame.subarray(FRAME_HEADER_BYTES)));
});

test('a link hands out tails and reply data as pieces equal to what was sent', async () => {
  const big = Buffer.alloc(READ_SIZE_MAX_BYTES);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32BE(i, i);
  let tailsOk = 0;
  const router = new Router()
    .on(CLTOCS_WRITE, (body, ctx) => {
      const joined = Buffer.concat(ctx.dataParts as Buffer[]);
      if (joined.equals(ctx.data) && checksum(joined) === body.checksum) tailsOk++;
      return {};
    })
    .on(CLTOCS_READ, (body) => ({ data: big.subarray(body.offset, body.offset + body.size) }));
  const opts = { kind: 'data' as const, payloadMaxBytes: PAYLOAD_MAX_DATA_BYTES, log, router };
  const server = await listenLinks('127.0.0.1', 0, opts, () => undefined);
  const port = (server.address() as net.AddressInfo).port;
  const link = await connectLink('127.0.0.1', port, opts);
  const block = big.subarray(0, 65536);
  const writes = Array.from({ length: 40 }, (_, i) => link.request(CLTOCS_WRITE, {
    chunkId: i + 1, version: 1, blockIndex: 0, offsetInBlock: 0, checksum: checksum(block),
    chain: [],
  }, block));
  const reads = [0, 1000, 4096].map((offset) => link.request(CLTOCS_READ, {
    chunkId: 1, version: 1, offset, size: READ_SIZE_MAX_BYTES - offset,
  }));
  await Promise.all(writes);
  assert.is(tailsOk, 40);
  for (const [i, r] of (await Promise.all(reads)).entries()) {
    const offset = [0, 1000, 4096][i]!;
    const parts = r.dataParts ?? [];
    assert.ok(Buffer.concat(parts as Buffer[]).equals(big.subarray(offset)), `read ${i} pieces`);
    assert.ok(r.data!.equals(big.subarray(offset)), `read ${i} joined`);
  }
  link.close('done');
  await new Promise((resolve) => server.close(resolve));
});

test.run();
