// Chunkserver direct path: the ceiling of the data path without the client library. For a
// chain of N (a bench file of goal N), each chunk is obtained from the master on a session of
// our own (CLTOMA_WRITE_CHUNK gives the chain; the next chunk's is asked for while this one
// streams), and CLTOCS_WRITE frames of one 64 KiB block stream straight from a protocol Link to
// chain[0], WRITE_WINDOW_BLOCKS in flight across chunk boundaries, until --size; then
// CLTOCS_FSYNC of every chunk down its chain and CLTOMA_WRITE_END, inside the timed span (as the
// library's write ends with fsync). Then, page caches dropped, the chunks are read with raw
// CLTOCS_READ requests of 1 MiB, READ_WINDOW in flight, compared with the pattern; an untimed
// second read hashes them for the sha256 check.
import crypto from 'node:crypto';
import {
  assert, BLOCK_SIZE_BYTES, BLOCKS_PER_CHUNK, checksum, CHUNK_SIZE_BYTES, CLTOCS_FSYNC,
  CLTOCS_READ, CLTOCS_WRITE, CLTOMA_READ_CHUNKS, CLTOMA_REGISTER, CLTOMA_WRITE_CHUNK,
  CLTOMA_WRITE_END, connectLink,
  FsError, Logger, PAYLOAD_MAX_CLIENT_MASTER_BYTES, PAYLOAD_MAX_DATA_BYTES, PROTOCOL_VERSION,
  READ_SIZE_MAX_BYTES, Status, type Level, type Link, type LogFields, type Struct,
} from '@antlerfs/protocol';
import { DataPattern } from '../data-pattern.ts';
import type { Deadline } from '../deadline.ts';
import { CACHED_NOTE, dropPageCaches } from '../page-cache.ts';
import { throughput, type Check, type Figure } from '../report.ts';
import { cpuMeter, pathDeadline, type PathContext } from './path-context.ts';

/**
 * Block writes in flight: 128 x 64 KiB = 8 MiB, more than the client library keeps (4 chunk
 * writers x 48 blocks), so this stays the ceiling.
 */
const WRITE_WINDOW_BLOCKS = 128;
/** 1 MiB reads in flight: as many as the client library's reads. */
const READ_WINDOW = 8;
export const CS_DIRECT_CHAINS = [1, 2, 3] as const;
const MASTER_TIMEOUT_MS = 30_000;

/** Protocol links log to stdout; the bench's stdout is the table, so warnings go to stderr. */
class StderrLogger extends Logger {
  override child(component: string): Logger {
    return new StderrLogger(`${this.component}.${component}`);
  }

  override log(level: Level, message: string, fields?: LogFields): void {
    if (level === 'debug' || level === 'info') return;
    process.stderr.write(`${level} ${this.component} ${message} ${JSON.stringify(fields ?? {})}\n`);
  }
}

const log = new StderrLogger('bench.cs-direct');

interface ChunkRef {
  chunkIndex: number;
  chunkId: number;
  version: number;
  host: string;
  port: number;
}

/** Raw session state: the master link and one data link per chunkserver address. */
interface Direct {
  ctx: PathContext;
  master: Link;
  data: Map<string, Link>;
  inode: number;
  sizeBytes: number;
  /** Blocks of the file, one pattern io each. */
  pattern: DataPattern;
  deadline: Deadline;
}

function hostPort(addr: string): { host: string; port: number } {
  const first = addr.split(',')[0]!;
  const i = first.lastIndexOf(':');
  return { host: first.slice(0, i), port: Number(first.slice(i + 1)) };
}

async function dataLink(d: Direct, host: string, port: number): Promise<Link> {
  const key = `${host}:${port}`;
  const known = d.data.get(key);
  if (known !== undefined && !known.closed) return known;
  const link = await connectLink(host, port, {
    kind: 'data', payloadMaxBytes: PAYLOAD_MAX_DATA_BYTES, log,
    inflightMax: Math.max(WRITE_WINDOW_BLOCKS, READ_WINDOW),
  });
  d.data.set(key, link);
  return link;
}

/** Runs `task(i)` for i in [0, count) with `width` of them in flight. */
async function windowed(
  count: number, width: number, task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) await task(i);
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker));
}

type Lease = Struct<typeof CLTOMA_WRITE_CHUNK.reply.fields> & { link: Link };

/** The write lease and chain of each chunk, asked for once, the next one ahead of need. */
function leaseTaker(d: Direct, chainLength: number, chunks: number): (c: number) => Promise<Lease> {
  const leases = new Map<number, Promise<Lease>>();
  const take = async (chunkIndex: number): Promise<Lease> => {
    const { body } = await d.master.call(CLTOMA_WRITE_CHUNK, {
      inode: d.inode, chunkIndex, promisedChunkId: 0,
    });
    if (body.chain.length !== chainLength) {
      throw new Error(`chunk ${chunkIndex}: chain of ${body.chain.length}, goal ${chainLength}`);
    }
    return { ...body, link: await dataLink(d, body.chain[0]!.host, body.chain[0]!.port) };
  };
  const get = (c: number): Promise<Lease> => {
    let p = leases.get(c);
    if (p === undefined) {
      p = take(c);
      p.catch(() => undefined); // awaited by the block that needs it
      leases.set(c, p);
    }
    return p;
  };
  return (c) => {
    if (c + 1 < chunks) void get(c + 1);
    return get(c);
  };
}

function hopsOf(lease: Lease): { host: string; port: number }[] {
  return lease.chain.slice(1).map((l) => ({ host: l.host, port: l.port }));
}

/** Streams every block, then fsyncs and ends every chunk; returns the file length at the end. */
async function writeAll(d: Direct, chainLength: number): Promise<number> {
  const chunks = Math.ceil(d.sizeBytes / CHUNK_SIZE_BYTES);
  const blocks = Math.ceil(d.sizeBytes / BLOCK_SIZE_BYTES);
  const lease = leaseTaker(d, chainLength, chunks);
  const written: Lease[] = [];
  await windowed(blocks, WRITE_WINDOW_BLOCKS, async (b) => {
    d.deadline.check();
    const chunkIndex = Math.floor(b / BLOCKS_PER_CHUNK);
    const l = await lease(chunkIndex);
    written[chunkIndex] = l;
    const data = d.pattern.io(b, d.sizeBytes);
    const blockIndex = b % BLOCKS_PER_CHUNK;
    const r = await l.link.request(CLTOCS_WRITE, {
      chunkId: l.chunkId, version: l.version, blockIndex, offsetInBlock: 0,
      checksum: checksum(data), chain: hopsOf(l),
    }, data);
    if (r.status !== Status.OK) throw new FsError(r.status, `write of block ${b}`);
    d.ctx.progress.update((b + 1) * BLOCK_SIZE_BYTES, d.sizeBytes, 'MiB');
  });
  assert(written.length === chunks, 'every chunk written');
  await Promise.all(written.map((l) => l.link.call(CLTOCS_FSYNC, {
    chunkId: l.chunkId, version: l.version, chain: hopsOf(l),
  })));
  let length = 0;
  for (let c = 0; c < chunks; c++) {
    const { body } = await d.master.call(CLTOMA_WRITE_END, {
      inode: d.inode, chunkIndex: c, chunkId: written[c]!.chunkId,
      length: Math.min((c + 1) * CHUNK_SIZE_BYTES, d.sizeBytes), promised: 0,
    });
    length = body.attr.length;
  }
  return length;
}

/** Where each chunk of the file lives (its first location). */
async function locate(d: Direct): Promise<ChunkRef[]> {
  const count = Math.ceil(d.sizeBytes / CHUNK_SIZE_BYTES);
  const { body } = await d.master.call(CLTOMA_READ_CHUNKS, {
    inode: d.inode, firstIndex: 0, count,
  });
  assert(body.chunks.length === count, `${body.chunks.length} of ${count} chunks located`);
  return body.chunks.map((c) => {
    const loc = c.locations[0];
    if (loc === undefined) throw new Error(`chunk ${c.index} has no valid copy`);
    return { chunkIndex: c.index, chunkId: c.chunkId, version: c.version, ...loc };
  });
}

interface ReadResult {
  seconds: number;
  bytesRead: number;
  mismatched: number;
  sha256: string;
}

/**
 * Reads the whole file in 1 MiB requests, READ_WINDOW in flight, handled in file order (a FIFO
 * of promises): 'compare' checks each against the pattern, 'hash' feeds the sha256.
 */
async function readAll(
  d: Direct, chunks: ChunkRef[], mode: 'compare' | 'hash',
): Promise<ReadResult> {
  const hash = mode === 'hash' ? crypto.createHash('sha256') : null;
  const requests: { offset: number; size: number; chunk: ChunkRef }[] = [];
  for (const c of chunks) {
    const start = c.chunkIndex * CHUNK_SIZE_BYTES;
    const end = Math.min(start + CHUNK_SIZE_BYTES, d.sizeBytes);
    for (let o = start; o < end; o += READ_SIZE_MAX_BYTES) {
      requests.push({ offset: o, size: Math.min(READ_SIZE_MAX_BYTES, end - o), chunk: c });
    }
  }
  const links = await Promise.all(chunks.map((c) => dataLink(d, c.host, c.port)));
  const send = (i: number): Promise<Buffer> => {
    const q = requests[i]!;
    const link = links[chunks.indexOf(q.chunk)]!;
    return link.call(CLTOCS_READ, {
      chunkId: q.chunk.chunkId, version: q.chunk.version,
      offset: q.offset - q.chunk.chunkIndex * CHUNK_SIZE_BYTES, size: q.size,
    }).then((r) => r.data);
  };
  const queue: Promise<Buffer>[] = [];
  let mismatched = 0;
  let bytesRead = 0;
  const t0 = performance.now();
  for (let i = 0; i < requests.length; i++) {
    d.deadline.check();
    while (queue.length < READ_WINDOW && i + queue.length < requests.length) {
      queue.push(send(i + queue.length));
    }
    const data = await queue.shift()!;
    const q = requests[i]!;
    if (data.length !== q.size) mismatched++;
    else if (hash !== null) hash.update(data);
    else if (!d.pattern.matches(q.offset, data, d.sizeBytes)) mismatched++;
    bytesRead += data.length;
    d.ctx.progress.update(bytesRead, d.sizeBytes, 'MiB');
  }
  return { seconds: (performance.now() - t0) / 1000, bytesRead, mismatched,
    sha256: hash?.digest('hex') ?? '' };
}

function figurePair(
  d: Direct, chain: number, w: { seconds: number; cpu: Record<string, number>; checks: Check[] },
  r: { timed: ReadResult; cpu: Record<string, number>; checks: Check[]; dropped: boolean },
): Figure[] {
  const wt = throughput(d.sizeBytes, w.seconds);
  const rt = throughput(r.timed.bytesRead, r.timed.seconds);
  const how = `chunkserver direct, chain of ${chain}`;
  return [
    { id: `cs-direct.write.chain${chain}`, kind: 'path',
      label: `${how}: 64 KiB CLTOCS_WRITE, ${WRITE_WINDOW_BLOCKS} in flight, fsync at end`,
      value: wt.mbPerS, unit: 'MB/s', mibPerS: wt.mibPerS, seconds: w.seconds,
      bytes: d.sizeBytes, limitId: 'raw-disk.write', cpuSeconds: w.cpu, checks: w.checks },
    { id: `cs-direct.read.chain${chain}`, kind: 'path',
      label: `${how}: 1 MiB CLTOCS_READ, ${READ_WINDOW} in flight`,
      value: rt.mbPerS, unit: 'MB/s', mibPerS: rt.mibPerS, seconds: r.timed.seconds,
      bytes: r.timed.bytesRead, limitId: 'raw-disk.read', cpuSeconds: r.cpu, checks: r.checks,
      ...(r.dropped ? {} : { note: CACHED_NOTE }) },
  ];
}

async function measureChain(d: Direct, chain: number): Promise<Figure[]> {
  const chunks = Math.ceil(d.sizeBytes / CHUNK_SIZE_BYTES);
  d.ctx.progress.begin(`chunkserver direct write, chain of ${chain}, ${chunks} chunks`);
  let cpu = cpuMeter(d.ctx);
  const t0 = performance.now();
  const length = await writeAll(d, chain);
  const w = { seconds: (performance.now() - t0) / 1000, cpu: cpu(), checks: [{
    name: 'length', passed: length === d.sizeBytes, detail: `${length} of ${d.sizeBytes} bytes`,
  }] };
  d.ctx.progress.end(`${throughput(d.sizeBytes, w.seconds).mbPerS.toFixed(1)} MB/s`);
  const located = await locate(d);
  const dropped = await dropPageCaches();
  d.ctx.progress.begin(`chunkserver direct read, chain of ${chain}`);
  cpu = cpuMeter(d.ctx);
  const timed = await readAll(d, located, 'compare');
  const readCpu = cpu();
  d.ctx.progress.end(`${throughput(timed.bytesRead, timed.seconds).mbPerS.toFixed(1)} MB/s`);
  const hashed = await readAll(d, located, 'hash');
  const expected = d.pattern.sha256(d.sizeBytes);
  const checks: Check[] = [
    { name: 'bytes', passed: timed.bytesRead === d.sizeBytes && timed.mismatched === 0,
      detail: `${timed.bytesRead} of ${d.sizeBytes} bytes, ${timed.mismatched} reads differ` },
    { name: 'sha256', passed: hashed.sha256 === expected && hashed.mismatched === 0,
      detail: `read ${hashed.sha256}, written ${expected}` },
  ];
  return figurePair(d, chain, w, { timed, cpu: readCpu, checks, dropped });
}

/** Both figures of a chain of `chain` servers. */
export async function runCsDirect(ctx: PathContext, chain: number): Promise<Figure[]> {
  assert(Number.isInteger(chain) && chain >= 1, 'a chain has servers');
  const client = await ctx.connect();
  const { host, port } = hostPort(ctx.masterAddr);
  const master = await connectLink(host, port, {
    kind: 'client-master', payloadMaxBytes: PAYLOAD_MAX_CLIENT_MASTER_BYTES, log,
    requestTimeoutMs: MASTER_TIMEOUT_MS,
  });
  const d: Direct = {
    ctx, master, data: new Map(), inode: 0, sizeBytes: ctx.params.sizeBytes,
    pattern: new DataPattern(BLOCK_SIZE_BYTES, 'antler-bench cs-direct'),
    deadline: pathDeadline(ctx, `chunkserver direct, chain of ${chain}`),
  };
  try {
    await master.call(CLTOMA_REGISTER, {
      clientName: 'antler-bench cs-direct', protocolVersion: PROTOCOL_VERSION,
    });
    const fh = await client.open(`${ctx.root}/cs-direct-chain${chain}.bin`, 'w', { goal: chain });
    d.inode = fh.inode;
    await fh.close();
    return await measureChain(d, chain);
  } finally {
    master.close('bench done');
    for (const link of d.data.values()) link.close('bench done');
    await client.close();
  }
}
