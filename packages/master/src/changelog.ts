// The changelog: append-only files of change records, one per version, fsynced in groups
// before any client hears of its change. File changelog.<firstVersion>.alog:
//   header  magic "ANTLCL01" (8) firstVersion:64
//   record  size:32 crc32:32 | version:64 change (kind:8 fields)   size = bytes after crc32
// crc32 (zlib) covers the `size` bytes. Versions go up by exactly one, asserted on append and
// checked on read. Only the last batch of the last file can be torn by a crash.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { FsError, assert, isInvalid, statusFromSystemError, type Logger } from '@antlerfs/protocol';
import { decodeChange, encodeChangeInto, encodedChangeBytes, type Change } from './change.ts';

export const CHANGELOG_MAGIC = Buffer.from('ANTLCL01');
export const CHANGELOG_HEADER_BYTES = 16;
export const RECORD_HEAD_BYTES = 8;
/** Largest record: a create with a 255-byte name and a 4 KiB symlink target fits easily. */
export const RECORD_MAX_BYTES = 16 * 1024;
/** Bytes written in one batch at most; a torn tail is never longer than this. */
export const BATCH_BYTES_MAX = 4 * 1024 * 1024;
/**
 * Zeros written ahead of the records: an O_DSYNC record write then lands on blocks already in
 * the file, within its size, and needs no change of size or extents on disk (a third cheaper
 * here than an append). A zero record head ends the records of a file (the size 0 is never
 * a record's); a file closed or rotated is cut to its last record.
 */
export const PREPARE_BYTES = 1024 * 1024;
/** The next stretch of zeros is written once the records come within this much of the end. */
const PREPARE_LOW_WATER_BYTES = 256 * 1024;
const ZEROS = Buffer.alloc(PREPARE_BYTES);
/** Read size while scanning a file at start. */
const SCAN_READ_BYTES = 4 * 1024 * 1024;
const FILE_PATTERN = /^changelog\.(\d+)\.alog$/;
/**
 * A batch of one record is written on the main thread while the disk answers within this time:
 * with nothing to group it with (one client waiting), the trip to the thread pool and back
 * costs more than the O_DSYNC write itself (0.09 ms here). Larger batches, and every batch
 * after a slower write, go to the pool, so the master serves others while the disk works.
 */
export const INLINE_WRITE_MS_MAX = 1;
/** Seconds over which the fsync and record rates are averaged. */
const RATE_WINDOW_S = 10;

export function changelogFileName(firstVersion: number): string {
  return `changelog.${firstVersion}.alog`;
}

export interface ChangelogFile {
  path: string;
  firstVersion: number;
}

/** The changelog files of `dir`, oldest first. */
export function listChangelogFiles(dir: string): ChangelogFile[] {
  const out: ChangelogFile[] = [];
  for (const name of fs.readdirSync(dir)) {
    const m = FILE_PATTERN.exec(name);
    if (m) out.push({ path: path.join(dir, name), firstVersion: Number(m[1]) });
  }
  return out.sort((a, b) => a.firstVersion - b.firstVersion);
}

export function encodeRecord(version: number, change: Change): Buffer {
  assert(Number.isSafeInteger(version) && version > 0, `record version ${version}`);
  const size = 8 + encodedChangeBytes(change);
  assert(size <= RECORD_MAX_BYTES, `record of ${size} bytes fits RECORD_MAX_BYTES`);
  const buf = Buffer.allocUnsafe(RECORD_HEAD_BYTES + size);
  buf.writeUInt32BE(size, 0);
  buf.writeUInt32BE(Math.floor(version / 0x100000000), 8);
  buf.writeUInt32BE(version >>> 0, 12);
  const end = encodeChangeInto(change, buf, 16);
  assert(end === buf.length, `record encoded ${end} of ${buf.length} bytes`);
  buf.writeUInt32BE(zlib.crc32(buf.subarray(RECORD_HEAD_BYTES)), 4);
  return buf;
}

export function changelogHeader(firstVersion: number): Buffer {
  const buf = Buffer.alloc(CHANGELOG_HEADER_BYTES);
  CHANGELOG_MAGIC.copy(buf, 0);
  buf.writeUInt32BE(Math.floor(firstVersion / 0x100000000), 8);
  buf.writeUInt32BE(firstVersion >>> 0, 12);
  return buf;
}

/** Why bytes are not a record; `incomplete`: they may be one once more bytes come. */
type Failure = { ok: false; reason: string; incomplete: boolean };

/** A record read back: its version and change, or why it is not one. */
type Parsed = { ok: true; version: number; change: Change; bytes: number } | Failure;

/**
 * Bounds and checksum of the record at `o` of `buf`: its body, or why not. `headBytes`: what
 * must be there before the size is even read.
 */
function checkRecord(
  buf: Buffer, o: number, headBytes: number,
): { ok: true; body: Buffer } | Failure {
  if (buf.length - o < headBytes) {
    return { ok: false, reason: 'short record head', incomplete: true };
  }
  const size = buf.readUInt32BE(o);
  if (size < 9 || size > RECORD_MAX_BYTES) {
    return { ok: false, reason: `record size ${size} out of range`, incomplete: false };
  }
  if (buf.length - o - RECORD_HEAD_BYTES < size) {
    return { ok: false, reason: `record of ${size} bytes cut short`, incomplete: true };
  }
  const body = buf.subarray(o + RECORD_HEAD_BYTES, o + RECORD_HEAD_BYTES + size);
  if (zlib.crc32(body) !== buf.readUInt32BE(o + 4)) {
    return { ok: false, reason: 'record checksum mismatch', incomplete: false };
  }
  return { ok: true, body };
}

function bodyVersion(body: Buffer): number {
  return body.readUInt32BE(0) * 0x100000000 + body.readUInt32BE(4);
}

/** Parses the record at `o` of `buf` (which may end early: `incomplete`). */
export function parseRecord(buf: Buffer, o: number): Parsed {
  const r = checkRecord(buf, o, RECORD_HEAD_BYTES);
  if (!r.ok) return r;
  const change = decodeChange(r.body.subarray(8));
  if (isInvalid(change)) {
    return { ok: false, reason: `record undecodable: ${change.invalid}`, incomplete: false };
  }
  const bytes = RECORD_HEAD_BYTES + r.body.length;
  return { ok: true, version: bodyVersion(r.body), change, bytes };
}

/** Where the record at `o` of `buf` ends and its version, without decoding the change. */
export type RecordPeek = { ok: true; version: number; bytes: number } | Failure;

/** Bounds and checksum of the record at `o` (the metalogger stream sends records unchanged). */
export function peekRecord(buf: Buffer, o: number): RecordPeek {
  const r = checkRecord(buf, o, RECORD_HEAD_BYTES + 8);
  if (!r.ok) return r;
  return { ok: true, version: bodyVersion(r.body), bytes: RECORD_HEAD_BYTES + r.body.length };
}

export class ChangelogCorruptError extends Error {
  override name = 'ChangelogCorruptError';
}

export interface ScanResult {
  firstVersion: number;
  /** Version of the last good record, firstVersion - 1 if none. */
  lastVersion: number;
  records: number;
  /** Where a torn tail starts (the file should be cut there), or null if the file is whole. */
  tornAt: number | null;
  /** The tail is only zeros written ahead of the records (see PREPARE_BYTES), not a torn write. */
  zerosOnly: boolean;
  tornBytes: number;
  tornReason: string;
}

interface ScanState { fd: number; file: string; sizeBytes: number; isLast: boolean }

/**
 * Reads every record of one file in order, calling onRecord for each. A bad record at the end
 * of the last file is a torn tail (reported, not an error); anywhere else it is corruption.
 */
export function scanChangelogFile(
  file: string, isLast: boolean, onRecord: (version: number, change: Change) => void,
): ScanResult {
  const fd = fs.openSync(file, 'r');
  try {
    const st: ScanState = { fd, file, sizeBytes: fs.fstatSync(fd).size, isLast };
    const header = Buffer.alloc(CHANGELOG_HEADER_BYTES);
    const got = fs.readSync(fd, header, 0, CHANGELOG_HEADER_BYTES, 0);
    const nameVersion = Number(FILE_PATTERN.exec(path.basename(file))?.[1] ?? NaN);
    if (got < CHANGELOG_HEADER_BYTES) {
      if (!isLast) throw new ChangelogCorruptError(`${file}: header cut short (${got} bytes)`);
      return {
        firstVersion: nameVersion, lastVersion: nameVersion - 1, records: 0, tornAt: 0,
        tornBytes: got, tornReason: 'header cut short', zerosOnly: false,
      };
    }
    if (!header.subarray(0, 8).equals(CHANGELOG_MAGIC)) {
      throw new ChangelogCorruptError(`${file}: not a changelog file (bad magic)`);
    }
    const firstVersion = header.readUInt32BE(8) * 0x100000000 + header.readUInt32BE(12);
    if (firstVersion !== nameVersion) {
      throw new ChangelogCorruptError(`${file}: header says first version ${firstVersion}`);
    }
    return scanRecords(st, firstVersion, onRecord);
  } finally {
    fs.closeSync(fd);
  }
}

function scanRecords(
  st: ScanState, firstVersion: number, onRecord: (version: number, change: Change) => void,
): ScanResult {
  let expected = firstVersion;
  let records = 0;
  let fileOffset = CHANGELOG_HEADER_BYTES; // of buf[0]
  let buf = Buffer.alloc(0);
  let o = 0;
  for (;;) {
    const parsed = parseRecord(buf, o);
    if (parsed.ok) {
      if (parsed.version !== expected) {
        throw new ChangelogCorruptError(`${st.file}: offset ${fileOffset + o}: version ` +
          `${parsed.version} where ${expected} was expected (a gap in the changelog)`);
      }
      onRecord(parsed.version, parsed.change);
      records++;
      expected++;
      o += parsed.bytes;
      continue;
    }
    const atEnd = fileOffset + buf.length >= st.sizeBytes;
    if (parsed.incomplete && !atEnd) { // read more and try again
      const rest = buf.subarray(o);
      const more = Buffer.alloc(Math.min(SCAN_READ_BYTES, st.sizeBytes - fileOffset - buf.length));
      const n = fs.readSync(st.fd, more, 0, more.length, fileOffset + buf.length);
      assert(n === more.length, `read ${n} of ${more.length} bytes of ${st.file}`);
      fileOffset += o;
      buf = rest.length === 0 ? more : Buffer.concat([rest, more]);
      o = 0;
      continue;
    }
    const at = fileOffset + o;
    const lastVersion = expected - 1;
    if (at === st.sizeBytes) {
      return {
        firstVersion, lastVersion, records, tornAt: null, tornBytes: 0, tornReason: '',
        zerosOnly: false,
      };
    }
    const tail = { tornAt: at, tornBytes: st.sizeBytes - at, tornReason: parsed.reason };
    // Zeros to the end: written ahead of the records, in any file (a crash before the cut).
    const dataEnd = nonZeroEnd(st, at);
    if (dataEnd === at) return { firstVersion, lastVersion, records, ...tail, zerosOnly: true };
    checkTornTail(st, at, dataEnd, lastVersion, parsed.reason);
    return { firstVersion, lastVersion, records, ...tail, zerosOnly: false };
  }
}

/**
 * A bad record at `at` is a torn tail only in the last file, within one batch of the end, and
 * with no good record after it; otherwise the changelog is corrupt and start-up must stop.
 * `dataEnd`: where the bytes that are not zeros end (a batch torn by a crash may end in the
 * zeros written ahead of it: they do not count).
 */
function checkTornTail(
  st: ScanState, at: number, dataEnd: number, lastGood: number, reason: string,
): void {
  const where = `${st.file}: offset ${at}, after version ${lastGood}: ${reason}`;
  if (!st.isLast) throw new ChangelogCorruptError(`${where} (not the last changelog file)`);
  const tailBytes = dataEnd - at;
  if (tailBytes > BATCH_BYTES_MAX + RECORD_MAX_BYTES) {
    throw new ChangelogCorruptError(`${where} (${tailBytes} bytes follow: more than one batch)`);
  }
  const tail = Buffer.alloc(tailBytes);
  fs.readSync(st.fd, tail, 0, tailBytes, at);
  for (let o = 1; o + RECORD_HEAD_BYTES < tailBytes; o++) {
    const p = parseRecord(tail, o);
    if (p.ok && p.version > lastGood) {
      throw new ChangelogCorruptError(`${where} (good record of version ${p.version} follows at ` +
        `offset ${at + o}: corruption in the middle, not a torn write)`);
    }
  }
}

/** The offset just past the last byte of the file from `at` on that is not zero (`at`: none). */
function nonZeroEnd(st: ScanState, at: number): number {
  const buf = Buffer.allocUnsafe(SCAN_READ_BYTES);
  let end = at;
  for (let o = at; o < st.sizeBytes; o += SCAN_READ_BYTES) {
    const n = fs.readSync(st.fd, buf, 0, Math.min(SCAN_READ_BYTES, st.sizeBytes - o), o);
    assert(n > 0, `read ${st.file} at ${o}`);
    for (let i = n - 1; i >= 0; i--) {
      if (buf[i] !== 0) {
        end = o + i + 1;
        break;
      }
    }
  }
  return end;
}

export interface ChangelogWriterOptions {
  dir: string;
  /** Version of the first record this writer will append. */
  firstVersion: number;
  batchRecordsMax: number;
  log: Logger;
  /** A write or fsync failed: memory is ahead of disk, so the process must stop. */
  onFatal: (err: Error) => void;
  /** Lone records are written on the main thread while writes take at most this [1 ms]. */
  inlineWriteMsMax?: number;
}

/** A batch that reached the disk: its records exactly as written (never changed afterwards). */
export interface DurableBatch {
  readonly firstVersion: number;
  readonly lastVersion: number;
  readonly buffers: readonly Buffer[];
  readonly bytes: number;
}

interface Batch {
  readonly buffers: Buffer[];
  bytes: number;
  readonly firstVersion: number;
  lastVersion: number;
  sealed: boolean;
  readonly done: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface ChangelogStats {
  file: string;
  /** Over the last RATE_WINDOW_S seconds. */
  fsyncsPerSecond: number;
  recordsPerSecond: number;
  records: number;
  bytes: number;
  fsyncs: number;
  fsyncMsTotal: number;
  fsyncMsMax: number;
  batchRecordsMax: number;
  inlineWrites: number;
  pendingRecords: number;
  durableVersion: number;
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}

/**
 * Flags of a changelog file: created anew, written only, and O_DSYNC so each write returns
 * once its data is on disk (fdatasync semantics). One batch is then one pwritev in one trip
 * to the thread pool, instead of a write and an fdatasync as two trips.
 */
const CHANGELOG_OPEN_FLAGS =
  fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_DSYNC;

/**
 * Appends records with group commit: one O_DSYNC writev per batch, in the thread pool, but for
 * a lone record on a fast disk (INLINE_WRITE_MS_MAX).
 */
export class ChangelogWriter {
  private fh: fsp.FileHandle;
  private fileFirstVersion: number;
  private filePath: string;
  private positionBytes = CHANGELOG_HEADER_BYTES;
  /** The file holds durable zeros from positionBytes up to this offset (see PREPARE_BYTES). */
  private preparedTo = CHANGELOG_HEADER_BYTES;
  /** The zeros being written, while they are (no record is written past preparedTo then). */
  private preparing: Promise<void> | null = null;
  /** Writing zeros failed in this file (a full disk): records are appended as they come. */
  private prepareFailed = false;
  private lastVersion: number;
  private durable: number;
  private readonly batches: Batch[] = [];
  private flushing = false;
  private rotateWaiters: (() => void)[] = [];
  private closed = false;
  private failed: Error | null = null;
  private readonly opts: ChangelogWriterOptions;
  private readonly durableListeners: ((batch: DurableBatch) => void)[] = [];
  readonly stats = {
    records: 0, bytes: 0, fsyncs: 0, fsyncMsTotal: 0, fsyncMsMax: 0, batchRecordsMax: 0,
    /** Batches written on the main thread (see INLINE_WRITE_MS_MAX). */
    inlineWrites: 0,
  };
  /** How long the last batch took to write (decides where the next lone record is written). */
  private lastWriteMs = 0;
  /** Per-second buckets (second, fsyncs, records) for the recent rates. */
  private readonly rateBuckets =
    Array.from({ length: RATE_WINDOW_S }, () => ({ s: 0, f: 0, r: 0 }));

  private constructor(opts: ChangelogWriterOptions, fh: fsp.FileHandle, filePath: string) {
    this.opts = opts;
    this.fh = fh;
    this.filePath = filePath;
    this.fileFirstVersion = opts.firstVersion;
    this.lastVersion = opts.firstVersion - 1;
    this.durable = opts.firstVersion - 1;
  }

  /** Creates changelog.<firstVersion>.alog (it must not exist) and fsyncs it into the folder. */
  static async open(opts: ChangelogWriterOptions): Promise<ChangelogWriter> {
    const { fh, filePath } = await ChangelogWriter.createFile(opts.dir, opts.firstVersion);
    return new ChangelogWriter(opts, fh, filePath);
  }

  private static async createFile(
    dir: string, firstVersion: number,
  ): Promise<{ fh: fsp.FileHandle; filePath: string }> {
    const filePath = path.join(dir, changelogFileName(firstVersion));
    const fh = await fsp.open(filePath, CHANGELOG_OPEN_FLAGS, 0o666);
    await fh.write(changelogHeader(firstVersion), 0, CHANGELOG_HEADER_BYTES, 0);
    await fh.sync();
    await syncDir(dir);
    return { fh, filePath };
  }

  get durableVersion(): number {
    return this.durable;
  }

  /** Calls `listener` with each batch once it is on disk, in version order. */
  onDurable(listener: (batch: DurableBatch) => void): void {
    this.durableListeners.push(listener);
  }

  get appendedVersion(): number {
    return this.lastVersion;
  }

  get currentFile(): string {
    return this.filePath;
  }

  /** Queues one record; resolves once it is on disk. */
  append(version: number, change: Change): Promise<void> {
    assert(!this.closed, 'append to an open changelog');
    assert(version === this.lastVersion + 1,
      `changelog version ${version} follows ${this.lastVersion}`);
    if (this.failed !== null) return Promise.reject(this.failed);
    const record = encodeRecord(version, change);
    let batch = this.batches[this.batches.length - 1];
    if (batch === undefined || batch.sealed || batch.lastVersion - batch.firstVersion + 1 >=
      this.opts.batchRecordsMax || batch.bytes + record.length > BATCH_BYTES_MAX) {
      batch = this.newBatch(version);
    }
    batch.buffers.push(record);
    batch.bytes += record.length;
    batch.lastVersion = version;
    this.lastVersion = version;
    this.kick();
    return batch.done;
  }

  /** Resolves once every record up to `version` is on disk. */
  whenDurable(version: number): Promise<void> {
    if (version <= this.durable) return Promise.resolve();
    assert(version <= this.lastVersion, `version ${version} was appended`);
    if (this.failed !== null) return Promise.reject(this.failed);
    const batch = this.batches.find((b) => b.lastVersion >= version);
    assert(batch !== undefined, `a batch holds version ${version}`);
    return batch.done;
  }

  /** Starts a new file once everything appended so far is on disk. */
  rotate(): Promise<void> {
    assert(!this.closed, 'rotate an open changelog');
    const p = new Promise<void>((resolve) => this.rotateWaiters.push(resolve));
    this.kick();
    return p;
  }

  /** Writes what is pending and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.whenDurable(this.lastVersion);
    while (this.flushing) await new Promise((r) => setImmediate(r));
    this.closed = true;
    await this.cutZeros();
    await this.fh.close();
  }

  snapshotStats(): ChangelogStats {
    let pending = 0;
    for (const b of this.batches) pending += b.lastVersion - b.firstVersion + 1;
    const nowS = Math.floor(Date.now() / 1000);
    let fsyncs = 0;
    let records = 0;
    for (const b of this.rateBuckets) {
      if (nowS - b.s >= RATE_WINDOW_S) continue;
      fsyncs += b.f;
      records += b.r;
    }
    return {
      ...this.stats, file: path.basename(this.filePath), pendingRecords: pending,
      durableVersion: this.durable, fsyncsPerSecond: fsyncs / RATE_WINDOW_S,
      recordsPerSecond: records / RATE_WINDOW_S,
    };
  }

  private newBatch(firstVersion: number): Batch {
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const done = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
    done.catch(() => undefined); // a failure is handled by onFatal; waiters see it too
    const batch: Batch = {
      buffers: [], bytes: 0, firstVersion, lastVersion: firstVersion - 1, sealed: false,
      done, resolve, reject,
    };
    this.batches.push(batch);
    return batch;
  }

  private kick(): void {
    if (this.flushing || this.failed !== null) return;
    this.flushing = true;
    // After every socket read of this turn of the event loop and its promise jobs: the changes
    // of all the requests that arrived together join the batch (a lone record is then truly
    // alone, see INLINE_WRITE_MS_MAX), and no change waits for a timer or a poll.
    setImmediate(() => {
      this.flushLoop().catch((err: unknown) => this.fail(err));
    });
  }

  private async flushLoop(): Promise<void> {
    for (;;) {
      // Rotation goes between two batches, so a steady stream of appends cannot starve it.
      if (this.rotateWaiters.length > 0) await this.rotateNow();
      const batch = this.batches[0];
      if (batch === undefined) break;
      batch.sealed = true;
      await this.writeBatch(batch);
      this.batches.shift();
      this.durable = batch.lastVersion;
      for (const listener of this.durableListeners) listener(batch);
      batch.resolve();
    }
    this.flushing = false;
    // Records appended while the last step ran.
    if (this.batches.length > 0 || this.rotateWaiters.length > 0) this.kick();
  }

  private async writeBatch(batch: Batch): Promise<void> {
    const t0 = performance.now();
    const end = this.positionBytes + batch.bytes;
    // Records never go where zeros are being written.
    if (this.preparing !== null && end > this.preparedTo) await this.preparing;
    const tWrite = performance.now();
    const records = batch.lastVersion - batch.firstVersion + 1;
    const inline = records === 1 &&
      this.lastWriteMs <= (this.opts.inlineWriteMsMax ?? INLINE_WRITE_MS_MAX);
    let written = 0;
    let buffers = batch.buffers;
    for (let attempt = 0; written < batch.bytes; attempt++) {
      assert(attempt < 1000, 'writev makes progress');
      const at = this.positionBytes + written;
      written += inline ? fs.writevSync(this.fh.fd, buffers, at)
        : (await this.fh.writev(buffers, at)).bytesWritten;
      if (written < batch.bytes) buffers = [Buffer.concat(batch.buffers).subarray(written)];
    }
    // No fdatasync: the file is O_DSYNC, so the data written is on disk now.
    const ms = performance.now() - t0;
    this.lastWriteMs = performance.now() - tWrite;
    if (inline) this.stats.inlineWrites++;
    this.positionBytes = end;
    this.preparedTo = Math.max(this.preparedTo, end);
    this.prepareAhead();
    this.stats.records += records;
    this.stats.bytes += batch.bytes;
    this.stats.fsyncs++;
    this.stats.fsyncMsTotal += ms;
    this.stats.fsyncMsMax = Math.max(this.stats.fsyncMsMax, ms);
    this.stats.batchRecordsMax = Math.max(this.stats.batchRecordsMax, records);
    const nowS = Math.floor(Date.now() / 1000);
    const bucket = this.rateBuckets[nowS % RATE_WINDOW_S]!;
    if (bucket.s !== nowS) Object.assign(bucket, { s: nowS, f: 0, r: 0 });
    bucket.f++;
    bucket.r += records;
  }

  /**
   * Writes the next PREPARE_BYTES of zeros past what is prepared, in the background, once the
   * records come near the end of it. A failure only costs speed: records append from there.
   */
  private prepareAhead(): void {
    if (this.preparing !== null || this.prepareFailed) return;
    if (this.preparedTo - this.positionBytes > PREPARE_LOW_WATER_BYTES) return;
    const { fh } = this;
    const from = this.preparedTo;
    this.preparing = fh.write(ZEROS, 0, PREPARE_BYTES, from).then(({ bytesWritten }) => {
      if (this.fh === fh) this.preparedTo = from + bytesWritten;
    }, (err: unknown) => {
      this.prepareFailed = true;
      this.opts.log.warn('changelog: zeros ahead of the records not written; appending', {
        file: path.basename(this.filePath), error: (err as Error).message,
      });
    }).finally(() => { this.preparing = null; });
  }

  /** Cuts the current file after its last record (zeros prepared past it go). */
  private async cutZeros(): Promise<void> {
    while (this.preparing !== null) await this.preparing;
    if (this.preparedTo > this.positionBytes) {
      // Readers take zeros for the end of the records anyway: a failed cut only leaves them.
      await this.fh.truncate(this.positionBytes).catch((err: unknown) => {
        this.opts.log.warn('changelog: zeros after the last record not cut', {
          file: path.basename(this.filePath), error: (err as Error).message,
        });
      });
    }
    this.preparedTo = this.positionBytes;
  }

  private async rotateNow(): Promise<void> {
    assert(this.batches.length === 0 || !this.batches[0]!.sealed, 'rotate between batches');
    const waiters = this.rotateWaiters;
    this.rotateWaiters = [];
    const next = this.durable + 1;
    if (next !== this.fileFirstVersion) { // a file that holds records: start the next one
      const created = await ChangelogWriter.createFile(this.opts.dir, next);
      await this.cutZeros();
      await this.fh.close();
      this.fh = created.fh;
      this.filePath = created.filePath;
      this.fileFirstVersion = next;
      this.positionBytes = CHANGELOG_HEADER_BYTES;
      this.preparedTo = CHANGELOG_HEADER_BYTES;
      this.prepareFailed = false;
      this.opts.log.info('changelog rotated', { file: path.basename(created.filePath) });
    }
    for (const w of waiters) w();
  }

  private fail(err: unknown): void {
    const status = statusFromSystemError(err);
    const error = new FsError(status, `changelog ${this.filePath}: ${(err as Error).message}`);
    this.failed = error;
    for (const b of this.batches) b.reject(error);
    this.opts.onFatal(error);
  }
}

/**
 * Removes changelog files whose every record is at or below `keepAfterVersion` (the oldest
 * dump kept), except the newest file. Returns the names removed.
 */
export async function pruneChangelogFiles(
  dir: string, keepAfterVersion: number,
): Promise<string[]> {
  const files: ChangelogFile[] = [];
  for (const name of await fsp.readdir(dir)) {
    const m = FILE_PATTERN.exec(name);
    if (m) files.push({ path: path.join(dir, name), firstVersion: Number(m[1]) });
  }
  files.sort((a, b) => a.firstVersion - b.firstVersion);
  const removed: string[] = [];
  for (let i = 0; i + 1 < files.length; i++) {
    const lastVersionInFile = files[i + 1]!.firstVersion - 1;
    if (lastVersionInFile > keepAfterVersion) break;
    await fsp.unlink(files[i]!.path);
    removed.push(path.basename(files[i]!.path));
  }
  return removed;
}
