// Block write cost on one chunkserver, in CPU seconds per GiB (the judge on a shared machine),
// two ways: the chunk store alone (WriteChain.write in this process: checksum, locks, batched
// file writes), and the whole data path (a data server in a child process, fed CLTOCS_WRITE
// frames over loopback by this process, `--inflight` at a time). CPU is read per thread from
// /proc: "main" is the event loop, "other" the thread pool and the GC helpers. Usage:
//   node --import tsx packages/chunkserver/bench/block-write.bench.ts [--mib M] [--inflight K]
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  BLOCK_SIZE_BYTES, BLOCKS_PER_CHUNK, CLTOCS_WRITE, Logger, PAYLOAD_MAX_DATA_BYTES, Status,
  checksum, connectLink,
} from '@antlerfs/protocol';
import { ChecksumPool } from '../src/checksum-pool.ts';
import { ChunkStore } from '../src/chunk-store.ts';
import { DataServer } from '../src/data-server.ts';
import { DownstreamPool, WriteChain } from '../src/write-chain.ts';

const log = new Logger('bench');
/** Linux reports utime/stime in USER_HZ ticks, fixed at 100 by the kernel's user ABI. */
const USER_HZ = 100;
const GIB = 1024 ** 3;

/** CPU seconds of a process's event loop thread and of all its other threads. */
function threadCpu(pid: number): { main: number; other: number } {
  const out = { main: 0, other: 0 };
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const seconds = (Number(f[11]) + Number(f[12])) / USER_HZ;
    if (tid === String(pid)) out.main += seconds;
    else out.other += seconds;
  }
  return out;
}

function perGib(before: { main: number; other: number }, after: { main: number; other: number },
  bytes: number): string {
  const main = (after.main - before.main) / (bytes / GIB);
  const other = (after.other - before.other) / (bytes / GIB);
  return `main ${main.toFixed(2)} other ${other.toFixed(2)} s/GiB`;
}

async function openStore(dir: string, chunks: number): Promise<{
  store: ChunkStore; pool: ChecksumPool; close: () => Promise<void>;
}> {
  const pool = new ChecksumPool(1);
  const store = new ChunkStore({
    folders: [{ path: dir, reserveBytes: 0 }], openFilesMax: 64, log, checksumPool: pool,
  });
  await store.start();
  for (let c = 1; c <= chunks; c++) await store.create(c, 1);
  return { store, pool, close: async () => { await store.close(); await pool.close(); } };
}

/** Runs `count` calls of `one(i)`, `inflight` at a time. */
async function pipeline(
  count: number, inflight: number, one: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(inflight, count) }, worker));
}

async function storeOnly(blocks: number, inflight: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'antler-bench-store-'));
  const { store, close } = await openStore(dir, Math.ceil(blocks / BLOCKS_PER_CHUNK));
  const chain = new WriteChain(store,
    new DownstreamPool({ linksPerServer: 1, timeoutMs: 10_000, log }));
  const block = crypto.randomBytes(BLOCK_SIZE_BYTES);
  const sum = checksum(block);
  const before = threadCpu(process.pid);
  const t0 = performance.now();
  await pipeline(blocks, inflight, async (i) => {
    const status = await chain.write({
      chunkId: 1 + Math.floor(i / BLOCKS_PER_CHUNK), version: 1,
      blockIndex: i % BLOCKS_PER_CHUNK, offsetInBlock: 0, checksum: sum, chain: [],
    }, block);
    if (status !== Status.OK) throw new Error(`write status ${status}`);
  });
  const seconds = (performance.now() - t0) / 1000;
  const bytes = blocks * BLOCK_SIZE_BYTES;
  console.log(`store only      ${(bytes / seconds / 1e6).toFixed(0).padStart(5)} MB/s  `
    + perGib(before, threadCpu(process.pid), bytes));
  await close();
  fs.rmSync(dir, { recursive: true, force: true });
}

/** The child: a data server over a fresh store; prints its port, stops on SIGTERM. */
async function serve(chunks: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'antler-bench-ds-'));
  const { store, close } = await openStore(dir, chunks);
  const server = new DataServer({
    store, log, host: '127.0.0.1', port: 0, writesInflightMax: 64, readsInflightMax: 16,
    connectionsMax: 16, chainLinksPerServer: 2, chainTimeoutMs: 10_000,
  });
  process.stdout.write(`port=${await server.start()}\n`);
  process.once('SIGTERM', () => {
    void server.stop().then(close).then(() => {
      fs.rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
  });
}

async function overLoopback(blocks: number, inflight: number): Promise<void> {
  const chunks = Math.ceil(blocks / BLOCKS_PER_CHUNK);
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ['--import', 'tsx', self, '--serve', String(chunks)],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    child.stdout!.on('data', (d: Buffer) => {
      const m = /port=(\d+)/.exec(d.toString());
      if (m) resolve(Number(m[1]));
    });
  });
  const link = await connectLink('127.0.0.1', port, {
    kind: 'data', payloadMaxBytes: PAYLOAD_MAX_DATA_BYTES, log, inflightMax: 4096,
  });
  const block = crypto.randomBytes(BLOCK_SIZE_BYTES);
  const sum = checksum(block);
  const server0 = threadCpu(child.pid!);
  const client0 = threadCpu(process.pid);
  const t0 = performance.now();
  await pipeline(blocks, inflight, async (i) => {
    const r = await link.request(CLTOCS_WRITE, {
      chunkId: 1 + Math.floor(i / BLOCKS_PER_CHUNK), version: 1,
      blockIndex: i % BLOCKS_PER_CHUNK, offsetInBlock: 0, checksum: sum, chain: [],
    }, block);
    if (r.status !== Status.OK) throw new Error(`write status ${r.status}`);
  });
  const seconds = (performance.now() - t0) / 1000;
  const bytes = blocks * BLOCK_SIZE_BYTES;
  console.log(`data server     ${(bytes / seconds / 1e6).toFixed(0).padStart(5)} MB/s  `
    + `server ${perGib(server0, threadCpu(child.pid!), bytes)}; `
    + `client ${perGib(client0, threadCpu(process.pid), bytes)}`);
  link.close('done');
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '1024' },
    inflight: { type: 'string', default: '48' },
    serve: { type: 'string' },
  },
});
if (values.serve !== undefined) {
  await serve(Number(values.serve));
} else {
  const blocks = Math.floor(Number(values.mib) * 1024 * 1024 / BLOCK_SIZE_BYTES);
  const inflight = Number(values.inflight);
  console.log(`${values.mib} MiB in 64 KiB blocks, ${inflight} in flight`);
  await storeOnly(blocks, inflight);
  await overLoopback(blocks, inflight);
}
