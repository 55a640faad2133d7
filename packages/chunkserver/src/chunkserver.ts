// The chunkserver assembled from its parts, as the daemon modules runDaemon starts in order and
// stops in reverse: checksum pool, master link identity, chunk store (scan), data server,
// replicator, scrubber, then registration with the master (after which the daemon is ready). So
// SIGTERM stops the scrub and aborts replications, stops listening and finishes writes, then
// closes the chunk files, then the master link, then the workers.
import fs from 'node:fs';
import { assert, type DaemonModule, type Logger } from '@antlerfs/protocol';
import { ChecksumPool } from './checksum-pool.ts';
import { ChunkStore } from './chunk-store.ts';
import type { ChunkserverConfig } from './config.ts';
import { DataServer } from './data-server.ts';
import type { HddFolder } from './hdd-config.ts';
import { MasterLink } from './master-link.ts';
import { Replicator } from './replicator.ts';
import { Scrubber } from './scrubber.ts';

export class Chunkserver {
  readonly config: ChunkserverConfig;
  readonly checksumPool: ChecksumPool;
  readonly store: ChunkStore;
  readonly dataServer: DataServer;
  readonly masterLink: MasterLink;
  readonly replicator: Replicator;
  readonly scrubber: Scrubber;
  readonly modules: DaemonModule[];
  private readonly log: Logger;
  private readyDataPort = 0;

  constructor(config: ChunkserverConfig, folders: HddFolder[], log: Logger) {
    this.config = config;
    this.log = log;
    this.checksumPool = new ChecksumPool(config.checksumWorkers);
    const openFilesMax = openFilesWithin(config.openFilesMax, openFilesLimit(), log);
    this.store = new ChunkStore({
      folders, openFilesMax, log: log.child('store'),
      checksumPool: this.checksumPool, ioErrorsMax: config.hddIoErrorsMax,
      spareFilesMax: config.hddSpareFilesMax, cache: { dropWritten: config.hddDropWrittenCache },
    });
    this.replicator = new Replicator({
      store: this.store, checksumPool: this.checksumPool, log: log.child('replicator'),
      replicationsMax: config.replicationsMax, queueMax: config.replicationQueueMax,
      bytesPerSecond: config.replicationBytesPerSecond,
      readsInflightMax: config.replicationReadsInflightMax, timeoutMs: config.replicationTimeoutMs,
    });
    this.scrubber = new Scrubber({
      store: this.store, log: log.child('scrub'), bytesPerSecond: config.scrubBytesPerSecond,
      passMinMs: config.scrubPassMinMs,
    });
    this.dataServer = new DataServer({
      store: this.store, log: log.child('data'), host: config.listenHost, port: config.listenPort,
      writesInflightMax: config.writesInflightMax, readsInflightMax: config.readsInflightMax,
      connectionsMax: config.dataConnectionsMax, chainLinksPerServer: config.chainLinksPerServer,
      chainTimeoutMs: config.chainTimeoutMs,
      moreCounters: () => ({
        ...this.replicator.counters, replications_running: this.replicator.load.running,
        replications_queued: this.replicator.load.queued, ...this.scrubber.counters,
      }),
    });
    this.masterLink = new MasterLink({
      store: this.store, log: log.child('master'), masters: config.masters,
      replicate: (order) => this.replicator.replicate(order), advertiseHost: config.advertiseHost,
      dataPort: () => this.dataServer.port, dataPath: config.dataPath,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      reconnectDelayMaxMs: config.masterReconnectDelayMaxMs, timeoutMs: config.masterTimeoutMs,
      chunkListBatchMax: config.chunkListBatchMax,
    });
    this.store.onDamaged = (chunk) => this.masterLink.reportDamaged(chunk);
    this.store.onLost = (chunk) => this.masterLink.reportLost(chunk);
    this.modules = [
      { name: 'checksum-pool', start: () => undefined, stop: () => this.checksumPool.close() },
      { name: 'master-link', start: () => this.masterLink.loadIdentity(),
        stop: () => this.masterLink.stop() },
      { name: 'chunk-store', start: () => this.store.start(), stop: () => this.store.close() },
      { name: 'data-server', start: () => this.startDataServer(),
        stop: () => this.dataServer.stop() },
      { name: 'replicator', start: () => undefined, stop: () => this.replicator.stop() },
      { name: 'scrubber', start: () => this.scrubber.start(), stop: () => this.scrubber.stop() },
      { name: 'registration', start: () => this.register(), stop: () => undefined },
    ];
  }

  /** The data port bound (after start). */
  get dataPort(): number {
    assert(this.readyDataPort !== 0, 'chunkserver started');
    return this.readyDataPort;
  }

  get csId(): number {
    return this.masterLink.csId;
  }

  private async startDataServer(): Promise<void> {
    this.readyDataPort = await this.dataServer.start();
    this.log.info('data port listening', {
      host: this.config.listenHost, port: this.readyDataPort, advertise: this.config.advertiseHost,
    });
  }

  /** Dials the master and waits for the first registration; then logs `ready`. */
  private async register(): Promise<void> {
    this.masterLink.connect();
    const csId = await this.masterLink.registered();
    this.log.info('ready', { dataPort: this.readyDataPort, csId });
  }

  /** Starts every module in order (for embedding and tests; the daemon uses runDaemon). */
  async start(): Promise<void> {
    for (const m of this.modules) await m.start();
  }

  /** Stops every module in reverse order. */
  async stop(): Promise<void> {
    for (const m of [...this.modules].reverse()) await m.stop();
  }
}

/** The soft limit on open descriptors of this process (Linux), or null if unknown. */
export function openFilesLimit(): number | null {
  try {
    const limits = fs.readFileSync('/proc/self/limits', 'utf8');
    const soft = /^Max open files\s+(\d+)/m.exec(limits)?.[1];
    return soft === undefined ? null : Number(soft);
  } catch {
    return null;
  }
}

/**
 * OPEN_FILES_MAX, or half the descriptor limit when that is lower: chunk files must leave room
 * for sockets, or a busy server would fail opens with EMFILE.
 */
export function openFilesWithin(wanted: number, limit: number | null, log: Logger): number {
  if (limit === null || wanted <= Math.floor(limit / 2)) return wanted;
  const allowed = Math.max(4, Math.floor(limit / 2));
  log.warn('OPEN_FILES_MAX lowered to half the open descriptor limit', {
    configured: wanted, limit, openFilesMax: allowed,
  });
  return allowed;
}
