// The link to the master (port 9420), dialled by this chunkserver and kept forever: register
// (csId from DATA_PATH/csid, or 0 for a new one that is then saved), send the whole chunk list
// in batches (last=1 on the final one), then heartbeat; serve the master's orders (create, set
// version, truncate, delete, replicate) on the same link. MASTER_HOST may list several masters
// (an active one and shadows): they are tried in turn, and the link stays with the one that
// accepts CSTOMA_REGISTER. A refused connection, a NOT_ACTIVE_MASTER reply or a lost link moves
// on to the next; after a whole round of failures the next round waits (backoff up to
// MASTER_RECONNECT_DELAY_MAX_MS). Every registration sends the whole chunk list again.
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  CSTOMA_CHUNK_DAMAGED, CSTOMA_CHUNK_LOST, CSTOMA_CHUNKS, CSTOMA_HEARTBEAT, CSTOMA_REGISTER,
  FsError, MATOCS_CREATE, MATOCS_DELETE, MATOCS_REPLICATE, MATOCS_SET_VERSION, MATOCS_TRUNCATE,
  PAYLOAD_MAX_MASTER_CHUNKSERVER_BYTES, Router, assert, connectLink, type Link, type Logger,
} from '@antlerfs/protocol';
import type { ChunkInfo, ChunkStore } from './chunk-store.ts';
import type { MasterAddress } from './config.ts';
import type { ReplicationOrder } from './replicator.ts';

export interface MasterLinkOptions {
  store: ChunkStore;
  log: Logger;
  /** Tried in this order, round after round. */
  masters: MasterAddress[];
  /** Carries out MATOCS_REPLICATE; resolves with the chunk's length once it is held here. */
  replicate: (order: ReplicationOrder) => Promise<number>;
  /** Where clients and chunkservers reach our data port. */
  advertiseHost: string;
  dataPort: () => number;
  dataPath: string;
  heartbeatIntervalMs: number;
  reconnectDelayMaxMs: number;
  timeoutMs: number;
  chunkListBatchMax: number;
}

/** First wait after a round of failures or a lost link; doubles up to the configured maximum. */
const RECONNECT_DELAY_MIN_MS = 100;
/** While no master can be reached, log lines for one round in this many. */
const UNREACHABLE_LOG_EVERY = 10;
const CSID_FILE = 'csid';

export class MasterLink {
  private readonly opts: MasterLinkOptions;
  private readonly log: Logger;
  private csIdNow = 0;
  private masterNow: MasterAddress | null = null;
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
    assert(opts.masters.length >= 1, 'at least one master');
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

  /** "host:port" of the master registered with, or null. */
  get master(): string | null {
    const m = this.masterNow;
    return m === null || !this.connected ? null : `${m.host}:${m.port}`;
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
    this.report(CSTOMA_CHUNK_DAMAGED, chunk);
  }

  /**
   * Tells the master a copy here is gone. Not repeated: the store no longer lists it, so the
   * next registration tells the master as well.
   */
  reportLost(chunk: ChunkInfo): void {
    this.report(CSTOMA_CHUNK_LOST, chunk);
  }

  private report(
    def: typeof CSTOMA_CHUNK_DAMAGED | typeof CSTOMA_CHUNK_LOST, chunk: ChunkInfo,
  ): void {
    const link = this.registeredLink;
    if (link === null || link.closed) return;
    link.request(def, { chunkId: chunk.chunkId, version: chunk.version })
      .catch((err: Error) => this.log.warn('cannot report a chunk to the master', {
        message: def.name, chunkId: chunk.chunkId, error: err.message,
      }));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeSleep?.();
    this.link?.close('chunkserver is stopping');
    await this.loop;
  }

  /**
   * Runs until stop(): each pass tries one master (the next in the list each time). A lost link
   * waits the minimum delay; a whole round of failed attempts waits the backoff delay.
   */
  private async run(): Promise<void> {
    const { masters } = this.opts;
    let delayMs = RECONNECT_DELAY_MIN_MS;
    let index = 0;
    let failedInRound = 0;
    let failedRounds = 0;
    while (!this.stopped) {
      const master = masters[index]!;
      index = (index + 1) % masters.length;
      try {
        const reason = await this.session(master);
        delayMs = RECONNECT_DELAY_MIN_MS;
        failedInRound = 0;
        failedRounds = 0;
        if (this.stopped) break;
        const next = masters.length > 1 ? 'trying the next master' : 'reconnecting';
        this.log.warn(`master link lost: ${next}`, {
          master: `${master.host}:${master.port}`, reason,
        });
        await this.sleep(RECONNECT_DELAY_MIN_MS);
        continue;
      } catch (err) {
        failedInRound++;
        if (failedRounds === 0 || failedRounds % UNREACHABLE_LOG_EVERY === 0) {
          this.log.warn('master not reachable: retrying', {
            master: `${master.host}:${master.port}`, rounds: failedRounds + 1,
            error: (err as Error).message,
          });
        }
      }
      if (this.stopped || failedInRound < masters.length) continue;
      failedInRound = 0;
      failedRounds++;
      await this.sleep(delayMs);
      delayMs = Math.min(delayMs * 2, this.opts.reconnectDelayMaxMs);
    }
  }

  /** One link: dial, register, heartbeat until it closes; returns why it closed. */
  private async session(master: MasterAddress): Promise<string> {
    const link = await connectLink(master.host, master.port, {
      kind: 'master-chunkserver', payloadMaxBytes: PAYLOAD_MAX_MASTER_CHUNKSERVER_BYTES,
      log: this.log, router: this.router(), requestTimeoutMs: this.opts.timeoutMs,
      connectTimeoutMs: this.opts.timeoutMs,
    });
    this.link = link;
    const closed = new Promise<string>((resolve) => link.onClose(resolve));
    if (this.stopped) link.close('chunkserver is stopping');
    try {
      await this.register(link, master);
    } catch (err) {
      link.close(`registration failed: ${(err as Error).message}`);
      throw err;
    }
    this.masterNow = master;
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

  private async register(link: Link, master: MasterAddress): Promise<void> {
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
      csId, chunks: chunks.length, master: `${master.host}:${master.port}`,
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
        // Answered once the chunk is registered; its file follows (see ChunkStore.create).
        await store.create(b.chunkId, b.version, { background: true });
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
      })
      .on(MATOCS_REPLICATE, async (b) => {
        this.log.debug('replicate', {
          chunkId: b.chunkId, version: b.version, sources: b.sources.length,
        });
        return { body: { lengthBytes: await this.opts.replicate(b) } };
      });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.wakeSleep = null; resolve(); }, ms);
      this.wakeSleep = () => { clearTimeout(timer); this.wakeSleep = null; resolve(); };
    });
  }
}
