// The data port (9422): clients and other chunkservers read blocks, write blocks through the
// chain, fsync, fetch a chunk's checksum table (replication), and ask for counters. Many
// requests run at once per connection, bounded by WRITES_INFLIGHT_MAX / READS_INFLIGHT_MAX: at
// the bound the connection stops reading until one finishes (the link itself does not bound what
// it serves). Malformed frames close that connection only (the link does that).
import type net from 'node:net';
import {
  CLTOCS_FSYNC, CLTOCS_READ, CLTOCS_STATS, CLTOCS_WRITE, CSTOCS_GET_CHECKSUMS,
  PAYLOAD_MAX_DATA_BYTES, Router, Status, assert, listenLinks, type Link, type Logger,
} from '@antlerfs/protocol';
import { giveReadBuffer, inlineReadCounters } from './chunk-file.ts';
import type { ChunkStore } from './chunk-store.ts';
import { DownstreamPool, WriteChain } from './write-chain.ts';

export interface DataServerOptions {
  store: ChunkStore;
  log: Logger;
  host: string;
  port: number;
  writesInflightMax: number;
  readsInflightMax: number;
  connectionsMax: number;
  chainLinksPerServer: number;
  chainTimeoutMs: number;
  /** More counters for CLTOCS_STATS (replication, scrub, disks), read when asked. */
  moreCounters?: () => Record<string, number>;
}

/** Counters answered by CLTOCS_STATS (names are part of the contract with tests and tools). */
export interface DataCounters {
  read_requests: number;
  write_requests: number;
  fsync_requests: number;
  checksums_requests: number;
  stats_requests: number;
  read_bytes: number;
  write_bytes: number;
  read_errors: number;
  write_errors: number;
  connections_total: number;
  malformed_closes: number;
}

type WorkKind = 'read' | 'write';

/**
 * Read replies queued on one socket before further reads wait for it to drain, so a client that
 * does not take its replies cannot make the server buffer without bound (with the in-flight
 * bound, at most this plus READS_INFLIGHT_MAX replies of 1 MiB per connection).
 */
const REPLY_QUEUE_MAX_BYTES = 8 * 1024 * 1024;

/** Work of one kind on one connection: running (at most the bound) and waiting, in order. */
interface KindLoad {
  running: number;
  waiting: (() => void)[];
}

interface LinkLoad {
  read: KindLoad;
  write: KindLoad;
  paused: boolean;
  /** One shared wait for the socket to drain, however many reads wait on it. */
  drain: Promise<void> | null;
}

export class DataServer {
  readonly counters: DataCounters = {
    read_requests: 0, write_requests: 0, fsync_requests: 0, checksums_requests: 0,
    stats_requests: 0, read_bytes: 0,
    write_bytes: 0, read_errors: 0, write_errors: 0, connections_total: 0, malformed_closes: 0,
  };
  private readonly opts: DataServerOptions;
  private readonly downstream: DownstreamPool;
  private readonly chain: WriteChain;
  private readonly links = new Set<Link>();
  private readonly loads = new WeakMap<Link, LinkLoad>();
  private server: net.Server | null = null;
  private inflight = 0;
  private drainWaiters: (() => void)[] = [];
  private stopping = false;

  constructor(opts: DataServerOptions) {
    assert(opts.writesInflightMax >= 1 && opts.readsInflightMax >= 1, 'in-flight bounds');
    this.opts = opts;
    this.downstream = new DownstreamPool({
      linksPerServer: opts.chainLinksPerServer, timeoutMs: opts.chainTimeoutMs, log: opts.log,
    });
    this.chain = new WriteChain(opts.store, this.downstream);
  }

  /** The port actually bound (after start). */
  get port(): number {
    assert(this.server !== null, 'data server started');
    return (this.server.address() as net.AddressInfo).port;
  }

  async start(): Promise<number> {
    const router = this.router();
    this.server = await listenLinks(this.opts.host, this.opts.port, {
      kind: 'data', payloadMaxBytes: PAYLOAD_MAX_DATA_BYTES, log: this.opts.log, router,
      connectionsMax: this.opts.connectionsMax,
    }, (link) => this.accept(link));
    return this.port;
  }

  /** Every counter, including the store's and the chain's. */
  statsList(): { name: string; value: number }[] {
    const c = this.counters;
    const store = this.opts.store;
    const extra: Record<string, number> = {
      checksum_errors:
        store.counters.blockChecksumErrors + this.chain.counters.payloadChecksumErrors,
      block_checksum_errors: store.counters.blockChecksumErrors,
      payload_checksum_errors: this.chain.counters.payloadChecksumErrors,
      chain_forwards: this.chain.counters.chainForwards,
      chain_errors: this.chain.counters.chainErrors,
      read_inline_hits: inlineReadCounters.hits,
      read_inline_misses: inlineReadCounters.misses,
      connections: this.links.size,
      requests_inflight: this.inflight,
      requests_waiting: this.waitingCount(),
      reply_queue_bytes: [...this.links].reduce((sum, l) => sum + l.socket.writableLength, 0),
      chunks: store.chunkCount,
      open_files: store.openFileCount,
      chunks_lost: store.counters.chunksLost,
      disks_damaged: store.disks.filter((d) => d.damaged).length,
      disk_io_errors: store.disks.reduce((sum, d) => sum + d.ioErrors, 0),
      spare_files: store.disks.reduce((sum, d) => sum + d.spares.count, 0),
      spare_files_kept: store.disks.reduce((sum, d) => sum + d.spares.kept, 0),
      spare_files_taken: store.disks.reduce((sum, d) => sum + d.spares.taken, 0),
      ...this.opts.moreCounters?.(),
    };
    const all = [...Object.entries(c), ...Object.entries(extra)];
    return all.map(([name, value]) => ({ name, value }));
  }

  private accept(link: Link): void {
    if (this.stopping) {
      link.close('chunkserver is stopping');
      return;
    }
    this.counters.connections_total++;
    this.links.add(link);
    this.loads.set(link, {
      read: { running: 0, waiting: [] }, write: { running: 0, waiting: [] }, paused: false,
      drain: null,
    });
    link.onClose((reason) => {
      this.links.delete(link);
      if (reason.startsWith('malformed')) this.counters.malformed_closes++;
    });
  }

  private router(): Router {
    const { store } = this.opts;
    return new Router()
      .on(CLTOCS_READ, async (body, ctx) => {
        this.counters.read_requests++;
        const data = await this.track(ctx.link, 'read',
          () => store.read(body.chunkId, body.version, body.offset, body.size));
        this.counters.read_bytes += data.length;
        return { data, written: () => giveReadBuffer(data) };
      })
      // A WRITE answered OK was written here and acknowledged by the next copy: nothing reads
      // its bytes any more, so the slab they came in is read into again.
      .on(CLTOCS_WRITE, async (body, ctx) => {
        this.counters.write_requests++;
        const parts = ctx.dataParts;
        for (const p of parts) this.counters.write_bytes += p.length;
        const status = await this.track(ctx.link, 'write', () => this.chain.write(body, parts));
        if (status !== Status.OK) this.counters.write_errors++;
        return { status };
      }, { recycles: true })
      .on(CLTOCS_FSYNC, async (body, ctx) => {
        this.counters.fsync_requests++;
        const status = await this.track(ctx.link, 'write',
          () => this.chain.fsync(body.chunkId, body.version, body.chain));
        return { status };
      })
      .on(CSTOCS_GET_CHECKSUMS, async (body, ctx) => {
        this.counters.checksums_requests++;
        const { lengthBytes, table } = await this.track(ctx.link, 'read',
          () => store.checksums(body.chunkId, body.version));
        return { body: { lengthBytes }, data: table };
      })
      .on(CLTOCS_STATS, () => {
        this.counters.stats_requests++;
        return { body: { counters: this.statsList() } };
      });
  }

  /**
   * Runs work of one kind for a connection, at most the bound at once; more wait in arrival
   * order (so writes keep their order). While a kind is at its bound the socket stops reading,
   * which the peer feels as TCP backpressure. Reads also wait while the socket's queue of
   * replies is long.
   */
  private async track<T>(link: Link, kind: WorkKind, work: () => Promise<T>): Promise<T> {
    const load = this.loads.get(link);
    assert(load !== undefined, 'a tracked link was accepted');
    const own = load[kind];
    this.inflight++;
    if (own.running >= this.boundOf(kind) || own.waiting.length > 0) {
      // The finishing request hands its slot over, so `running` stays at the bound.
      await new Promise<void>((resolve) => own.waiting.push(resolve));
    } else {
      own.running++;
    }
    this.updatePause(link, load);
    try {
      if (kind === 'read' && link.socket.writableLength > REPLY_QUEUE_MAX_BYTES) {
        load.drain ??= link.drained().finally(() => { load.drain = null; });
        await load.drain;
      }
      return await work();
    } catch (err) {
      if (kind === 'read') this.counters.read_errors++;
      throw err;
    } finally {
      const next = own.waiting.shift();
      if (next !== undefined) next();
      else own.running--;
      assert(own.running >= 0, 'running work never negative');
      this.inflight--;
      this.updatePause(link, load);
      if (this.inflight === 0) this.wakeDrainWaiters();
    }
  }

  private waitingCount(): number {
    let n = 0;
    for (const link of this.links) {
      const load = this.loads.get(link);
      if (load) n += load.read.waiting.length + load.write.waiting.length;
    }
    return n;
  }

  private boundOf(kind: WorkKind): number {
    return kind === 'read' ? this.opts.readsInflightMax : this.opts.writesInflightMax;
  }

  private updatePause(link: Link, load: LinkLoad): void {
    const full = load.read.running >= this.opts.readsInflightMax
      || load.write.running >= this.opts.writesInflightMax;
    if (full && !load.paused) {
      load.paused = true;
      link.socket.pause();
    } else if (!full && load.paused && !this.stopping) {
      load.paused = false;
      link.socket.resume();
    }
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  /** Stops listening, stops reading requests, lets those in progress finish, then closes. */
  async stop(): Promise<void> {
    this.stopping = true;
    const server = this.server;
    if (server !== null) server.close();
    for (const link of this.links) link.socket.pause();
    if (this.inflight > 0) await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    for (const link of [...this.links]) link.close('chunkserver is stopping');
    this.downstream.close();
    this.opts.log.info('data server stopped', { connections: this.counters.connections_total });
  }
}
