// Goal: a request/reply round trip over a real loopback socket, including a block tail, and a
// malformed frame closing only that connection while the listener keeps serving.
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CLTOCS_WRITE, CLTOMA_LOOKUP, FRAME_HEADER_BYTES, FsError, Logger, Router, Status, checksum,
  connectLink, listenLinks, PAYLOAD_MAX_DATA_BYTES,
} from '../src/index.ts';

const log = new Logger('test');

test('request, reply and tail over loopback; malformed peer is dropped', async () => {
  const router = new Router()
    .on(CLTOCS_WRITE, (body, ctx) => {
      if (checksum(ctx.data) !== body.checksum) return { status: 'CHECKSUM_MISMATCH' };
      return {};
    })
    .on(CLTOMA_LOOKUP, () => { throw new FsError('ENOENT'); });
  const server = await listenLinks('127.0.0.1', 0, { kind: 'data', payloadMaxBytes: PAYLOAD_MAX_DATA_BYTES, log, router }, () => {});
  const port = (server.address() as net.AddressInfo).port;
  const link = await connectLink('127.0.0.1', port, { kind: 'data', payloadMaxBytes: PAYLOAD_MAX_DATA_BYTES, log });
  const data = Buffer.alloc(65536, 7);
  const replies = await Promise.all([1, 2, 3].map((i) => link.request(CLTOCS_WRITE, {
    chunkId: 2 ** 40 + i, version: 1, blockIndex: i, offsetInBlock: 0,
    checksum: i === 2 ? 1n : checksum(data), chain: [{ host: '127.0.0.1', port: 9 }],
  }, data)));
  assert.equal(replies.map((r) => r.status), [Status.OK, Status.CHECKSUM_MISMATCH, Status.OK]);

  // Garbage on another connection: it is closed, the first link still works.
  const bad = net.connect(port, '127.0.0.1');
  await new Promise((r) => bad.once('connect', r));
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUInt32BE(999_999, 0);
  bad.write(header);
  await new Promise((r) => bad.once('close', r));
  const again = await link.request(CLTOCS_WRITE, {
    chunkId: 5, version: 1, blockIndex: 0, offsetInBlock: 0, checksum: checksum(data), chain: [],
  }, data);
  assert.is(again.status, Status.OK);
  link.close('done');
  server.close();
});

test.run();
