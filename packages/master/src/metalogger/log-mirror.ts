// The metalogger's copy of the master's changelog and metadata. Records arrive as the master
// wrote them; each is checked (size, crc32, decodable, version = previous + 1) and appended
// verbatim to changelog.<firstVersion>.alog in groups of at most BATCH_BYTES_MAX, one writev +
// fdatasync per group (so a torn tail is never longer than the master's recovery allows).
// Only then is the group applied to the metadata held in memory and reported durable, so the
// in-memory version is always on disk and a dump of it never gets ahead of the changelog.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { FsError, assert, statusFromSystemError, type Logger } from '@antlerfs/protocol';
import type { Change } from '../change.ts';
import {
  BATCH_BYTES_MAX, CHANGELOG_HEADER_BYTES, changelogFileName, changelogHeader, parseRecord,
} from '../changelog.ts';
import type { Metadata } from '../metadata.ts';
import { installDump, serializeDump, writeDump } from '../metadata-dump.ts';
import {
  DOWNLOAD_FILE, pruneMirror, recoverFolder, removeMirrorFiles, setAside,
} from './mirror-folder.ts';

/** The smallest record: head (8) + version (8) + a change of at least one byte. */
const RECORD_MIN_BYTES = 17;

export interface LogMirrorSettings {
  changelogRotateRecords: number;
  backLogs: number;
  backMetaKeepPrevious: number;
}

export interface LogMirrorOptions extends LogMirrorSettings {
  dir: string;
  log: Logger;
  /** A write or fsync failed: the process must stop (a restart recovers the folder). */
  onFatal: (err: Error) => void;
}

/** Records of one message (or one BATCH_BYTES_MAX slice of it) waiting to be written. */
interface Segment {
  firstVersion: number;
  lastVersion: number;
  bytes: Buffer;
  changes: Change[];
}

export class LogMirror {
  private readonly opts: LogMirrorOptions;
  private readonly log: Logger;
  settings: LogMirrorSettings;
  private md: Metadata | null;
  /** Last version accepted (queued or written). */
  private appended: number;
  /** Last version fsynced and applied to `md`. */
  private durable: number;
  private readonly queue: Segment[] = [];
  private queuedBytesNow = 0;
  private flushing = false;
  private idleWaiters: (() => void)[] = [];
  private fh: fsp.FileHandle | null = null;
  private fileRecords = 0;
  private positionBytes = 0;
  private rotateWanted = false;
  /** Set when a record did not apply: nothing more is accepted until reset. */
  private brokenReason: string | null = null;
  private lastDumpVersion: number;
  private dumping: Promise<void> | null = null;
  /** A download is being installed or the folder set aside: no dump may start meanwhile. */
  private replacing = false;
  private failed: Error | null = null;
  /** Called after each group with the version now on disk. */
  onDurable: (version: number) => void = () => undefined;
  /** Called once when a written record does not apply to the metadata held here. */
  onBroken: (reason: string) => void = () => undefined;
  readonly stats = {
    records: 0, bytes: 0, fsyncs: 0, fsyncMsMax: 0, groupBytesMax: 0, filesCreated: 0,
  };

  private constructor(opts: LogMirrorOptions, md: Metadata | null, lastDumpVersion: number) {
    this.opts = opts;
    this.log = opts.log;
    this.settings = {
      changelogRotateRecords: opts.changelogRotateRecords, backLogs: opts.backLogs,
      backMetaKeepPrevious: opts.backMetaKeepPrevious,
    };
    this.md = md;
    this.appended = md?.version ?? 0;
    this.durable = this.appended;
    this.lastDumpVersion = lastDumpVersion;
  }

  /** Recovers the folder (the newest version held) and opens the mirror on it. */
  static async open(opts: LogMirrorOptions): Promise<LogMirror> {
    const r = await recoverFolder(opts.dir, opts.backMetaKeepPrevious, opts.log);
    // After a replay the held version is newer than every dump: the next dump is due.
    const lastDump = r.metadata === null || r.replayedRecords > 0 ? -1 : r.dumpVersion;
    return new LogMirror(opts, r.metadata, lastDump);
  }

  /** The folder mirrored into. */
  get dir(): string {
    return this.opts.dir;
  }

  /** The newest version on disk here (0: nothing held, a dump must be downloaded). */
  get version(): number {
    return this.durable;
  }

  get holdsMetadata(): boolean {
    return this.md !== null;
  }

  get metadata(): Metadata | null {
    return this.md;
  }

  /** Why the mirror stopped accepting records (reset it), or null. */
  get broken(): string | null {
    return this.brokenReason;
  }

  get queuedBytes(): number {
    return this.queuedBytesNow;
  }

  get idle(): boolean {
    return !this.flushing && this.queue.length === 0;
  }

  /** Resolves once every accepted record is written (or dropped after a failure). */
  whenIdle(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Checks and queues the `count` records in `data` starting at `firstVersion`. Returns why
   * they are refused (the link should be dropped), or null. `data` is kept until written.
   */
  accept(firstVersion: number, count: number, data: Buffer): string | null {
    if (this.failed !== null) return 'the mirror failed';
    if (this.brokenReason !== null) return 'the mirror is being reset';
    if (this.md === null) return 'records arrived before any metadata dump';
    if (firstVersion !== this.appended + 1) {
      return `records start at version ${firstVersion}, expected ${this.appended + 1}`;
    }
    if (count === 0) return data.length === 0 ? null : `keepalive with ${data.length} bytes`;
    if (count * RECORD_MIN_BYTES > data.length) {
      return `${count} records cannot fit in ${data.length} bytes`;
    }
    const segments: Segment[] = [];
    let segment: Segment | null = null;
    let segmentStart = 0;
    let o = 0;
    for (let i = 0; i < count; i++) {
      const version = firstVersion + i;
      const parsed = parseRecord(data, o);
      if (!parsed.ok) return `record of version ${version}: ${parsed.reason}`;
      if (parsed.version !== version) {
        return `record of version ${parsed.version} where ${version} was expected`;
      }
      if (segment !== null && o + parsed.bytes - segmentStart > BATCH_BYTES_MAX) {
        segment.bytes = data.subarray(segmentStart, o);
        segments.push(segment);
        segment = null;
      }
      if (segment === null) {
        segment = { firstVersion: version, lastVersion: version, bytes: data, changes: [] };
        segmentStart = o;
      }
      segment.lastVersion = version;
      segment.changes.push(parsed.change);
      o += parsed.bytes;
    }
    if (o !== data.length) return `${data.length - o} bytes after the last record`;
    assert(segment !== null, 'count > 0 gave a segment');
    segment.bytes = data.subarray(segmentStart, o);
    segments.push(segment);
    for (const s of segments) {
      this.queue.push(s);
      this.queuedBytesNow += s.bytes.length;
    }
    this.appended = firstVersion + count - 1;
    this.kick();
    return null;
  }

  /** The next record goes to a new changelog file. */
  rotate(): void {
    this.rotateWanted = true;
  }

  private kick(): void {
    if (this.flushing || this.failed !== null) return;
    this.flushing = true;
    // setImmediate lets the messages that arrived in this turn join the group.
    setImmediate(() => {
      this.flushLoop().catch((err: unknown) => this.fail(err));
    });
  }

  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0 && this.failed === null && this.brokenReason === null) {
      const group: Segment[] = [this.queue.shift()!];
      let bytes = group[0]!.bytes.length;
      while (this.queue.length > 0 && bytes + this.queue[0]!.bytes.length <= BATCH_BYTES_MAX) {
        const s = this.queue.shift()!;
        bytes += s.bytes.length;
        group.push(s);
      }
      this.queuedBytesNow -= bytes;
      await this.writeGroup(group, bytes);
      this.applyGroup(group);
    }
    if (this.brokenReason !== null) { // what is left would not apply either
      this.queue.length = 0;
      this.queuedBytesNow = 0;
    }
    this.flushing = false;
    if (this.queue.length > 0 && this.failed === null) {
      this.kick();
      return;
    }
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private async writeGroup(group: Segment[], bytes: number): Promise<void> {
    const first = group[0]!.firstVersion;
    const records = group[group.length - 1]!.lastVersion - first + 1;
    if (this.fh === null || this.rotateWanted ||
      this.fileRecords >= this.settings.changelogRotateRecords) {
      await this.startFile(first);
    }
    const t0 = performance.now();
    const buffers = group.map((s) => s.bytes);
    let written = 0;
    for (let attempt = 0; written < bytes; attempt++) {
      assert(attempt < 1000, 'writev makes progress');
      const pending = written === 0 ? buffers : [Buffer.concat(buffers).subarray(written)];
      const r = await this.fh!.writev(pending, this.positionBytes + written);
      written += r.bytesWritten;
    }
    await this.fh!.datasync();
    const ms = performance.now() - t0;
    this.positionBytes += bytes;
    this.fileRecords += records;
    this.stats.records += records;
    this.stats.bytes += bytes;
    this.stats.fsyncs++;
    this.stats.fsyncMsMax = Math.max(this.stats.fsyncMsMax, ms);
    this.stats.groupBytesMax = Math.max(this.stats.groupBytesMax, bytes);
  }

  private async startFile(firstVersion: number): Promise<void> {
    if (this.fh !== null) await this.fh.close();
    this.fh = null;
    const file = path.join(this.opts.dir, changelogFileName(firstVersion));
    const fh = await fsp.open(file, 'wx');
    await fh.write(changelogHeader(firstVersion), 0, CHANGELOG_HEADER_BYTES, 0);
    await fh.sync();
    const dirFh = await fsp.open(this.opts.dir, 'r');
    try { await dirFh.sync(); } finally { await dirFh.close(); }
    this.fh = fh;
    this.fileRecords = 0;
    this.positionBytes = CHANGELOG_HEADER_BYTES;
    this.rotateWanted = false;
    this.stats.filesCreated++;
    this.log.debug('changelog file started', { file: path.basename(file) });
  }

  /** Applies a written group to the metadata; a record that does not apply breaks the mirror. */
  private applyGroup(group: Segment[]): void {
    const md = this.md;
    assert(md !== null, 'records are written only onto a dump');
    for (const s of group) {
      for (let i = 0; i < s.changes.length; i++) {
        const version = s.firstVersion + i;
        assert(version === md.version + 1, `record ${version} follows ${md.version}`);
        try {
          md.apply(version, s.changes[i]!);
        } catch (err) {
          this.brokenReason = `version ${version} does not apply to the mirrored metadata: ` +
            (err as Error).message;
          this.log.error('mirror broken: a record does not apply', { reason: this.brokenReason });
          this.onBroken(this.brokenReason);
          return;
        }
        this.durable = version;
      }
    }
    this.onDurable(this.durable);
  }

  /**
   * Writes a dump of the mirrored metadata (unless one of this version exists), starts a new
   * changelog file and prunes old ones. Joins a dump in progress.
   */
  writeDump(why: string): Promise<void> {
    if (this.dumping !== null) return this.dumping;
    if (this.replacing || this.md === null || this.md.version === this.lastDumpVersion) {
      return Promise.resolve();
    }
    this.dumping = this.dumpNow(this.md, why).finally(() => { this.dumping = null; });
    return this.dumping;
  }

  private async dumpNow(md: Metadata, why: string): Promise<void> {
    const t0 = performance.now();
    // md holds only fsynced records, so the dump never gets ahead of the changelog.
    const dump = serializeDump(md, Date.now());
    await writeDump(this.opts.dir, dump, this.settings.backMetaKeepPrevious);
    this.lastDumpVersion = dump.version;
    this.rotate();
    const removed = await pruneMirror(this.opts.dir, this.settings.backLogs);
    this.log.info('metadata dump written', {
      why, version: dump.version, records: dump.records, bytes: dump.sizeBytes,
      ms: Math.round(performance.now() - t0), changelogFilesRemoved: removed.length,
    });
  }

  /**
   * Replaces everything held by a downloaded, checked dump (DOWNLOAD_FILE in the folder):
   * the old files are removed (a history the dump covers) or set aside (one the master does
   * not share). The next record expected is md.version + 1. Call only when idle.
   */
  async replaceWithDump(
    md: Metadata, oldFiles: { setAsideReason: string } | 'remove',
  ): Promise<void> {
    assert(this.idle, 'replace the mirror only when idle');
    assert(!this.replacing, 'one replacement at a time');
    this.replacing = true;
    try {
      await this.quiesce();
      if (oldFiles === 'remove') await removeMirrorFiles(this.opts.dir, [DOWNLOAD_FILE]);
      else await setAside(this.opts.dir, oldFiles.setAsideReason, this.log, [DOWNLOAD_FILE]);
      await installDump(this.opts.dir, path.join(this.opts.dir, DOWNLOAD_FILE),
        this.settings.backMetaKeepPrevious);
    } finally {
      this.replacing = false;
    }
    this.md = md;
    this.appended = md.version;
    this.durable = md.version;
    this.lastDumpVersion = md.version;
    this.brokenReason = null;
  }

  /** Sets everything aside and holds nothing (the next registration downloads a dump). */
  async reset(reason: string): Promise<void> {
    await this.whenIdle();
    assert(!this.replacing, 'one replacement at a time');
    this.replacing = true;
    try {
      await this.quiesce();
      await setAside(this.opts.dir, reason, this.log);
    } finally {
      this.replacing = false;
    }
    this.md = null;
    this.appended = 0;
    this.durable = 0;
    this.lastDumpVersion = -1;
    this.brokenReason = null;
  }

  /** Waits for a dump in progress and closes the current file. */
  private async quiesce(): Promise<void> {
    if (this.dumping !== null) await this.dumping.catch(() => undefined);
    if (this.fh !== null) await this.fh.close();
    this.fh = null;
  }

  /** Clean stop: everything accepted on disk, a final dump, the file closed. */
  async close(): Promise<void> {
    await this.whenIdle();
    if (this.failed === null && this.brokenReason === null) await this.writeDump('stop');
    await this.quiesce();
  }

  private fail(err: unknown): void {
    const status = statusFromSystemError(err);
    const error = new FsError(status, `changelog mirror in ${this.opts.dir}: ` +
      `${(err as Error).message}`);
    this.failed = error;
    this.flushing = false;
    this.queue.length = 0;
    this.queuedBytesNow = 0;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
    this.opts.onFatal(error);
  }
}
