// The master process: its modules in start order (metadata, deletion queue, chunkserver port,
// client port, monitor) and the status the monitor shows. Stopping runs them in reverse, so
// clients go first and the final dump comes last, after every change is on disk.
import { InodeType, MATOCS_DELETE, type DaemonModule, type Logger } from '@antlerfs/protocol';
import { ChunkserverLinks } from './chunkserver-link.ts';
import { Chunkservers } from './chunkservers.ts';
import { ClientSessions } from './client-session.ts';
import type { MasterConfig } from './config.ts';
import { DeletionQueue } from './deletion-queue.ts';
import { MetaStore } from './meta-store.ts';
import { MonitorHttp, type MasterStatus } from './monitor-http.ts';
import { WriteFlow } from './write-flow.ts';

export const MASTER_VERSION = '0.1.0';

export interface MasterPorts {
  clientPort: number;
  chunkserverPort: number;
  monitorPort: number;
}

export interface MasterOptions {
  log: Logger;
  /** Memory got ahead of disk or a bug was found: the process must stop at once. */
  onFatal?: (err: Error) => void;
  random?: () => number;
}

const STATE_NAMES: Record<number, string> = { 1: 'online', 2: 'lost', 3: 'full' };

export class Master {
  private config: MasterConfig;
  private readonly log: Logger;
  private readonly onFatal: (err: Error) => void;
  private readonly random: (() => number) | undefined;
  private readonly startedAtMs = Date.now();
  readonly servers = new Chunkservers();
  private storeOrNull: MetaStore | null = null;
  private deletions: DeletionQueue | null = null;
  private csLinks: ChunkserverLinks | null = null;
  private sessions: ClientSessions | null = null;
  private monitor: MonitorHttp | null = null;
  readonly ports: MasterPorts = { clientPort: 0, chunkserverPort: 0, monitorPort: 0 };

  constructor(config: MasterConfig, opts: MasterOptions) {
    this.config = config;
    this.log = opts.log;
    this.random = opts.random;
    this.onFatal = opts.onFatal ?? ((err) => {
      this.log.error('fatal: exiting now (a restart replays every acknowledged change)', {
        error: err.stack ?? err.message,
      });
      process.exit(70);
    });
  }

  get store(): MetaStore {
    if (this.storeOrNull === null) throw new Error('the master has not started');
    return this.storeOrNull;
  }

  /** The modules for runDaemon, in start order. */
  modules(): DaemonModule[] {
    const c = this.config;
    return [
      { name: 'metadata', start: () => this.startStore(), stop: () => this.storeOrNull?.close() },
      {
        name: 'deletion-queue', start: () => this.startDeletions(),
        stop: () => this.deletions?.stop(),
      },
      {
        name: 'chunkserver-link',
        start: async () => { this.ports.chunkserverPort = await this.startChunkserverLinks(); },
        stop: () => this.csLinks?.close(),
      },
      {
        name: 'client-session',
        start: async () => { this.ports.clientPort = await this.startSessions(); },
        stop: () => this.sessions?.close(),
      },
      {
        name: 'monitor',
        start: async () => {
          this.monitor = new MonitorHttp(() => this.status(), this.log);
          this.ports.monitorPort = await this.monitor.listen(c.listenHost, c.monitorPort);
        },
        stop: () => this.monitor?.close(),
      },
      {
        name: 'ready',
        start: () => this.log.info('ready', { ...this.ports, metaVersion: this.store.version }),
        stop: () => undefined,
      },
    ];
  }

  /** Starts every module in order (tests; daemons use runDaemon with modules()). */
  async start(): Promise<MasterPorts> {
    for (const m of this.modules()) await m.start();
    return this.ports;
  }

  async stop(): Promise<void> {
    for (const m of this.modules().reverse()) await m.stop();
  }

  /** A SIGHUP reload: the keys that can change while running take their new values. */
  applyConfig(config: MasterConfig): void {
    this.config = config;
    this.storeOrNull?.applyConfig(config);
    this.deletions?.setRate(config.deletionsPerSecond);
    if (this.csLinks !== null) this.csLinks.timeoutMs = config.chunkserverTimeoutMs;
    if (this.sessions !== null) {
      this.sessions.sessionsMax = config.sessionsMax;
      this.sessions.inflightMax = config.sessionRequestsInflightMax;
    }
  }

  private async startStore(): Promise<void> {
    this.storeOrNull = await MetaStore.open({
      config: this.config, log: this.log, onFatal: this.onFatal,
    });
    this.store.startDumpTimer();
  }

  private startDeletions(): void {
    const deletions = new DeletionQueue({
      registry: this.store.md.chunks,
      send: (csId, body) => this.csLinks === null
        ? Promise.reject(new Error('no chunkserver port'))
        : this.csLinks.order(csId, MATOCS_DELETE, body),
      isOnline: (csId) => this.servers.isOnline(csId),
      deletionsPerSecond: this.config.deletionsPerSecond,
      log: this.log,
    });
    this.store.md.onChunkFreed = (chunk) => deletions.enqueueChunk(chunk);
    deletions.start();
    this.deletions = deletions;
  }

  private startChunkserverLinks(): Promise<number> {
    this.csLinks = new ChunkserverLinks({
      store: this.store, servers: this.servers, deletions: this.deletions!, log: this.log,
      chunkserverTimeoutMs: this.config.chunkserverTimeoutMs,
      chunkserversMax: this.config.chunkserversMax, onFatal: this.onFatal,
    });
    return this.csLinks.listen(this.config.listenHost, this.config.chunkserverPort);
  }

  private startSessions(): Promise<number> {
    const writeFlow = new WriteFlow({
      store: this.store, servers: this.servers, links: this.csLinks!, deletions: this.deletions!,
      random: this.random,
    });
    this.sessions = new ClientSessions({
      store: this.store, servers: this.servers, writeFlow, log: this.log,
      sessionsMax: this.config.sessionsMax,
      sessionRequestsInflightMax: this.config.sessionRequestsInflightMax, onFatal: this.onFatal,
    });
    return this.sessions.listen(this.config.listenHost, this.config.clientPort);
  }

  status(): MasterStatus {
    const md = this.store.md;
    const inodes = md.namespace.inodes;
    const cl = this.store.changelogStats();
    const d = this.store.dumpStats;
    const q = this.deletions;
    return {
      version: MASTER_VERSION,
      uptimeS: Math.round((Date.now() - this.startedAtMs) / 1000),
      metaVersion: md.version, inodes: inodes.size, files: inodes.count(InodeType.FILE),
      dirs: inodes.count(InodeType.DIR), symlinks: inodes.count(InodeType.SYMLINK),
      chunks: md.chunks.liveCount, chunksDeleting: md.chunks.deletingTotal,
      chunkservers: [...this.servers.values()].map((cs) => ({
        csId: cs.csId, host: cs.host, port: cs.port,
        state: STATE_NAMES[this.servers.stateOf(cs)] ?? '?',
        totalBytes: cs.totalBytes, freeBytes: cs.freeBytes, copies: md.chunks.copiesOn(cs.csId),
        reportedChunks: cs.reportedChunks,
      })),
      sessions: this.sessions?.count ?? 0,
      changelog: {
        file: cl.file, durableVersion: cl.durableVersion, records: cl.records, bytes: cl.bytes,
        fsyncs: cl.fsyncs,
        fsyncMsAvg: cl.fsyncs > 0 ? +(cl.fsyncMsTotal / cl.fsyncs).toFixed(3) : 0,
        fsyncMsMax: +cl.fsyncMsMax.toFixed(3), batchRecordsMax: cl.batchRecordsMax,
        recordsPerFsync: cl.fsyncs > 0 ? +(cl.records / cl.fsyncs).toFixed(2) : 0,
        fsyncsPerSecond: cl.fsyncsPerSecond, recordsPerSecond: cl.recordsPerSecond,
        pendingRecords: cl.pendingRecords,
      },
      dump: {
        version: d.lastVersion, atMs: d.lastAtMs, records: d.lastRecords, bytes: d.lastBytes,
        serializeMs: Math.round(d.lastSerializeMs), totalMs: Math.round(d.lastTotalMs),
        written: d.written,
      },
      deletionQueue: { length: q?.length ?? 0, ...(q?.counters ?? {}) },
    };
  }
}
