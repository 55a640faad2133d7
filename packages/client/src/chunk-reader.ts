// Reads of one file's chunks. Locations come from CLTOMA_READ_CHUNKS for a batch of chunks at
// once and are cached until an error says they are stale. Each CLTOCS_READ asks one copy for
// at most READ_SIZE_MAX_BYTES; on any error the next copy is tried (least busy server first),
// a CHECKSUM_MISMATCH is reported with CLTOMA_REPORT_BAD_CHUNK, and when every copy failed the
// locations are fetched again, a bounded number of times. A chunk index the master does not
// list is a hole and reads as zeros; nothing past the file length is returned.
import {
  assert, CHUNK_INFO, CHUNK_SIZE_BYTES, CLTOCS_READ, CLTOMA_READ_CHUNKS, CLTOMA_REPORT_BAD_CHUNK,
  FsError, READ_SIZE_MAX_BYTES, Status, type Struct,
} from '@antlerfs/protocol';
import type { ChunkserverAgent } from './chunkserver-agent.ts';
import { backoffMs, sleep, toFsError, type Backoff } from './errors.ts';
import { readRequests, type ChunkSpan } from './file-geometry.ts';
import type { MasterSession } from './master-session.ts';

export type ChunkInfo = Struct<typeof CHUNK_INFO>;

export interface ChunkReaderContext extends Backoff {
  session: MasterSession;
  agent: ChunkserverAgent;
  inode: number;
  label: string;
  /** Chunks asked for in one CLTOMA_READ_CHUNKS (16 = 1 GiB of file per round trip). */
  locateBatchChunks: number;
  /** CLTOCS_READ requests in flight for one read() call. */
  readsInflightMax: number;
  /** Times the locations are fetched again after every copy of a chunk failed. */
  locateRetriesMax: number;
}

/**
 * A view this much smaller than the receive buffer under it is copied before it is handed out,
 * so a small read kept by the caller does not keep a whole receive buffer alive.
 */
const VIEW_KEEPS_BUFFER_RATIO = 4;

function ownView(data: Buffer): Buffer {
  return data.buffer.byteLength > VIEW_KEEPS_BUFFER_RATIO * data.length ? Buffer.from(data) : data;
}

/** Bytes read, as the views they arrived in, and the call that gives their buffers back. */
export interface Fetched {
  readonly parts: readonly Buffer[];
  /** Nothing reads the parts any more (call once, after copying them out; optional). */
  release(): void;
}

/** Cached chunks beyond this are dropped (a handle walking a huge file keeps a bounded map). */
const CACHED_CHUNKS_MAX = 4096;

export class ChunkReader {
  private readonly ctx: ChunkReaderContext;
  /** chunk index -> its info, or null for a hole; only indices inside the last fetched batch. */
  private readonly chunks = new Map<number, ChunkInfo | null>();
  private lengthBytes = -1;

  constructor(ctx: ChunkReaderContext) {
    assert(ctx.locateBatchChunks >= 1 && ctx.readsInflightMax >= 1, 'reader limits >= 1');
    this.ctx = ctx;
  }

  /** The file length the master gave with the last locations (-1 before the first). */
  get knownLengthBytes(): number {
    return this.lengthBytes;
  }

  invalidate(): void {
    this.chunks.clear();
    this.lengthBytes = -1;
  }

  /** Asks the master for the length and the chunks from `firstIndex` on. */
  async refresh(firstIndex: number): Promise<void> {
    const count = this.ctx.locateBatchChunks;
    const r = await this.ctx.session.call(CLTOMA_READ_CHUNKS, {
      inode: this.ctx.inode, firstIndex, count,
    }, this.ctx.label);
    this.prime(r.length, firstIndex, count, r.chunks);
  }

  /**
   * Takes what the master listed for `count` chunks from `firstIndex` (with the file's length
   * then): every listed index within the file is known, an unlisted one is a hole.
   */
  prime(lengthBytes: number, firstIndex: number, count: number, chunks: ChunkInfo[]): void {
    if (this.chunks.size > CACHED_CHUNKS_MAX) this.chunks.clear();
    this.lengthBytes = lengthBytes;
    const fileChunks = Math.ceil(lengthBytes / CHUNK_SIZE_BYTES);
    const last = Math.min(firstIndex + count, fileChunks);
    for (let i = firstIndex; i < last; i++) this.chunks.set(i, null);
    for (const c of chunks) {
      if (c.index >= firstIndex && c.index < last) this.chunks.set(c.index, c);
    }
  }

  /**
   * Reads up to `length` bytes at `position` into `buffer` at `offset`; returns the bytes read
   * (fewer at the end of the file). Requests run in parallel and land in place.
   */
  async read(
    buffer: Uint8Array, offset: number, length: number, position: number,
  ): Promise<number> {
    assert(offset >= 0 && length >= 0, 'read offset and length >= 0');
    assert(offset + length <= buffer.length, 'read within the buffer');
    if (this.lengthBytes < 0 || position + length > this.lengthBytes) {
      // Unknown or maybe grown since: the length comes with the locations.
      await this.refresh(Math.floor(position / CHUNK_SIZE_BYTES));
    }
    const n = Math.max(0, Math.min(length, this.lengthBytes - position));
    if (n === 0) return 0;
    const requests = readRequests(position, n);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < requests.length) {
        const span = requests[next++]!;
        let at = offset + span.rangeOffset;
        // The pieces the reply arrived in are copied straight into place (no join first).
        const got = await this.fetchParts(span);
        if (got === null) {
          buffer.fill(0, at, at + span.sizeBytes);
          continue;
        }
        for (const p of got.parts) {
          buffer.set(p, at);
          at += p.length;
        }
        got.release();
      }
    };
    const workers: Promise<void>[] = [];
    const workerCount = Math.min(this.ctx.readsInflightMax, requests.length);
    for (let i = 0; i < workerCount; i++) workers.push(worker());
    await Promise.all(workers);
    return n;
  }

  /**
   * The bytes of one request (within one chunk, <= READ_SIZE_MAX_BYTES): a view the caller owns,
   * or null for a hole. Does not trim to the file length.
   */
  async fetch(span: ChunkSpan): Promise<Buffer | null> {
    const got = await this.fetchParts(span);
    if (got === null) return null;
    const { parts } = got;
    const data = parts.length === 1 ? ownView(parts[0]!)
      : Buffer.concat(parts as Buffer[], span.sizeBytes);
    if (data !== parts[0]) got.release(); // a copy: the receive buffer may be read into again
    return data;
  }

  /**
   * Like fetch(), but the bytes as the pieces they arrived in (views of receive buffers), with
   * the call that gives those buffers back once the caller copied what it needs.
   */
  async fetchParts(span: ChunkSpan): Promise<Fetched | null> {
    assert(span.sizeBytes > 0 && span.sizeBytes <= READ_SIZE_MAX_BYTES, 'read request size');
    assert(span.offsetInChunk + span.sizeBytes <= CHUNK_SIZE_BYTES, 'read request within a chunk');
    let lastError: FsError | null = null;
    for (let round = 0; round <= this.ctx.locateRetriesMax; round++) {
      if (round > 0 && this.ctx.session.closed) break;
      if (round > 0) {
        // A copy with another version means our locations are old: ask again at once.
        const stale = lastError?.code === 'WRONG_VERSION' || lastError?.code === 'NO_SUCH_CHUNK';
        if (!stale || round > 1) await sleep(backoffMs(this.ctx, round - 1));
        this.chunks.delete(span.chunkIndex);
      }
      const info = await this.locate(span.chunkIndex);
      if (info === null) return null;
      if (info.locations.length === 0) {
        const context = `${this.ctx.label}: chunk ${info.chunkId} has no valid copy`;
        lastError = new FsError('CHUNK_LOST', context);
        continue;
      }
      const result = await this.fetchFromCopies(info, span);
      if (!(result instanceof FsError)) return result;
      lastError = result;
    }
    assert(lastError !== null, 'a failed read has an error');
    throw lastError;
  }

  /** Tries every copy once, least busy first; the data or the last copy's error. */
  private async fetchFromCopies(info: ChunkInfo, span: ChunkSpan): Promise<Fetched | FsError> {
    const { agent } = this.ctx;
    const copies = info.locations.length === 1 ? info.locations : info.locations
      .map((copy) => ({ copy, load: agent.load(copy.host, copy.port) }))
      .sort((a, b) => a.load - b.load)
      .map((c) => c.copy);
    let lastError: FsError | null = null;
    for (const copy of copies) {
      const connection = agent.pool(copy.host, copy.port).acquire();
      const context = `${this.ctx.label}: read chunk ${info.chunkId} from ${connection.address}`;
      try {
        const reply = await connection.request(CLTOCS_READ, {
          chunkId: info.chunkId, version: info.version, offset: span.offsetInChunk,
          size: span.sizeBytes,
        });
        if (reply.status === Status.OK) {
          const parts = reply.dataParts ?? [];
          let bytes = 0;
          for (const p of parts) bytes += p.length;
          if (bytes === span.sizeBytes) return { parts, release: () => reply.release?.() };
          const reason = `${context}: ${bytes} bytes for ${span.sizeBytes}`;
          lastError = new FsError('EPROTO', reason);
          continue;
        }
        lastError = new FsError(reply.status, context);
        if (reply.status === Status.CHECKSUM_MISMATCH) this.reportBadCopy(info, copy.csId);
      } catch (err) {
        lastError = toFsError(err, context);
      }
    }
    assert(lastError !== null, 'every copy failed with an error');
    return lastError;
  }

  private async locate(chunkIndex: number): Promise<ChunkInfo | null> {
    if (!this.chunks.has(chunkIndex)) await this.refresh(chunkIndex);
    return this.chunks.get(chunkIndex) ?? null;
  }

  private reportBadCopy(info: ChunkInfo, csId: number): void {
    const body = { chunkId: info.chunkId, version: info.version, csId };
    // Advisory: the chunkserver has told the master too, and the read goes on with another copy,
    // so a failed report changes nothing for this read.
    this.ctx.session.call(CLTOMA_REPORT_BAD_CHUNK, body, this.ctx.label).catch(() => undefined);
  }
}
