// The live metadata and its durability: commit() applies a change and appends it to the
// changelog (the caller answers its client once `durable` resolves: the record is fsynced
// here and, in synchronous mode, acknowledged by enough metaloggers); dumps are written every
// METADATA_SAVE_FREQ seconds while serving and once more on a clean stop. Chunk ids are
// handed out only from ranges whose reservation is already durable, so a crash never lets an
// id that reached a chunkserver be handed out again.
import path from 'node:path';
import { FsError, assert, type Logger } from '@antlerfs/protocol';
import type { Change } from './change.ts';
import {
  ChangelogWriter, pruneChangelogFiles, type ChangelogStats, type DurableBatch,
} from './changelog.ts';
import type { MasterConfig } from './config.ts';
import { INODE_MAX } from './inode-table.ts';
import { type ApplyResult, Metadata, newClusterId } from './metadata.ts';
import { oldestDumpVersion, serializeDump, writeDump } from './metadata-dump.ts';
import { recoverMetadata } from './replay.ts';

/** Chunk ids reserved by one changelog record (plus one per allocation waiting for it). */
export const CHUNK_ID_RESERVE_BLOCK = 1024;
/** Reservations one allocation waits for at most before it gives up with EAGAIN. */
const CHUNK_ID_RESERVE_ATTEMPTS_MAX = 16;
/** Commit times remembered (by version) for the metaloggers' lag in ms. */
export const COMMIT_TIMES_KEPT = 65_536;

export interface Committed {
  result: ApplyResult;
  version: number;
  /** Resolves once the change is durable: on disk, and on enough metaloggers if required. */
  durable: Promise<void>;
}

/** Synchronous mode: how a version waits for the metaloggers' acknowledgements. */
export interface Replication {
  whenAcked(version: number): Promise<void>;
}

export interface DumpStats {
  lastVersion: number;
  lastAtMs: number;
  lastRecords: number;
  lastBytes: number;
  lastSerializeMs: number;
  lastTotalMs: number;
  written: number;
}

export interface MetaStoreOptions {
  config: MasterConfig;
  log: Logger;
  /** A changelog write failed: memory is ahead of disk (the process must stop). */
  onFatal: (err: Error) => void;
  nowMs?: () => number;
}

export class MetaStore {
  readonly md: Metadata;
  private readonly changelog: ChangelogWriter;
  private readonly log: Logger;
  private config: MasterConfig;
  readonly nowMs: () => number;
  private accepting = true;
  private stopping = false;
  private dumping: Promise<void> | null = null;
  private dumpTimer: NodeJS.Timeout | null = null;
  private chunkIdCursor: number;
  private chunkIdLimitDurable: number;
  private reserving: Promise<void> | null = null;
  private chunkIdWaiters = 0;
  readonly dumpStats: DumpStats;
  /** Synchronous mode's acknowledgements (set by the master); null: this disk is enough. */
  replication: Replication | null = null;
  private readonly commitTimesMs = new Float64Array(COMMIT_TIMES_KEPT);
  /** When this store opened and its version then (older commit times are unknown). */
  readonly openedAtMs: number;
  readonly openedVersion: number;

  private constructor(md: Metadata, changelog: ChangelogWriter, opts: MetaStoreOptions) {
    this.md = md;
    this.changelog = changelog;
    this.log = opts.log;
    this.config = opts.config;
    this.nowMs = opts.nowMs ?? Date.now;
    // Ids below the limit may have reached a chunkserver before a crash: start above them.
    this.chunkIdCursor = md.chunkIdLimit;
    this.chunkIdLimitDurable = md.chunkIdLimit;
    this.dumpStats = {
      lastVersion: md.version, lastAtMs: 0, lastRecords: 0, lastBytes: 0, lastSerializeMs: 0,
      lastTotalMs: 0, written: 0,
    };
    this.openedAtMs = this.nowMs();
    this.openedVersion = md.version;
  }

  /** Recovers the metadata from DATA_PATH and opens a new changelog file after it. */
  static async open(opts: MetaStoreOptions): Promise<MetaStore> {
    const nowMs = opts.nowMs ?? Date.now;
    const recovered = await recoverMetadata({
      dataPath: opts.config.dataPath, defaultGoal: opts.config.defaultGoal,
      defaultTrashtimeS: opts.config.defaultTrashtimeS,
      backMetaKeepPrevious: opts.config.backMetaKeepPrevious, log: opts.log, nowMs,
    });
    const changelog = await ChangelogWriter.open({
      dir: opts.config.dataPath, firstVersion: recovered.metadata.version + 1,
      batchRecordsMax: opts.config.changelogBatchRecordsMax, log: opts.log, onFatal: opts.onFatal,
    });
    const store = new MetaStore(recovered.metadata, changelog, opts);
    store.dumpStats.lastVersion = recovered.replayedRecords > 0 ? -1 : recovered.metadata.version;
    if (store.md.clusterId === '') {
      // A file system from before cluster ids: it gets one now, in the changelog.
      const clusterId = newClusterId();
      await store.commit({ kind: 'clusterId', clusterId }).durable;
      opts.log.info('cluster id assigned to an existing file system', { clusterId });
    }
    return store;
  }

  get version(): number {
    return this.md.version;
  }

  get clusterId(): string {
    return this.md.clusterId;
  }

  /** The newest version on this disk. */
  get durableVersion(): number {
    return this.changelog.durableVersion;
  }

  /** Applies a change (FsError if it is invalid: nothing changed) and logs it. */
  commit(change: Change): Committed {
    if (!this.accepting) throw new FsError('ENOTCONN', 'the master is stopping');
    const version = this.md.version + 1;
    const result = this.md.apply(version, change);
    assert(this.md.version === version, 'apply advanced the version');
    this.commitTimesMs[version % COMMIT_TIMES_KEPT] = this.nowMs();
    const local = this.changelog.append(version, change);
    const replication = this.replication;
    const durable = replication === null
      ? local
      : local.then(() => replication.whenAcked(version));
    return { result, version, durable };
  }

  /** Resolves once `version` is on this disk (reads wait for what they saw). */
  whenDurable(version: number): Promise<void> {
    return this.changelog.whenDurable(version);
  }

  /** Resolves once `version` is durable as commit() means it (changes wait for this). */
  async whenSynced(version: number): Promise<void> {
    await this.changelog.whenDurable(version);
    if (this.replication !== null) await this.replication.whenAcked(version);
  }

  /** Calls `listener` with each batch of records once it is on this disk. */
  onDurable(listener: (batch: DurableBatch) => void): void {
    this.changelog.onDurable(listener);
  }

  /**
   * When `version` was committed; for versions too old to remember, a time before it (the
   * oldest remembered commit, or the store's opening).
   */
  committedAtMs(version: number): number {
    assert(version >= 1 && version <= this.md.version, `version ${version} was committed`);
    const oldestKept = Math.max(this.openedVersion + 1, this.md.version - COMMIT_TIMES_KEPT + 1);
    if (version >= oldestKept) return this.commitTimesMs[version % COMMIT_TIMES_KEPT]!;
    if (oldestKept === this.openedVersion + 1) return this.openedAtMs; // from before opening
    return this.commitTimesMs[oldestKept % COMMIT_TIMES_KEPT]!;
  }

  /** The inode number the next create will use. */
  nextInode(): number {
    if (this.md.nextInode > INODE_MAX) throw new FsError('ENOSPC', 'inode numbers exhausted');
    return this.md.nextInode;
  }

  /** A new chunk id, never handed out before, whose reservation is on disk. */
  async allocateChunkId(): Promise<number> {
    for (let attempt = 0; attempt < CHUNK_ID_RESERVE_ATTEMPTS_MAX; attempt++) {
      if (this.chunkIdCursor < this.chunkIdLimitDurable) return this.chunkIdCursor++;
      if (this.reserving === null) {
        // Room for everybody already waiting, so a burst needs one reservation, not many.
        const base = Math.max(this.md.chunkIdLimit, this.chunkIdCursor);
        const limit = base + CHUNK_ID_RESERVE_BLOCK + this.chunkIdWaiters;
        const { durable } = this.commit({ kind: 'chunkIdReserve', chunkIdLimit: limit });
        this.reserving = durable.then(() => {
          this.chunkIdLimitDurable = limit;
          this.reserving = null;
        }, (err: unknown) => {
          this.reserving = null; // the next allocation tries a new reservation
          throw err;
        });
      }
      this.chunkIdWaiters++;
      try {
        await this.reserving;
      } finally {
        this.chunkIdWaiters--;
      }
    }
    throw new FsError('EAGAIN', 'chunk id reservations keep running out');
  }

  changelogStats(): ChangelogStats {
    return this.changelog.snapshotStats();
  }

  applyConfig(config: MasterConfig): void {
    const freqChanged = config.metadataSaveFreqS !== this.config.metadataSaveFreqS;
    this.config = config;
    if (freqChanged && this.dumpTimer !== null) this.startDumpTimer();
  }

  startDumpTimer(): void {
    if (this.dumpTimer !== null) clearInterval(this.dumpTimer);
    this.dumpTimer = setInterval(() => {
      this.writeDump('periodic').catch((err: unknown) => {
        this.log.error('metadata dump failed (the changelog still holds every change)', {
          error: (err as Error).message,
        });
      });
    }, this.config.metadataSaveFreqS * 1000);
    this.dumpTimer.unref(); // the master's listeners keep it running, not this timer
  }

  /** No more periodic dumps (one in progress goes on; writeDump() joins it). */
  stopDumpTimer(): void {
    if (this.dumpTimer !== null) clearInterval(this.dumpTimer);
    this.dumpTimer = null;
  }

  /** Writes a dump of the current version unless one of it exists; joins one in progress. */
  writeDump(why: string): Promise<void> {
    if (this.dumping !== null) return this.dumping;
    if (this.md.version === this.dumpStats.lastVersion) return Promise.resolve();
    this.dumping = this.dumpNow(why).finally(() => { this.dumping = null; });
    return this.dumping;
  }

  private async dumpNow(why: string): Promise<void> {
    const t0 = performance.now();
    // One synchronous pass gives a consistent snapshot at one version (measured in the log).
    const dump = serializeDump(this.md, this.nowMs());
    const serializeMs = performance.now() - t0;
    // The dump must not get ahead of the changelog: a fallback to an older dump needs it.
    await this.changelog.whenDurable(dump.version);
    const dir = this.config.dataPath;
    await writeDump(dir, dump, this.config.backMetaKeepPrevious);
    const totalMs = performance.now() - t0;
    Object.assign(this.dumpStats, {
      lastVersion: dump.version, lastAtMs: this.nowMs(), lastRecords: dump.records,
      lastBytes: dump.sizeBytes, lastSerializeMs: serializeMs, lastTotalMs: totalMs,
      written: this.dumpStats.written + 1,
    });
    this.log.info('metadata dump written', {
      why, version: dump.version, records: dump.records, bytes: dump.sizeBytes,
      serializeMs: Math.round(serializeMs), ms: Math.round(totalMs),
    });
    if (!this.stopping) await this.changelog.rotate();
    const oldest = await oldestDumpVersion(dir);
    assert(oldest !== null, 'a dump was just written');
    const removed = await pruneChangelogFiles(dir, oldest);
    if (removed.length > 0) {
      this.log.info('old changelog files removed', {
        files: removed.length, keptAfterVersion: oldest,
      });
    }
  }

  /** Clean stop: no new changes, everything on disk, a final dump, the changelog closed. */
  async close(): Promise<void> {
    this.accepting = false;
    this.stopping = true;
    this.stopDumpTimer();
    if (this.dumping !== null) await this.dumping.catch(() => undefined);
    await this.changelog.whenDurable(this.changelog.appendedVersion);
    await this.writeDump('stop');
    await this.changelog.close();
    this.log.info('metadata closed', {
      metaVersion: this.md.version, file: path.basename(this.changelog.currentFile),
    });
  }
}
