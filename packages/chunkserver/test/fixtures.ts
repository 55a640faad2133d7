// Shared test fixtures: temporary folders, a chunkserver config for loopback, an in-process
// data node (store + data server, no master), a tiny fake master built on the protocol's
// listenLinks (tests only), and a bounded wait.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BLOCK_SIZE_BYTES, CLTOCS_READ, CLTOCS_STATS, CSTOMA_CHUNK_DAMAGED, CSTOMA_CHUNK_LOST,
  CSTOMA_CHUNKS, CSTOMA_HEARTBEAT, CSTOMA_REGISTER, Logger, PAYLOAD_MAX_DATA_BYTES,
  PAYLOAD_MAX_MASTER_CHUNKSERVER_BYTES, READ_SIZE_MAX_BYTES, Router, Status, checksum, connectLink,
  listenLinks, type Link,
} from '@antlerfs/protocol';
import { ChecksumPool } from '../src/checksum-pool.ts';
import { ChunkStore } from '../src/chunk-store.ts';
import { defaultChunkserverConfig, type ChunkserverConfig } from '../src/config.ts';
import { DataServer } from '../src/data-server.ts';

export const log = new Logger('test');

/**
 * A test file that has not finished after this long is stuck, not slow: say what it was waiting
 * on and fail instead of holding the test run forever. (unref: it never keeps a process alive.)
 */
const STUCK_AFTER_MS = 180_000;
setTimeout(() => {
  type Probe = { _getActiveHandles(): object[]; _getActiveRequests(): object[] };
  const p = process as unknown as Probe;
  const names = (xs: object[]): string => xs.map((x) => x.constructor.name).join(',');
  log.error('test file stuck: exiting', {
    handles: names(p._getActiveHandles()), requests: names(p._getActiveRequests()),
  });
  process.exit(1);
}, STUCK_AFTER_MS).unref();

export async function tempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `antler-cs-${prefix}-`));
}

export async function removeDir(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
}

export function sha256(data: Uint8Array): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

/** Deterministic pseudo-random bytes (xorshift), so a failure is reproducible. */
export function patternBytes(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

export function testConfig(over: Partial<ChunkserverConfig>): ChunkserverConfig {
  return {
    ...defaultChunkserverConfig(),
    hddReserveBytes: 0,
    listenHost: '127.0.0.1',
    listenPort: 0,
    advertiseHost: '127.0.0.1',
    heartbeatIntervalMs: 50,
    masterReconnectDelayMaxMs: 200,
    masterTimeoutMs: 2000,
    // Off unless a test is about it: a background scrub would take chunk locks at random times.
    scrubBytesPerSecond: 0,
    ...over,
  };
}

/** A store and data server in this process on 127.0.0.1:0, with no master. */
export class DataNode {
  readonly dir: string;
  readonly pool: ChecksumPool;
  readonly store: ChunkStore;
  readonly server: DataServer;
  port = 0;

  constructor(dir: string, over: { writesInflightMax?: number; openFilesMax?: number } = {}) {
    this.dir = dir;
    this.pool = new ChecksumPool(1);
    this.store = new ChunkStore({
      folders: [{ path: dir, reserveBytes: 0 }], openFilesMax: over.openFilesMax ?? 64,
      log: log.child('store'), checksumPool: this.pool,
    });
    this.server = new DataServer({
      store: this.store, log: log.child('data'), host: '127.0.0.1', port: 0,
      writesInflightMax: over.writesInflightMax ?? 64, readsInflightMax: 16, connectionsMax: 100,
      chainLinksPerServer: 2, chainTimeoutMs: 10_000,
    });
  }

  static async start(prefix: string, over?: { writesInflightMax?: number }): Promise<DataNode> {
    return DataNode.startIn(await tempDir(prefix), over);
  }

  /** A node over an existing folder (a restart: its chunks are scanned). */
  static async startIn(dir: string, over?: { writesInflightMax?: number }): Promise<DataNode> {
    const node = new DataNode(dir, over);
    await node.store.start();
    node.port = await node.server.start();
    return node;
  }

  /** Stops serving and closes everything, keeping the folder. */
  async halt(): Promise<void> {
    await this.server.stop();
    await this.store.close();
    await this.pool.close();
  }

  async stop(): Promise<void> {
    await this.halt();
    await removeDir(this.dir);
  }
}

export interface FakeMaster {
  port: number;
  server: net.Server;
  links: Link[];
  registrations: { csId: number; host: string; port: number; freeBytes: number }[];
  /** Chunk batches in arrival order, with their `last` flag. */
  batches: { chunks: { chunkId: number; version: number; lengthBytes: number }[]; last: number }[];
  heartbeats: number;
  damaged: { chunkId: number; version: number }[];
  lost: { chunkId: number; version: number }[];
  /** False: registrations are answered NOT_ACTIVE_MASTER (a shadow master). */
  active: boolean;
  /** Registrations refused because not active. */
  refused: number;
  close(): Promise<void>;
}

/** A master that assigns `assignCsId` to a new chunkserver and records what it is told. */
export async function startFakeMaster(assignCsId: number, port = 0): Promise<FakeMaster> {
  const fake: FakeMaster = {
    port: 0, server: null as unknown as net.Server, links: [], registrations: [], batches: [],
    heartbeats: 0, damaged: [], lost: [], active: true, refused: 0,
    close: async () => {
      for (const l of fake.links) l.close('fake master closing');
      await new Promise((resolve) => fake.server.close(resolve));
    },
  };
  const router = new Router()
    .on(CSTOMA_REGISTER, (b) => {
      if (!fake.active) {
        fake.refused++;
        return { status: Status.NOT_ACTIVE_MASTER };
      }
      fake.registrations.push({ csId: b.csId, host: b.host, port: b.port, freeBytes: b.freeBytes });
      return { body: { csId: b.csId === 0 ? assignCsId : b.csId } };
    })
    .on(CSTOMA_CHUNKS, (b) => {
      fake.batches.push({ chunks: b.chunks, last: b.last });
    })
    .on(CSTOMA_HEARTBEAT, () => {
      fake.heartbeats++;
    })
    .on(CSTOMA_CHUNK_DAMAGED, (b) => {
      fake.damaged.push({ chunkId: b.chunkId, version: b.version });
    })
    .on(CSTOMA_CHUNK_LOST, (b) => {
      fake.lost.push({ chunkId: b.chunkId, version: b.version });
    });
  fake.server = await listenLinks('127.0.0.1', port, {
    kind: 'master-chunkserver', payloadMaxBytes: PAYLOAD_MAX_MASTER_CHUNKSERVER_BYTES, log, router,
  }, (link) => fake.links.push(link));
  fake.port = (fake.server.address() as net.AddressInfo).port;
  return fake;
}

/** Polls `condition` every 10 ms, at most `timeoutMs`; throws naming `what` if it never holds. */
export async function waitFor(
  what: string, condition: () => boolean, timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A client link to a data port on 127.0.0.1. */
export function dialData(port: number): Promise<Link> {
  return connectLink('127.0.0.1', port, {
    kind: 'data', payloadMaxBytes: PAYLOAD_MAX_DATA_BYTES, log,
  });
}

/** Flips every bit of the byte at `position` of a file (a damaged disk block). */
export async function flipByte(filePath: string, position: number): Promise<void> {
  const h = await fs.open(filePath, 'r+');
  const one = Buffer.alloc(1);
  await h.read(one, 0, 1, position);
  one[0] = one[0]! ^ 0xff;
  await h.write(one, 0, 1, position);
  await h.close();
}

/** A chunk store scanning `dir` (its own checksum pool); close() closes both. */
export async function scanStore(
  dir: string,
): Promise<{ store: ChunkStore; close(): Promise<void> }> {
  const pool = new ChecksumPool(1);
  const store = new ChunkStore({
    folders: [{ path: dir, reserveBytes: 0 }], openFilesMax: 8, log, checksumPool: pool,
  });
  await store.start();
  return {
    store,
    close: async () => {
      await store.close();
      await pool.close();
    },
  };
}

/** The fields of a CLTOCS_WRITE for `data` at block/offset. */
export function writeBody(
  chunkId: number, version: number, blockIndex: number, offsetInBlock: number, data: Buffer,
  chain: { host: string; port: number }[] = [],
): {
  chunkId: number; version: number; blockIndex: number; offsetInBlock: number; checksum: bigint;
  chain: { host: string; port: number }[];
} {
  return { chunkId, version, blockIndex, offsetInBlock, checksum: checksum(data), chain };
}

/** Creates chunk `chunkId` in `store` holding `data` (written block by block, as clients do). */
export async function writeChunk(
  store: ChunkStore, chunkId: number, version: number, data: Buffer,
): Promise<void> {
  await store.create(chunkId, version);
  for (let b = 0; b * BLOCK_SIZE_BYTES < data.length; b++) {
    const block = data.subarray(b * BLOCK_SIZE_BYTES, (b + 1) * BLOCK_SIZE_BYTES);
    await store.write(chunkId, version, b, 0, block, checksum(block));
  }
}

/** Reads `lengthBytes` of a chunk over a data link in 1 MiB reads, into one buffer. */
export async function readChunk(
  link: Link, chunkId: number, version: number, lengthBytes: number,
): Promise<Buffer> {
  const out = Buffer.alloc(lengthBytes);
  for (let offset = 0; offset < lengthBytes; offset += READ_SIZE_MAX_BYTES) {
    const size = Math.min(READ_SIZE_MAX_BYTES, lengthBytes - offset);
    const r = await link.call(CLTOCS_READ, { chunkId, version, offset, size });
    r.data.copy(out, offset);
  }
  return out;
}

/** Counters a data port answers to CLTOCS_STATS, by name. */
export async function statsOf(link: Link): Promise<Record<string, number>> {
  const r = await link.call(CLTOCS_STATS, {});
  return Object.fromEntries(r.body.counters.map((c) => [c.name, c.value]));
}

/** A port on 127.0.0.1 that nothing listens on (taken and released). */
export async function deadPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  return port;
}

/** The real antler-chunkserver binary (its extensionless shim). */
export const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)),
  '../bin/antler-chunkserver');

/** Starts the binary on 127.0.0.1 (data port 0, no reserve) against a master port. */
export function startBin(dataPath: string, masterPort: number, extra: string[]): ChildProcess {
  return spawn(process.execPath, [bin, '--data-path', dataPath, '--csserv-listen-host', '127.0.0.1',
    '--csserv-listen-port', '0', '--master-port', String(masterPort), '--hdd-reserve-bytes', '0',
    ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Everything a child prints, as it comes. */
export function collect(child: ChildProcess): { text: () => string } {
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d; });
  child.stderr!.on('data', (d: Buffer) => { out += d; });
  return { text: () => out };
}
