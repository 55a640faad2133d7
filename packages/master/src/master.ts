// The master process: its modules in start order (metadata, deletion queue, chunkserver port,
// metalogger port, client port, monitor, activation) and the status the monitor shows. The
// ports listen before the master is active and refuse sessions and registrations until the
// other masters (MASTER_PEERS) have said that none of them is active for this cluster.
// Stopping runs the modules in reverse, so clients go first and the final dump comes last,
// after every change is on disk.
import {
  InodeType, MATOCS_DELETE, MATOCS_REPLICATE, type DaemonModule, type Logger,
} from '@antlerfs/protocol';
import { ChunkPool, createOrder } from './chunk-pool.ts';
import { ChunkserverLinks } from './chunkserver-link.ts';
import { Chunkservers } from './chunkservers.ts';
import { ClientSessions } from './client-session.ts';
import type { MasterConfig } from './config.ts';
import { DeletionQueue } from './deletion-queue.ts';
import { STATE_NAMES, healthJson, healthReport } from './health-report.ts';
import { activeMasterCheck } from './master-peers.ts';
import { MetaStore } from './meta-store.ts';
import { MetaloggerFeed } from './metalogger-feed.ts';
import { MetaloggerSync } from './metalogger-sync.ts';
import { MonitorHttp, type MasterStatus } from './monitor-http.ts';
import {
  ReplicationPlanner, type PlannerLimits, type PlannerServer,
} from './replication-planner.ts';
import { WriteFlow } from './write-flow.ts';

export const MASTER_VERSION = '0.1.0';

export interface MasterPorts {
  clientPort: number;
  chunkserverPort: number;
  metaloggerPort: number;
  monitorPort: number;
}

export interface MasterOptions {
  log: Logger;
  /** Memory got ahead of disk or a bug was found: the process must stop at once. */
  onFatal?: (err: Error) => void;
  random?: () => number;
}

function plannerLimits(c: MasterConfig): PlannerLimits {
  return {
    loopMs: c.replicationLoopMs, perServerMax: c.replicationsPerServerMax,
    totalMax: c.replicationsMax, rebalanceMovesMax: c.rebalanceMovesMax,
    balanceMarginPercent: c.balanceMarginPercent, replicationTimeoutMs: c.replicationTimeoutMs,
    // Servers that were connected before a (re)start get one heartbeat timeout to come back.
    startGraceMs: c.chunkserverTimeoutMs,
  };
}

export class Master {
  private config: MasterConfig;
  private readonly log: Logger;
  private readonly onFatal: (err: Error) => void;
  private readonly random: (() => number) | undefined;
  private readonly startedAtMs = Date.now();
  readonly servers = new Chunkservers();
  private storeOrNull: MetaStore | null = null;
  private deletions: DeletionQueue | null = null;
  private chunkPool: ChunkPool | null = null;
  private csLinks: ChunkserverLinks | null = null;
  private planner: ReplicationPlanner | null = null;
  /** When each drain mark was seen: a server is drained only by a scan that began after it. */
  private readonly drainSeenAtMs = new Map<number, number>();
  private feed: MetaloggerFeed | null = null;
  private sessions: ClientSessions | null = null;
  private monitor: MonitorHttp | null = null;
  readonly sync: MetaloggerSync;
  /** Sessions and registrations are served only once this is set (activation). */
  private active = false;
  readonly ports: MasterPorts = {
    clientPort: 0, chunkserverPort: 0, metaloggerPort: 0, monitorPort: 0,
  };

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
    this.sync = new MetaloggerSync({
      required: config.syncMetaloggers, timeoutMs: config.syncTimeoutMs,
    });
  }

  get isActive(): boolean {
    return this.active;
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
        name: 'replication', start: () => this.startPlanner(), stop: () => this.planner?.stop(),
      },
      {
        name: 'metalogger-feed',
        start: async () => { this.ports.metaloggerPort = await this.startFeed(); },
        stop: async () => {
          this.sync.close();
          await this.feed?.close();
        },
      },
      {
        name: 'client-session',
        start: async () => { this.ports.clientPort = await this.startSessions(); },
        stop: () => {
          this.chunkPool?.stop();
          return this.sessions?.close();
        },
      },
      {
        name: 'monitor',
        start: async () => {
          this.monitor = new MonitorHttp(() => this.status(), this.log, () => this.health());
          this.ports.monitorPort = await this.monitor.listen(c.listenHost, c.monitorPort);
        },
        stop: () => this.monitor?.close(),
      },
      { name: 'activation', start: () => this.activate(), stop: () => undefined },
      {
        name: 'ready',
        start: () => this.log.info('ready', {
          ...this.ports, metaVersion: this.store.version, clusterId: this.store.clusterId,
        }),
        stop: () => undefined,
      },
    ];
  }

  /**
   * Becomes the active master unless a peer of the same cluster already is: then it throws,
   * and the daemon exits with the reason (two masters must never accept writes at once).
   */
  private async activate(): Promise<void> {
    const peers = this.config.masterPeers;
    if (peers.length > 0) {
      this.log.info('not active yet: asking the other masters', {
        peers: peers.map((p) => `${p.host}:${p.port}`).join(','), ...this.ports,
        metaVersion: this.store.version,
      });
      const refusal = await activeMasterCheck({
        peers, clusterId: this.store.clusterId, metaVersion: this.store.version, log: this.log,
      });
      if (refusal !== null) {
        this.log.error('refusing to become the active master', { reason: refusal });
        throw new Error(`another master is active: ${refusal}`);
      }
    }
    this.active = true;
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
    this.chunkPool?.setSize(config.chunkPoolSize);
    this.sync.timeoutMs = config.syncTimeoutMs;
    this.sync.setRequired(config.syncMetaloggers);
    if (this.feed !== null) this.feed.queueMaxBytes = config.metaloggerQueueMaxBytes;
    if (this.csLinks !== null) this.csLinks.timeoutMs = config.chunkserverTimeoutMs;
    if (this.planner !== null) {
      this.planner.limits = { ...plannerLimits(config), loopMs: this.planner.limits.loopMs };
    }
    if (this.sessions !== null) {
      this.sessions.sessionsMax = config.sessionsMax;
      this.sessions.inflightMax = config.sessionRequestsInflightMax;
    }
  }

  private async startStore(): Promise<void> {
    this.storeOrNull = await MetaStore.open({
      config: this.config, log: this.log, onFatal: this.onFatal,
    });
    this.store.replication = this.sync;
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
      isActive: () => this.active, isPooled: (chunkId) => this.chunkPool?.holds(chunkId) === true,
    });
    return this.csLinks.listen(this.config.listenHost, this.config.chunkserverPort);
  }

  private startFeed(): Promise<number> {
    const c = this.config;
    this.feed = new MetaloggerFeed({
      store: this.store, sync: this.sync, log: this.log, dataPath: c.dataPath,
      metaloggersMax: c.metaloggersMax, queueMaxBytes: c.metaloggerQueueMaxBytes,
      isActive: () => this.active,
      onBug: (err) => this.onFatal(err instanceof Error ? err : new Error(String(err))),
    });
    return this.feed.listen(c.listenHost, c.metaloggerPort);
  }

  private startSessions(): Promise<number> {
    const store = this.store;
    this.chunkPool = new ChunkPool({
      size: this.config.chunkPoolSize, servers: this.servers, order: createOrder(this.csLinks!),
      allocateChunkId: () => store.allocateChunkId(), deletions: this.deletions!,
      log: this.log.child('chunk-pool'), random: this.random,
    });
    this.chunkPool.start();
    const writeFlow = new WriteFlow({
      store, servers: this.servers, links: this.csLinks!, deletions: this.deletions!,
      random: this.random, log: this.log.child('write'), pool: this.chunkPool,
    });
    this.sessions = new ClientSessions({
      store: this.store, servers: this.servers, writeFlow, log: this.log,
      sessionsMax: this.config.sessionsMax,
      sessionRequestsInflightMax: this.config.sessionRequestsInflightMax, onFatal: this.onFatal,
      sync: this.sync, metaloggers: () => this.feed?.list() ?? [], isActive: () => this.active,
      health: () => this.planner === null ? '{}' : healthJson(this.healthSources(this.planner)),
    });
    return this.sessions.listen(this.config.listenHost, this.config.clientPort);
  }

  private startPlanner(): void {
    const md = this.store.md;
    this.servers.drainIds = md.drainCsIds;
    this.servers.isDrained = (csId) => this.isDrained(csId);
    const links = this.csLinks!;
    this.planner = new ReplicationPlanner({
      registry: md.chunks, inodes: () => md.namespace.inodes.values(),
      servers: () => this.plannerServers(),
      replicate: async (csId, order, timeoutMs) => {
        const r = await links.orderReply(csId, MATOCS_REPLICATE, order, timeoutMs);
        return { status: r.status, lengthBytes: r.body?.lengthBytes ?? 0 };
      },
      remove: (csId, chunkId, version) => links.order(csId, MATOCS_DELETE, { chunkId, version }),
      stray: (chunkId, version, csId) => this.deletions?.enqueueStray(chunkId, version, csId),
      limits: plannerLimits(this.config), log: this.log, random: this.random,
    });
    this.planner.start();
  }

  private plannerServers(): PlannerServer[] {
    const drains = this.store.md.drainCsIds;
    const now = Date.now();
    for (const csId of drains) if (!this.drainSeenAtMs.has(csId)) this.drainSeenAtMs.set(csId, now);
    for (const csId of this.drainSeenAtMs.keys()) {
      if (!drains.has(csId)) this.drainSeenAtMs.delete(csId);
    }
    return [...this.servers.values()].map((cs) => ({
      csId: cs.csId, host: cs.host, port: cs.port, freeBytes: cs.freeBytes,
      totalBytes: cs.totalBytes, usable: cs.link !== null && cs.listComplete,
      online: cs.link !== null,
      draining: drains.has(cs.csId),
    }));
  }

  /** Draining, fully registered, and a scan begun after the mark found nothing depending on it. */
  private isDrained(csId: number): boolean {
    const p = this.planner;
    const seenAt = this.drainSeenAtMs.get(csId);
    const cs = this.servers.get(csId);
    if (p === null || seenAt === undefined || cs === undefined || !cs.listComplete) return false;
    const snap = p.snapshot;
    const scanBegan = snap.finishedAtMs - snap.passMs;
    return scanBegan > seenAt && (snap.drainPending.get(csId) ?? 0) === 0;
  }

  private healthSources(planner: ReplicationPlanner): Parameters<typeof healthJson>[0] {
    return {
      planner, servers: this.servers, registry: this.store.md.chunks, deletions: this.deletions,
      nowMs: Date.now(),
    };
  }

  /** The health document (monitor /api/health). */
  health(): Record<string, unknown> {
    return this.planner === null ? {} : healthReport(this.healthSources(this.planner));
  }

  status(): MasterStatus {
    const md = this.store.md;
    const inodes = md.namespace.inodes;
    const cl = this.store.changelogStats();
    const d = this.store.dumpStats;
    const q = this.deletions;
    const requests = md.requests;
    return {
      version: MASTER_VERSION, clusterId: md.clusterId, active: this.active,
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
        inlineWrites: cl.inlineWrites,
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
      chunkPool: {
        ready: this.chunkPool?.size ?? 0, promisedNow: this.chunkPool?.promisedCount ?? 0,
        ...(this.chunkPool?.counters ?? {}),
      },
      metaloggers: this.feed?.list() ?? [],
      sync: {
        required: this.sync.required, timeoutMs: this.sync.timeoutMs,
        streaming: this.sync.streamingCount, syncedVersion: this.sync.syncedVersion,
      },
      requests: {
        clients: requests.clientCount, entries: requests.entryCount,
        repeatsAnswered: this.sessions?.repeatsAnswered ?? 0,
      },
    };
  }
}
