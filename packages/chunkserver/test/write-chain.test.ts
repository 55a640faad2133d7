// Goal: chain writes across real data servers on 127.0.0.1. A client streams a whole 64 MiB
// chunk (plus partial blocks) to the first server with the rest of the chain; every copy then
// reads back byte-identical (sha256). Many writes to one block in flight reach every copy in the
// same order; fsync runs on every copy; a dead next hop is reported as its status while the
// local copy is still written.
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BLOCK_SIZE_BYTES, BLOCKS_PER_CHUNK, CHUNK_SIZE_BYTES, CLTOCS_FSYNC, CLTOCS_READ,
  CLTOCS_WRITE, READ_SIZE_MAX_BYTES, Status, type Link,
} from '@antlerfs/protocol';
import { DataNode, dialData, patternBytes, sha256, writeBody } from './fixtures.ts';

/** Client-side pipelining bound for the test (blocks in flight on the link). */
const BLOCKS_INFLIGHT = 32;

function dial(node: DataNode): Promise<Link> {
  return dialData(node.port);
}

async function readAll(
  node: DataNode, chunkId: number, version: number, bytes: number,
): Promise<Buffer> {
  const link = await dial(node);
  const out = Buffer.alloc(bytes);
  const reads = [];
  for (let off = 0; off < bytes; off += READ_SIZE_MAX_BYTES) {
    const size = Math.min(READ_SIZE_MAX_BYTES, bytes - off);
    const read = link.call(CLTOCS_READ, { chunkId, version, offset: off, size });
    reads.push(read.then((r) => r.data.copy(out, off)));
  }
  await Promise.all(reads);
  link.close('done');
  return out;
}

/** Streams `data` from offset 0 of the chunk, block by block, `BLOCKS_INFLIGHT` at a time. */
async function streamChunk(
  link: Link, chunkId: number, chain: DataNode[], data: Buffer,
): Promise<void> {
  const hops = chain.map((n) => ({ host: '127.0.0.1', port: n.port }));
  const blockCount = Math.ceil(data.length / BLOCK_SIZE_BYTES);
  let next = 0;
  const sender = async (): Promise<void> => {
    while (next < blockCount) {
      const b = next++;
      const end = Math.min(data.length, (b + 1) * BLOCK_SIZE_BYTES);
      const block = data.subarray(b * BLOCK_SIZE_BYTES, end);
      const r = await link.request(CLTOCS_WRITE, writeBody(chunkId, 1, b, 0, block, hops), block);
      assert.is(r.status, Status.OK, `block ${b}`);
    }
  };
  await Promise.all(Array.from({ length: BLOCKS_INFLIGHT }, sender));
}

async function startNodes(count: number): Promise<DataNode[]> {
  const nodes: DataNode[] = [];
  for (let i = 0; i < count; i++) nodes.push(await DataNode.start(`chain${i}`));
  return nodes;
}

test('a 64 MiB chunk through a chain of 3 reads back identical from every copy', async () => {
  const nodes = await startNodes(3);
  for (const n of nodes) await n.store.create(500, 1);
  const data = patternBytes(CHUNK_SIZE_BYTES, 500);
  const link = await dial(nodes[0]!);
  await streamChunk(link, 500, nodes.slice(1), data);
  const hops = nodes.slice(1).map((n) => ({ host: '127.0.0.1', port: n.port }));
  const fsync = await link.request(CLTOCS_FSYNC, { chunkId: 500, version: 1, chain: hops });
  assert.is(fsync.status, Status.OK);
  const want = sha256(data);
  for (const [i, n] of nodes.entries()) {
    assert.is(n.store.get(500)?.lengthBytes, CHUNK_SIZE_BYTES, `copy ${i} length`);
    assert.is(sha256(await readAll(n, 500, 1, CHUNK_SIZE_BYTES)), want, `copy ${i}`);
  }
  for (const n of nodes) {
    const counters = Object.fromEntries(n.server.statsList().map((c) => [c.name, c.value]));
    assert.is(counters.write_requests, BLOCKS_PER_CHUNK);
    assert.is(counters.write_bytes, CHUNK_SIZE_BYTES);
    assert.is(counters.fsync_requests, 1);
  }
  link.close('done');
  for (const n of nodes) await n.stop();
});

test('chain of 2 with partial blocks and many writes to one block in flight', async () => {
  const nodes = await startNodes(2);
  for (const n of nodes) await n.store.create(77, 1);
  const link = await dial(nodes[0]!);
  const hops = [{ host: '127.0.0.1', port: nodes[1]!.port }];
  const data = patternBytes(3 * BLOCK_SIZE_BYTES + 1234, 77);
  await streamChunk(link, 77, nodes.slice(1), data);
  // 100 overlapping partial writes into block 1, all in flight at once: the last one wins
  // everywhere only if every copy applied them in the same order.
  const writes = [];
  for (let i = 0; i < 100; i++) {
    const piece = patternBytes(1000 + i * 300, 1000 + i);
    writes.push(link.request(CLTOCS_WRITE, writeBody(77, 1, 1, i * 100, piece, hops), piece));
  }
  assert.ok((await Promise.all(writes)).every((r) => r.status === Status.OK));
  const expect = Buffer.from(data);
  for (let i = 0; i < 100; i++) {
    patternBytes(1000 + i * 300, 1000 + i).copy(expect, BLOCK_SIZE_BYTES + i * 100);
  }
  const a = await readAll(nodes[0]!, 77, 1, data.length);
  const b = await readAll(nodes[1]!, 77, 1, data.length);
  assert.is(sha256(a), sha256(expect), 'first copy');
  assert.is(sha256(b), sha256(expect), 'second copy');
  link.close('done');
  for (const n of nodes) await n.stop();
});

test('a dead next hop: its status comes back, the local copy is written', async () => {
  const node = await DataNode.start('deadhop');
  await node.store.create(3, 1);
  // A port that is certainly closed: bind one, note it, close it.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const deadPort = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const link = await dial(node);
  const block = patternBytes(BLOCK_SIZE_BYTES, 3);
  const r = await link.request(CLTOCS_WRITE,
    writeBody(3, 1, 0, 0, block, [{ host: '127.0.0.1', port: deadPort }]), block);
  assert.is(r.status, Status.ENOTCONN);
  const readBack = { chunkId: 3, version: 1, offset: 0, size: BLOCK_SIZE_BYTES };
  const back = await link.call(CLTOCS_READ, readBack);
  assert.ok(back.data.equals(block));
  // A next hop that lacks the chunk answers NO_SUCH_CHUNK through the chain.
  const other = await DataNode.start('nochunk');
  const r2 = await link.request(CLTOCS_WRITE,
    writeBody(3, 1, 0, 0, block, [{ host: '127.0.0.1', port: other.port }]), block);
  assert.is(r2.status, Status.NO_SUCH_CHUNK);
  link.close('done');
  await node.stop();
  await other.stop();
});

test.run();
