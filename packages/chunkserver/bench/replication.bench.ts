// Replication speed between two chunkservers on loopback. A real antler-chunkserver process is
// the source (holding one chunk). Timed over several runs: a second real process ordered by the
// (fake) master to copy it (the whole path, as deployed), and this process as the destination
// (chunk store, checksum pool, replicator) with each verification path (pieces on the worker
// pool, or inline); beside the two ceilings measured in the same run: reading the chunk from the
// source with the same pieces in flight (network + source), and writing + fsyncing a file of
// that size here (disk). Usage:
//   node --import tsx packages/chunkserver/bench/replication.bench.ts [--runs N] [--mib M]
//     [--inflight K]
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import {
  BLOCK_SIZE_BYTES, CLTOCS_READ, CLTOCS_WRITE, MATOCS_CREATE, MATOCS_DELETE, MATOCS_REPLICATE,
  READ_SIZE_MAX_BYTES, checksum, type Link,
} from '@antlerfs/protocol';
import { ChecksumPool } from '../src/checksum-pool.ts';
import { ChunkStore } from '../src/chunk-store.ts';
import { Replicator, type PieceVerification } from '../src/replicator.ts';
import {
  collect, dialData, log, patternBytes, removeDir, startBin, startFakeMaster, tempDir, waitFor,
  type FakeMaster,
} from '../test/fixtures.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' }, mib: { type: 'string', default: '64' },
    inflight: { type: 'string', default: '4' },
  },
});
const RUNS = Number(values.runs);
const LENGTH_BYTES = Number(values.mib) * 1024 * 1024;
const READS_INFLIGHT = Number(values.inflight);
const CHUNK_ID = 4242;

function mbPerS(bytes: number, ms: number): number {
  return Math.round(bytes / 1000 / Math.max(ms, 0.001));
}

/** Writes the chunk to the source through its data port, many blocks in flight. */
async function fillSource(link: Link, data: Buffer): Promise<void> {
  const writes: Promise<unknown>[] = [];
  for (let b = 0; b * BLOCK_SIZE_BYTES < data.length; b++) {
    const block = data.subarray(b * BLOCK_SIZE_BYTES, (b + 1) * BLOCK_SIZE_BYTES);
    writes.push(link.call(CLTOCS_WRITE, {
      chunkId: CHUNK_ID, version: 1, blockIndex: b, offsetInBlock: 0, checksum: checksum(block),
      chain: [],
    }, block));
  }
  await Promise.all(writes);
}

/** Ceiling 1: the whole chunk read from the source, pieces in flight as a replication does. */
async function readCeilingMs(link: Link): Promise<number> {
  const started = performance.now();
  let next = 0;
  const reader = async (): Promise<void> => {
    while (next * READ_SIZE_MAX_BYTES < LENGTH_BYTES) {
      const offset = next++ * READ_SIZE_MAX_BYTES;
      const size = Math.min(READ_SIZE_MAX_BYTES, LENGTH_BYTES - offset);
      await link.call(CLTOCS_READ, { chunkId: CHUNK_ID, version: 1, offset, size });
    }
  };
  await Promise.all(Array.from({ length: READS_INFLIGHT }, reader));
  return performance.now() - started;
}

/** Ceiling 2: writing the same bytes to a file here in 1 MiB writes, then fsync. */
async function diskCeilingMs(dir: string, data: Buffer): Promise<number> {
  const file = path.join(dir, 'disk-ceiling');
  const started = performance.now();
  const handle = await fs.open(file, 'w');
  for (let offset = 0; offset < data.length; offset += READ_SIZE_MAX_BYTES) {
    await handle.write(data, offset, Math.min(READ_SIZE_MAX_BYTES, data.length - offset), offset);
  }
  await handle.sync();
  await handle.close();
  const ms = performance.now() - started;
  await fs.unlink(file);
  return ms;
}

async function replicateMs(
  store: ChunkStore, pool: ChecksumPool, port: number, verification: PieceVerification,
): Promise<number> {
  const replicator = new Replicator({
    store, checksumPool: pool, log: log.child('bench'), replicationsMax: 1, queueMax: 0,
    bytesPerSecond: 0, readsInflightMax: READS_INFLIGHT, timeoutMs: 60_000, verification,
  });
  const started = performance.now();
  const length = await replicator.replicate({
    chunkId: CHUNK_ID, version: 1, sources: [{ host: '127.0.0.1', port }],
  });
  const ms = performance.now() - started;
  if (length !== LENGTH_BYTES) throw new Error(`replicated ${length} bytes`);
  await replicator.stop();
  await store.delete(CHUNK_ID, 0);
  return ms;
}

/** A real chunkserver process registered with `fake`: its data port and its master link. */
async function startDaemon(
  fake: FakeMaster, dataPath: string,
): Promise<{ child: ChildProcess; port: number; master: Link }> {
  const linksBefore = new Set(fake.links);
  const child = startBin(dataPath, fake.port, [
    '--scrub-bytes-per-second', '0', '--replication-reads-inflight-max', String(READS_INFLIGHT),
  ]);
  const out = collect(child);
  await waitFor('chunkserver ready', () => / chunkserver ready /.test(out.text()), 30_000);
  const port = Number(/ ready dataPort=(\d+)/.exec(out.text())![1]);
  const master = fake.links.find((l) => !linksBefore.has(l) && !l.closed)!;
  return { child, port, master };
}

/** The whole path: the master orders the destination process to copy from the source. */
async function daemonReplicateMs(master: Link, sourcePort: number): Promise<number> {
  const started = performance.now();
  const reply = await master.call(MATOCS_REPLICATE, {
    chunkId: CHUNK_ID, version: 1, sources: [{ host: '127.0.0.1', port: sourcePort }],
  }, undefined, { timeoutMs: 60_000 });
  const ms = performance.now() - started;
  if (reply.body.lengthBytes !== LENGTH_BYTES) throw new Error('short replica');
  await master.call(MATOCS_DELETE, { chunkId: CHUNK_ID, version: 0 });
  return ms;
}

async function main(): Promise<void> {
  const sourceDir = await tempDir('bench-src');
  const targetDir = await tempDir('bench-dst-daemon');
  const destDir = await tempDir('bench-dst');
  const fake = await startFakeMaster(1);
  const daemons: ChildProcess[] = [];
  try {
    const source = await startDaemon(fake, sourceDir);
    daemons.push(source.child);
    const target = await startDaemon(fake, targetDir);
    daemons.push(target.child);
    await source.master.call(MATOCS_CREATE, { chunkId: CHUNK_ID, version: 1 });
    const link = await dialData(source.port);
    const data = patternBytes(LENGTH_BYTES, 7);
    await fillSource(link, data);
    const pool = new ChecksumPool(1);
    const store = new ChunkStore({
      folders: [{ path: destDir, reserveBytes: 0 }], openFilesMax: 16, log, checksumPool: pool,
    });
    await store.start();
    // Warm-up (not counted): starts the checksum workers, fills the source's page cache.
    await replicateMs(store, pool, source.port, 'pool');
    await daemonReplicateMs(target.master, source.port);
    const rows: Record<string, number[]> = {
      'read ceiling': [], 'disk ceiling': [], 'daemon to daemon': [],
    };
    for (const v of ['pool', 'inline'] as const) rows[`in-process (${v})`] = [];
    for (let run = 0; run < RUNS; run++) {
      rows['read ceiling']!.push(await readCeilingMs(link));
      rows['disk ceiling']!.push(await diskCeilingMs(destDir, data));
      rows['daemon to daemon']!.push(await daemonReplicateMs(target.master, source.port));
      // Alternate the order so neither path always runs on a warmer cache.
      const order: PieceVerification[] = run % 2 === 0 ? ['pool', 'inline'] : ['inline', 'pool'];
      for (const v of order) {
        rows[`in-process (${v})`]!.push(await replicateMs(store, pool, source.port, v));
      }
    }
    process.stdout.write(`\nreplication of a ${LENGTH_BYTES / 1024 / 1024} MiB chunk over `
      + `loopback, ${READS_INFLIGHT} reads of 1 MiB in flight, ${RUNS} runs (MB/s)\n`);
    for (const [name, times] of Object.entries(rows)) {
      const speeds = times.map((ms) => mbPerS(LENGTH_BYTES, ms)).sort((a, b) => a - b);
      const median = speeds[Math.floor(speeds.length / 2)]!;
      process.stdout.write(`  ${name.padEnd(20)} median ${String(median).padStart(5)}   `
        + `min ${speeds[0]}   max ${speeds.at(-1)}\n`);
    }
    link.close('done');
    await store.close();
    await pool.close();
  } finally {
    for (const child of daemons) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    await fake.close();
    for (const dir of [sourceDir, targetDir, destDir]) await removeDir(dir);
  }
}

await main();
