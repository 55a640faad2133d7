// Shared test fixtures: temporary folders, a chunkserver config for loopback, an in-process
// data node (store + data server, no master), a tiny fake master built on the protocol's
// listenLinks (tests only), and a bounded wait.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  CSTOMA_CHUNK_DAMAGED, CSTOMA_CHUNKS, CSTOMA_HEARTBEAT, CSTOMA_REGISTER, Logger,
  PAYLOAD_MAX_DATA_BYTES, PAYLOAD_MAX_MASTER_CHUNKSERVER_BYTES, Router, checksum, connectLink,
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
    const node = new DataNode(await tempDir(prefix), over);
    await node.store.start();
    node.port = await node.server.start();
    return node;
  }

  async stop(): Promise<void> {
    await this.server.stop();
    await this.store.close();
    await this.pool.close();
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
  close(): Promise<void>;
}

/** A master that assigns `assignCsId` to a new chunkserver and records what it is told. */
export async function startFakeMaster(assignCsId: number, port = 0): Promise<FakeMaster> {
  const fake: FakeMaster = {
    port: 0, server: null as unknown as net.Server, links: [], registrations: [], batches: [],
    heartbeats: 0, damaged: [],
    close: async () => {
      for (const l of fake.links) l.close('fake master closing');
      await new Promise((resolve) => fake.server.close(resolve));
    },
  };
  const router = new Router()
    .on(CSTOMA_REGISTER, (b) => {
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
