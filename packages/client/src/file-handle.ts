// An open file: POSIX-like reads and writes by position over the chunk writers and the chunk
// reader. Writes of whole blocks go out from the caller's buffer; partial blocks and small
// writes are gathered in a write-back buffer into whole blocks. Up to `chunkWritersMax` chunks
// are written at once; the bytes sent and not yet acknowledged are bounded (write() waits).
// A chunk write that fails for good makes the handle fail: every later call throws that error.
// fsync = flush + CLTOCS_FSYNC on each written chunk's chain + WRITE_END; close = flush +
// WRITE_END. Reads first finish this handle's writes, so a handle reads what it wrote.
import {
  assert, BLOCK_SIZE_BYTES, CHUNK_SIZE_BYTES, CLTOMA_GETATTR, CLTOMA_SETATTR, FILE_LENGTH_MAX_BYTES,
  FsError, READ_SIZE_MAX_BYTES, SetAttr, type Logger,
} from '@antlerfs/protocol';
import type { ChunkserverAgent } from './chunkserver-agent.ts';
import { ChunkReader, type ChunkInfo } from './chunk-reader.ts';
import {
  ChunkWriter, fsyncChunk, WriteGroup, type ChunkWriterContext, type PromisedChunk,
  type WrittenChunk,
} from './chunk-writer.ts';
import { toFsError } from './errors.ts';
import { forEachChunkSpan } from './file-geometry.ts';
import type { Attr } from './attr.ts';
import type { MasterSession } from './master-session.ts';
import { ReadAhead } from './read-ahead.ts';
import type { Tuning } from './tuning.ts';

export type OpenFlags = 'r' | 'r+' | 'w' | 'wx' | 'a' | 'a+';

export const OPEN_FLAGS: readonly OpenFlags[] = ['r', 'r+', 'w', 'wx', 'a', 'a+'];

export interface WriteOptions {
  /**
   * The handle may keep `buffer` until it is acknowledged (the caller never touches it again):
   * write() then returns as soon as the data is queued, and a failure is reported by a later
   * write, fsync or close. Without it, write() returns once the buffer may be reused.
   */
  transfer?: boolean;
  /**
   * With `transfer`: called once the handle reads `buffer` no more, every byte of it copied or
   * acknowledged by every copy, so the caller may reuse it. Never called when the write failed
   * (a copy may still be on its way from it).
   */
  released?: () => void;
}

export interface FileHandleContext {
  session: MasterSession;
  agent: ChunkserverAgent;
  tuning: Tuning;
  log: Logger;
  inode: number;
  flags: OpenFlags;
  /** Names the file in errors. */
  label: string;
  /** The file length when opened. */
  lengthBytes: number;
  /** Chunk locations that came with the open (from index 0), so the first read needs none. */
  located?: Located | null;
  /** A chunk CREATE promised for the new file's chunk 0 (its first writer starts there). */
  promised?: PromisedChunk | null;
}

/** The first `count` chunks of a file as the master listed them (a missing index: a hole). */
export interface Located {
  count: number;
  chunks: ChunkInfo[];
}

/** Bytes gathered for whole-block writes: [startBytes, startBytes + used) of the file. */
interface Staging {
  startBytes: number;
  usedBytes: number;
  capacityBytes: number;
  buffer: Buffer;
}

export class FileHandle {
  readonly inode: number;
  readonly flags: OpenFlags;
  private readonly ctx: FileHandleContext;
  private readonly canRead: boolean;
  private readonly canWrite: boolean;
  private readonly append: boolean;
  private position = 0;
  /** File length as this handle knows it: the master's plus this handle's writes. */
  private lengthBytes: number;
  private readonly writers = new Map<number, ChunkWriter>();
  private readonly unsynced = new Map<number, WrittenChunk>();
  private staging: Staging | null = null;
  /**
   * Size of the next staging buffer (whole blocks): a handle starts with what its write needs
   * and doubles up to stagingBytes as buffers fill, so a small file costs a small buffer (a
   * 1 MiB one per file kept the GC busy) and a stream soon gets full-size ones.
   */
  private stagingGrowBytes = BLOCK_SIZE_BYTES;
  private unackedBytes = 0;
  private budgetWaiters: (() => void)[] = [];
  private failure: FsError | null = null;
  /** Submissions run one at a time, in call order (the tail of the queue). */
  private submitting: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly reader: ChunkReader;
  private readonly readAhead: ReadAhead;
  private readonly writerContext: ChunkWriterContext;
  /** Given to the first writer of chunk 0, then gone. */
  private promised: PromisedChunk | null;

  constructor(ctx: FileHandleContext) {
    this.ctx = ctx;
    this.inode = ctx.inode;
    this.flags = ctx.flags;
    this.canRead = ctx.flags === 'r' || ctx.flags === 'r+' || ctx.flags === 'a+';
    this.canWrite = ctx.flags !== 'r';
    this.append = ctx.flags === 'a' || ctx.flags === 'a+';
    this.lengthBytes = ctx.lengthBytes;
    this.promised = ctx.promised ?? null;
    const t = ctx.tuning;
    this.reader = new ChunkReader({
      session: ctx.session, agent: ctx.agent, inode: ctx.inode, label: ctx.label,
      locateBatchChunks: t.locateBatchChunks, readsInflightMax: t.readsInflightMax,
      locateRetriesMax: t.locateRetriesMax, backoffMsMin: t.backoffMsMin,
      backoffMsMax: t.backoffMsMax,
    });
    if (ctx.located) this.reader.prime(ctx.lengthBytes, 0, ctx.located.count, ctx.located.chunks);
    this.readAhead = new ReadAhead(this.reader, t.readAheadSegments);
    this.writerContext = {
      session: ctx.session, agent: ctx.agent, inode: ctx.inode, label: ctx.label,
      windowBlocks: t.writeWindowBlocks, chainRetriesMax: t.writeChainRetriesMax,
      openAttemptsMax: t.writeOpenAttemptsMax, backoffMsMin: t.backoffMsMin,
      backoffMsMax: t.backoffMsMax, onSettled: (bytes) => this.onSettled(bytes),
    };
  }

  /**
   * Writes `buffer` at `position` (default: the handle's position, which then advances; with
   * 'a'/'a+' always at the end of the file). Returns the bytes written (all of them).
   */
  async write(
    buffer: Uint8Array, position?: number | null, options?: WriteOptions,
  ): Promise<number> {
    this.checkUsable('write');
    if (!this.canWrite) throw new FsError('EBADF', `${this.ctx.label}: not open for writing`);
    const data = Buffer.isBuffer(buffer)
      ? buffer
      : Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    const at = this.append ? this.lengthBytes : position ?? this.position;
    if (!Number.isSafeInteger(at) || at < 0) {
      throw new FsError('EINVAL', `${this.ctx.label}: write position ${at}`);
    }
    if (at + data.length > FILE_LENGTH_MAX_BYTES) throw new FsError('EFBIG', this.ctx.label);
    if (position === undefined || position === null || this.append) {
      this.position = at + data.length;
    }
    if (data.length === 0) return 0;
    this.lengthBytes = Math.max(this.lengthBytes, at + data.length);
    this.readAhead.clear();
    const transfer = options?.transfer === true;
    if (!transfer && data.length < this.ctx.tuning.directWriteMinBytes) {
      await this.serial(() => this.stage(at, data));
      return data.length;
    }
    const released = transfer ? options?.released : undefined;
    const group = transfer && released === undefined ? null : new WriteGroup();
    if (released !== undefined) group!.promise.then(released, () => undefined);
    await this.serial(() => this.writeAligned(at, data, group));
    if (transfer) return data.length;
    if (group !== null) {
      try {
        await group.promise;
      } catch (err) {
        throw this.noteFailure(err);
      }
    }
    return data.length;
  }

  /** Drops what reads fetched ahead and the chunk locations: others changed the file. */
  forgetReads(): void {
    this.readAhead.clear();
    this.reader.invalidate();
  }

  /**
   * Starts fetching the file's first `bytes` (at most READ_SIZE_MAX_BYTES) for the next read,
   * which uses them if it lies within them: an open for reading, whose first read usually
   * starts there, need not wait for a chunkserver round trip of its own.
   */
  prefetchStart(bytes: number): void {
    this.checkUsable('prefetch');
    if (!this.canRead || this.dirty()) return;
    const wanted = Math.min(bytes, this.lengthBytes, READ_SIZE_MAX_BYTES);
    if (wanted > 0) this.readAhead.startFirst(wanted);
  }

  /**
   * Reads up to `length` bytes into `buffer` at `offset` from `position` (default: the handle's
   * position, which then advances). Returns the bytes read; 0 at the end of the file.
   */
  async read(
    buffer: Uint8Array, offset = 0, length = buffer.length - offset, position?: number | null,
  ): Promise<number> {
    this.checkUsable('read');
    if (!this.canRead) throw new FsError('EBADF', `${this.ctx.label}: not open for reading`);
    if (offset < 0 || length < 0 || offset + length > buffer.length) {
      const what = `read of ${length} bytes at ${offset} into ${buffer.length}`;
      throw new FsError('EINVAL', `${this.ctx.label}: ${what}`);
    }
    if (this.dirty()) {
      await this.endWrites();
      this.reader.invalidate();
    }
    const at = position ?? this.position;
    let n: number;
    try {
      // Sequential reads of any size are fetched ahead; others go straight to the reader.
      n = await this.readAhead.read(buffer, offset, length, at);
    } catch (err) {
      throw toFsError(err, this.ctx.label);
    }
    if (position === undefined || position === null) this.position = at + n;
    return n;
  }

  /**
   * The bytes of one read request (within one chunk, at most READ_SIZE_MAX_BYTES) as a view the
   * caller owns, not trimmed to the file length: read streams push these without a copy.
   */
  async readRequest(position: number, sizeBytes: number): Promise<Buffer> {
    this.checkUsable('read');
    if (!this.canRead) throw new FsError('EBADF', `${this.ctx.label}: not open for reading`);
    if (this.dirty()) {
      await this.endWrites();
      this.reader.invalidate();
    }
    const chunkIndex = Math.floor(position / CHUNK_SIZE_BYTES);
    const offsetInChunk = position % CHUNK_SIZE_BYTES;
    assert(offsetInChunk + sizeBytes <= CHUNK_SIZE_BYTES, 'read request within a chunk');
    try {
      const span = { chunkIndex, offsetInChunk, sizeBytes, rangeOffset: 0 };
      const data = await this.reader.fetch(span);
      return data ?? Buffer.alloc(sizeBytes);
    } catch (err) {
      throw toFsError(err, this.ctx.label);
    }
  }

  /** Sends everything written so far and waits until every copy acknowledged it. */
  async flush(): Promise<void> {
    this.checkUsable('flush');
    await this.serial(async () => {
      await this.flushStaging();
      for (const w of this.writers.values()) await this.drainWriter(w);
    });
  }

  async fsync(): Promise<void> {
    this.checkUsable('fsync');
    await this.serial(async () => {
      await this.flushStaging();
      for (const w of this.writers.values()) {
        await this.drainWriter(w);
        this.unsynced.set(w.chunkIndex, w.written());
      }
      // Data first, then the length: a length on the master never covers unsynced bytes.
      await this.syncWritten();
      await this.endWritersLocked({ synced: true });
    });
  }

  async truncate(lengthBytes: number): Promise<void> {
    this.checkUsable('truncate');
    if (!this.canWrite) throw new FsError('EBADF', `${this.ctx.label}: not open for writing`);
    const valid = Number.isSafeInteger(lengthBytes) && lengthBytes >= 0;
    if (!valid || lengthBytes > FILE_LENGTH_MAX_BYTES) {
      throw new FsError('EINVAL', `${this.ctx.label}: length ${lengthBytes}`);
    }
    await this.endWrites();
    const r = await this.ctx.session.call(CLTOMA_SETATTR, {
      inode: this.inode, setMask: SetAttr.LENGTH, mode: 0, uid: 0, gid: 0, atimeMs: 0, mtimeMs: 0,
      length: lengthBytes,
    }, this.ctx.label);
    this.lengthBytes = r.attr.length;
    this.reader.invalidate();
    this.readAhead.clear();
  }

  /** The file's attributes; the length includes this handle's writes not yet ended. */
  async stat(): Promise<Attr> {
    this.checkUsable('stat');
    const body = { inode: this.inode };
    const { attr } = await this.ctx.session.call(CLTOMA_GETATTR, body, this.ctx.label);
    return this.dirty() ? { ...attr, length: Math.max(attr.length, this.lengthBytes) } : attr;
  }

  /** Flushes, ends every chunk write (WRITE_END) and closes. Throws the handle's failure. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (this.canWrite) await this.endWrites();
    } finally {
      this.closed = true;
      this.readAhead.clear();
    }
    if (this.failure !== null) throw this.failure;
  }

  /** Gives up: queued writes fail, leases are released. For callers that discard the file. */
  async abort(reason: FsError): Promise<void> {
    this.failure ??= reason;
    this.closed = true;
    this.staging = null;
    const writers = [...this.writers.values()];
    this.writers.clear();
    await Promise.all(writers.map((w) => w.abort(reason)));
  }

  private checkUsable(operation: string): void {
    if (this.closed) throw new FsError('EBADF', `${this.ctx.label}: ${operation} after close`);
    if (this.failure !== null) throw this.failure;
  }

  private dirty(): boolean {
    return this.staging !== null || this.writers.size > 0;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.submitting.then(fn);
    this.submitting = run.then(() => undefined, () => undefined);
    return run;
  }

  /** Records the first failure of the handle; returns it. */
  private noteFailure(err: unknown): FsError {
    this.failure ??= toFsError(err, this.ctx.label);
    return this.failure;
  }

  private async drainWriter(writer: ChunkWriter): Promise<void> {
    try {
      await writer.drain();
    } catch (err) {
      throw this.noteFailure(err);
    }
  }

  private checkWriters(): void {
    if (this.failure !== null) throw this.failure;
    for (const w of this.writers.values()) if (w.failed !== null) throw this.noteFailure(w.failed);
  }

  /** Whole blocks go out as views of `data`; the partial blocks at either end are staged. */
  private async writeAligned(at: number, data: Buffer, group: WriteGroup | null): Promise<void> {
    const toBlockEnd = (BLOCK_SIZE_BYTES - (at % BLOCK_SIZE_BYTES)) % BLOCK_SIZE_BYTES;
    const headBytes = Math.min(data.length, toBlockEnd);
    if (headBytes > 0) await this.stage(at, data.subarray(0, headBytes));
    const rest = data.length - headBytes;
    const alignedBytes = rest - (rest % BLOCK_SIZE_BYTES);
    if (alignedBytes > 0) {
      await this.flushStaging();
      await this.submit(at + headBytes, data.subarray(headBytes, headBytes + alignedBytes), group);
    }
    if (headBytes + alignedBytes < data.length) {
      await this.stage(at + headBytes + alignedBytes, data.subarray(headBytes + alignedBytes));
    }
    group?.done(); // the submitter's hold
  }

  /** Copies `data` into the write-back buffer, sending it whenever it fills or cannot extend. */
  private async stage(at: number, data: Buffer): Promise<void> {
    let done = 0;
    // Each round either copies bytes or starts a fresh buffer that the next round fills.
    for (let round = 0; done < data.length; round++) {
      assert(round <= 2 * Math.ceil(data.length / BLOCK_SIZE_BYTES) + 2, 'staging makes progress');
      const pos = at + done;
      const s = this.staging;
      const inside = s !== null && pos >= s.startBytes && pos <= s.startBytes + s.usedBytes;
      if (s !== null && inside && pos < s.startBytes + s.capacityBytes) {
        const offset = pos - s.startBytes;
        const n = Math.min(data.length - done, s.capacityBytes - offset);
        data.copy(s.buffer, offset, done, done + n);
        s.usedBytes = Math.max(s.usedBytes, offset + n);
        done += n;
        if (s.usedBytes === s.capacityBytes) await this.flushStaging();
      } else {
        await this.flushStaging();
        // The buffer ends on a block boundary, so a full one is sent as whole blocks.
        const intoBlock = pos % BLOCK_SIZE_BYTES;
        const blocks = Math.ceil((intoBlock + data.length - done) / BLOCK_SIZE_BYTES);
        const maxBytes = this.ctx.tuning.stagingBytes;
        const spanBytes =
          Math.min(maxBytes, Math.max(this.stagingGrowBytes, blocks * BLOCK_SIZE_BYTES));
        this.stagingGrowBytes = Math.min(maxBytes, 2 * spanBytes);
        const capacityBytes = spanBytes - intoBlock;
        const buffer = Buffer.allocUnsafe(capacityBytes);
        this.staging = { startBytes: pos, usedBytes: 0, capacityBytes, buffer };
      }
    }
  }

  /** `ending`: the writes end right after (a promised chunk 0 is then confirmed by WRITE_END). */
  private async flushStaging(ending = false): Promise<void> {
    const s = this.staging;
    this.staging = null;
    if (s === null || s.usedBytes === 0) return;
    await this.submit(s.startBytes, s.buffer.subarray(0, s.usedBytes), null, ending);
  }

  /** Hands `data` to the chunk writers, then waits while too much is unacknowledged. */
  private async submit(
    at: number, data: Buffer, group: WriteGroup | null, ending = false,
  ): Promise<void> {
    this.checkWriters();
    const spans: { chunkIndex: number; offsetInChunk: number; view: Buffer }[] = [];
    forEachChunkSpan(at, data.length, (s) => spans.push({
      chunkIndex: s.chunkIndex, offsetInChunk: s.offsetInChunk,
      view: data.subarray(s.rangeOffset, s.rangeOffset + s.sizeBytes),
    }));
    for (const span of spans) {
      const writer = await this.writerFor(span.chunkIndex, ending);
      this.unackedBytes += span.view.length;
      writer.submit(span.offsetInChunk, span.view, group);
    }
    while (this.unackedBytes > this.ctx.tuning.writeBehindMaxBytes && this.failure === null) {
      this.confirmPromised();
      await new Promise<void>((resolve) => this.budgetWaiters.push(resolve));
      this.checkWriters();
    }
    this.checkWriters();
  }

  /**
   * A promised chunk 0 whose writer holds its acknowledgements for the end's WRITE_END is asked
   * for now: this handle waits for those acknowledgements.
   */
  private confirmPromised(): void {
    this.writers.get(0)?.confirm();
  }

  private onSettled(bytes: number): void {
    this.unackedBytes -= bytes;
    assert(this.unackedBytes >= 0, 'settled no more than was sent');
    if (this.unackedBytes > this.ctx.tuning.writeBehindMaxBytes) return;
    const waiters = this.budgetWaiters;
    this.budgetWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * `ending`: the writer is ended right after its first data (bytes staged until the close), so
   * a promised chunk 0 is confirmed by its WRITE_END instead of a WRITE_CHUNK of its own: one
   * master request and changelog write fewer. Data sent earlier (large or handed-over writes)
   * asks WRITE_CHUNK at once, which then runs while the data is on its way.
   */
  private async writerFor(chunkIndex: number, ending: boolean): Promise<ChunkWriter> {
    const existing = this.writers.get(chunkIndex);
    if (existing !== undefined) return existing;
    // Bounded: each round ends one writer.
    while (this.writers.size >= this.ctx.tuning.chunkWritersMax) {
      const oldest = Math.min(...this.writers.keys());
      await this.endWriter(this.writers.get(oldest)!);
    }
    const promised = chunkIndex === 0 ? this.promised : null;
    if (chunkIndex === 0) this.promised = null;
    const writer = new ChunkWriter(this.writerContext, chunkIndex, promised, ending);
    this.writers.set(chunkIndex, writer);
    return writer;
  }

  private async endWriter(writer: ChunkWriter, synced = false): Promise<void> {
    this.writers.delete(writer.chunkIndex);
    try {
      const attr = await writer.end();
      if (attr !== null) this.lengthBytes = Math.max(this.lengthBytes, attr.length);
    } catch (err) {
      throw this.noteFailure(err);
    }
    if (synced) return;
    this.unsynced.set(writer.chunkIndex, writer.written());
    if (this.unsynced.size > this.ctx.tuning.unsyncedChunksMax) await this.syncWritten();
  }

  /** Sends staged bytes and ends every chunk write; the first failure is thrown after all ended. */
  private endWrites(): Promise<void> {
    return this.serial(async () => {
      await this.flushStaging(true).catch((err: unknown) => this.noteFailure(err));
      await this.endWritersLocked();
    });
  }

  private async endWritersLocked(opts = { synced: false }): Promise<void> {
    const writers = [...this.writers.values()].sort((a, b) => a.chunkIndex - b.chunkIndex);
    for (const w of writers) {
      // A failure is recorded in this.failure by endWriter and thrown below, after all ended.
      await this.endWriter(w, opts.synced).catch(() => undefined);
    }
    assert(this.writers.size === 0, 'every writer ended');
    if (this.failure !== null) throw this.failure;
  }

  private async syncWritten(): Promise<void> {
    const chunks = [...this.unsynced.values()];
    this.unsynced.clear();
    try {
      await Promise.all(chunks.map((c) => fsyncChunk(this.ctx.agent, c, this.ctx.label)));
    } catch (err) {
      throw this.noteFailure(err);
    }
  }
}
