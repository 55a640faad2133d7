// The link to the master (port 9420), dialled by this chunkserver and kept forever: register
// (csId from DATA_PATH/csid, or 0 for a new one that is then saved), send the whole chunk list
// in batches (last=1 on the final one), then heartbeat; serve the master's orders (create, set
// version, truncate, delete) on the same link. A lost link is redialled with backoff (at most
// MASTER_RECONNECT_DELAY_MAX_MS) and the whole registration is done again.
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  CSTOMA_CHUNK_DAMAGED, CSTOMA_CHUNKS, CSTOMA_HEARTBEAT, CSTOMA_REGISTER, FsError, MATOCS_CREATE,
  MATOCS_DELETE, MATOCS_SET_VERSION, MATOCS_TRUNCATE, PAYLOAD_MAX_MASTER_CHUNKSERVER_BYTES, Router,
  assert, connectLink, type Link, type Logger,
} from '@antlerfs/protocol';
import type { ChunkInfo, ChunkStore } from './chunk-store.ts';

export interface MasterLinkOptions {
  store: ChunkStore;
  log: Logger;
  masterHost: string;
  masterPort: number;
  /** Where clients and chunkservers reach our data port. */
  advertiseHost: string;
  dataPort: () => number;
  dataPath: string;
  heartbeatIntervalMs: number;
  reconnectDelayMaxMs: number;
  timeoutMs: number;
  chunkListBatchMax: number;
}

/** First retry delay after a failed or lost link; doubles up to the configured maximum. */
const RECONNECT_DELAY_MIN_MS = 100;
/** While the master stays unreachable, one log line per this many attempts. */
const UNREACHABLE_LOG_EVERY = 10;
const CSID_FILE = 'csid';

export class MasterLink {
  private readonly opts: MasterLinkOptions;
  private readonly log: Logger;
  private csIdNow = 0;
  private link: Link | null = null;
  private registeredLink: Link | null = null;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private wakeSleep: (() => void) | null = null;
  private firstRegistration: Promise<number>;
  private resolveFirst: (csId: number) => void = () => undefined;
  private heartbeating = false;
  private registrationCount = 0;

  constructor(opts: MasterLinkOptions) {
    this.opts = opts;
    this.log = opts.log;
    this.firstRegistration = new Promise((resolve) => { this.resolveFirst = resolve; });
  }

  get csId(): number {
    return this.csIdNow;
  }

  /** Registrations completed so far (one per link to the master). */
  get registrations(): number {
    return this.registrationCount;
  }

  /** True while registered with the master. */
  get connected(): boolean {
    return this.registeredLink !== null && !this.registeredLink.closed;
  }

  /** Reads the saved csId (0 if this chunkserver was never registered). */
  async loadIdentity(): Promise<void> {
    const file = path.join(this.opts.dataPath, CSID_FILE);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const csId = Number(text.trim());
    if (!Number.isInteger(csId) || csId <= 0 || csId > 0xffffffff) {
      throw new Error(`${file}: expected a chunkserver id, got "${text.trim()}"`);
    }
    this.csIdNow = csId;
  }

  /** Starts dialling; registration then repeats after every lost link until stop(). */
  connect(): void {
    assert(this.loop === null, 'connect once');
    this.loop = this.run();
  }

  /** Resolves with the csId once the first registration (with the chunk list) is done. */
  registered(): Promise<number> {
    return this.firstRegistration;
  }

  /** Tells the master a copy here is damaged (again after each registration, from the store). */
  reportDamaged(chunk: ChunkInfo): void {
    const link = this.registeredLink;
    if (link === null || link.closed) return;
    link.request(CSTOMA_CHUNK_DAMAGED, { chunkId: chunk.chunkId, version: chunk.version })
      .catch((err: Error) => this.log.warn('cannot report damaged chunk', {
        chunkId: chunk.chunkId, error: err.message,
      }));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeSleep?.();
    this.link?.close('chunkserver is stopping');
    await this.loop;
  }

  private async run(): Promise<void> {
    let delayMs = RECONNECT_DELAY_MIN_MS;
    let failures = 0;
    // Runs until stop(); each pass is one link's life, then a bounded backoff sleep.
    while (!this.stopped) {
      try {
        const reason = await this.session();
        delayMs = RECONNECT_DELAY_MIN_MS;
        failures = 0;
        if (!this.stopped) this.log.warn('master link lost: reconnecting', { reason });
      } catch (err) {
        failures++;
        if (failures === 1 || failures % UNREACHABLE_LOG_EVERY === 0) {
          this.log.warn('master not reachable: retrying', {
            master: `${this.opts.masterHost}:${this.opts.masterPort}`, attempts: failures,
            error: (err as Error).message,
          });
        }
      }
      if (this.stopped) break;
      await this.sleep(delayMs);
      delayMs = Math.min(delayMs * 2, this.opts.reconnectDelayMaxMs);
    }
  }

  /** One link: dial, register, heartbeat until it closes; returns why it closed. */
  private async session(): Promise<string> {
    const link = await connectLink(this.opts.masterHost, this.opts.masterPort, {
      kind: 'master-chunkserver', payloadMaxBytes: PAYLOAD_MAX_MASTER_CHUNKSERVER_BYTES,
      log: this.log, router: this.router(), requestTimeoutMs: this.opts.timeoutMs,
      connectTimeoutMs: this.opts.timeoutMs,
    });
    this.link = link;
    const closed = new Promise<string>((resolve) => link.onClose(resolve));
    if (this.stopped) link.close('chunkserver is stopping');
    try {
      await this.register(link);
    } catch (err) {
      link.close(`registration failed: ${(err as Error).message}`);
      throw err;
    }
    this.registeredLink = link;
    const timer = setInterval(() => void this.heartbeat(link), this.opts.heartbeatIntervalMs);
    try {
      return await closed;
    } finally {
      clearInterval(timer);
      this.registeredLink = null;
      this.link = null;
    }
  }

  private async register(link: Link): Promise<void> {
    const { store } = this.opts;
    await store.refreshSpace();
    const space = store.space();
    const reply = await link.call(CSTOMA_REGISTER, {
      csId: this.csIdNow, host: this.opts.advertiseHost, port: this.opts.dataPort(),
      totalBytes: space.totalBytes, freeBytes: space.freeBytes,
    });
    const csId = reply.body.csId;
    if (csId === 0) throw new FsError('EPROTO', 'master assigned chunkserver id 0');
    if (csId !== this.csIdNow) {
      if (this.csIdNow !== 0) {
        this.log.warn('master gave a new chunkserver id', { was: this.csIdNow, csId });
      }
      await this.saveIdentity(csId);
      this.csIdNow = csId;
    }
    const chunks = store.list();
    const batchMax = this.opts.chunkListBatchMax;
    // At least one batch, so the master always sees last=1 (even for no chunks).
    for (let start = 0; start === 0 || start < chunks.length; start += batchMax) {
      const batch = chunks.slice(start, start + batchMax);
      const last = start + batchMax >= chunks.length ? 1 : 0;
      await link.call(CSTOMA_CHUNKS, { chunks: batch, last });
    }
    for (const damaged of store.damagedChunks()) {
      await link.call(CSTOMA_CHUNK_DAMAGED, { chunkId: damaged.chunkId, version: damaged.version });
    }
    this.registrationCount++;
    this.log.info('registered with master', {
      csId, chunks: chunks.length, master: `${this.opts.masterHost}:${this.opts.masterPort}`,
    });
    this.resolveFirst(csId);
  }

  /** Saves the csId durably (temporary file, fsync, rename). */
  private async saveIdentity(csId: number): Promise<void> {
    const file = path.join(this.opts.dataPath, CSID_FILE);
    const temp = `${file}.tmp`;
    const handle = await fs.open(temp, 'w');
    try {
      await handle.writeFile(`${csId}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
  }

  private async heartbeat(link: Link): Promise<void> {
    if (this.heartbeating || link.closed) return;
    this.heartbeating = true;
    try {
      const { store } = this.opts;
      await store.refreshSpace();
      const space = store.space();
      await link.call(CSTOMA_HEARTBEAT, {
        totalBytes: space.totalBytes, freeBytes: space.freeBytes, chunkCount: store.chunkCount,
      });
    } catch (err) {
      link.close(`heartbeat failed: ${(err as Error).message}`);
    } finally {
      this.heartbeating = false;
    }
  }

  private router(): Router {
    const { store } = this.opts;
    return new Router()
      .on(MATOCS_CREATE, async (b) => {
        this.log.debug('create', { chunkId: b.chunkId, version: b.version });
        await store.create(b.chunkId, b.version);
      })
      .on(MATOCS_SET_VERSION, async (b) => {
        this.log.debug('set version', {
          chunkId: b.chunkId, version: b.version, newVersion: b.newVersion,
        });
        await store.setVersion(b.chunkId, b.version, b.newVersion);
      })
      .on(MATOCS_TRUNCATE, async (b) => {
        this.log.debug('truncate', {
          chunkId: b.chunkId, version: b.version, lengthBytes: b.lengthBytes,
        });
        await store.truncate(b.chunkId, b.version, b.newVersion, b.lengthBytes);
      })
      .on(MATOCS_DELETE, async (b) => {
        this.log.debug('delete', { chunkId: b.chunkId, version: b.version });
        await store.delete(b.chunkId, b.version);
      });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.wakeSleep = null; resolve(); }, ms);
      this.wakeSleep = () => { clearTimeout(timer); this.wakeSleep = null; resolve(); };
    });
  }
}
