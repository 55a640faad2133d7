// Replication: on the master's order (MATOCS_REPLICATE) this chunkserver copies a chunk from
// another chunkserver's data port. Sources are tried in order and the first that answers is
// used: its checksum table first (CSTOCS_GET_CHECKSUMS), then the data in CLTOCS_READ pieces of
// up to 1 MiB, several in flight, each verified on arrival against the source's table and
// written to a temporary file (replica-file.ts). A bad piece or a failing source moves on to the
// next source.
// Once every piece is in, the file is fsynced and renamed into place (replacing any copy of that
// id); only then is the copy served and the order answered. A crash mid-copy leaves only the
// temporary file, which the start-up scan removes. At most REPLICATIONS_MAX copies run at once,
// up to REPLICATION_QUEUE_MAX more wait (EAGAIN past that), and all share one bandwidth bucket.
import {
  BLOCK_SIZE_BYTES, BLOCKS_PER_CHUNK, CHUNK_SIZE_BYTES, CLTOCS_READ, CSTOCS_GET_CHECKSUMS, FsError,
  PAYLOAD_MAX_DATA_BYTES, READ_SIZE_MAX_BYTES, ZERO_BLOCK_CHECKSUM, assert, connectLink,
  type Link, type Logger,
} from '@antlerfs/protocol';
import { CHECKSUMS_BYTES } from './chunk-file.ts';
import type { ChecksumPool } from './checksum-pool.ts';
import { verifyPiece } from './checksum-worker.ts';
import type { ChunkStore } from './chunk-store.ts';
import { ReplicaFile } from './replica-file.ts';
import { TokenBucket } from './token-bucket.ts';
import type { Hop } from './write-chain.ts';

export interface ReplicationOrder {
  chunkId: number;
  version: number;
  sources: Hop[];
}

/**
 * Where pieces are checked: on the checksum workers (1 MiB pieces, buffer moved there and back)
 * or on the event loop. Inline is the default: bench/replication.bench.ts measured it faster
 * for 1 MiB pieces on loopback (about 1150 vs 930 MB/s median, 64 MiB chunk, 2 cores): xxh64 of
 * 1 MiB costs about 70 us on the event loop, no more than a worker hand-off and return.
 */
export type PieceVerification = 'pool' | 'inline';

export interface ReplicatorOptions {
  store: ChunkStore;
  checksumPool: ChecksumPool;
  log: Logger;
  replicationsMax: number;
  queueMax: number;
  /** Shared by all replications; 0 = unlimited. */
  bytesPerSecond: number;
  readsInflightMax: number;
  timeoutMs: number;
  verification?: PieceVerification;
}

/** Counters answered by CLTOCS_STATS. replication_bytes: bytes received from sources. */
export interface ReplicatorCounters {
  replications_done: number;
  replications_failed: number;
  replications_refused: number;
  replication_bytes: number;
}

/** Sources a single order may name (more is a malformed order, not a long list to try). */
const SOURCES_MAX = 16;
const SOURCE_CONNECT_TIMEOUT_MS = 5000;
const MIB = 1024 * 1024;

export class Replicator {
  readonly counters: ReplicatorCounters = {
    replications_done: 0, replications_failed: 0, replications_refused: 0, replication_bytes: 0,
  };
  private readonly opts: ReplicatorOptions;
  private readonly log: Logger;
  private readonly bucket: TokenBucket;
  private readonly verification: PieceVerification;
  private running = 0;
  /** Orders waiting for a slot, in arrival order; a finishing copy hands its slot over. */
  private readonly queue: (() => void)[] = [];
  /** Copies in progress or queued, by chunk id (a repeated order joins the first). */
  private readonly jobs = new Map<number, { version: number; result: Promise<number> }>();
  /** Links to sources open now, closed on stop. */
  private readonly links = new Set<Link>();
  private stopping = false;
  private idleWaiters: (() => void)[] = [];

  constructor(opts: ReplicatorOptions) {
    assert(opts.replicationsMax >= 1, `REPLICATIONS_MAX ${opts.replicationsMax}`);
    assert(opts.queueMax >= 0, `REPLICATION_QUEUE_MAX ${opts.queueMax}`);
    assert(opts.readsInflightMax >= 1, `REPLICATION_READS_INFLIGHT_MAX ${opts.readsInflightMax}`);
    this.opts = opts;
    this.log = opts.log;
    this.verification = opts.verification ?? 'inline';
    // One piece may always go at once, however low the rate.
    this.bucket = new TokenBucket({
      bytesPerSecond: opts.bytesPerSecond, burstBytes: Math.max(opts.bytesPerSecond, MIB),
    });
  }

  /** Copies running and waiting now. */
  get load(): { running: number; queued: number } {
    return { running: this.running, queued: this.queue.length };
  }

  /** Copies the chunk here; resolves with its length once it is held and served. */
  replicate(order: ReplicationOrder): Promise<number> {
    const { chunkId, version, sources } = order;
    if (chunkId <= 0 || version <= 0 || sources.length === 0 || sources.length > SOURCES_MAX) {
      throw new FsError('EINVAL',
        `replicate chunk ${chunkId} version ${version} from ${sources.length} sources`);
    }
    if (this.stopping) throw new FsError('EAGAIN', 'chunkserver is stopping');
    const same = this.jobs.get(chunkId);
    if (same !== undefined) {
      if (same.version === version) return same.result;
      throw new FsError('EAGAIN', `chunk ${chunkId} version ${same.version} is being replicated`);
    }
    if (this.running >= this.opts.replicationsMax && this.queue.length >= this.opts.queueMax) {
      this.counters.replications_refused++;
      throw new FsError('EAGAIN',
        `${this.running} replications running and ${this.queue.length} waiting`);
    }
    const result = this.admitted(order);
    this.jobs.set(chunkId, { version, result });
    const forget = (): void => {
      if (this.jobs.get(chunkId)?.result === result) this.jobs.delete(chunkId);
    };
    result.then(forget, forget);
    return result;
  }

  /** Waits for a slot (FIFO), copies, then hands the slot to the next waiting order. */
  private async admitted(order: ReplicationOrder): Promise<number> {
    if (this.running >= this.opts.replicationsMax) {
      await new Promise<void>((resolve) => this.queue.push(resolve));
    } else {
      this.running++;
    }
    try {
      if (this.stopping) throw new FsError('EAGAIN', 'chunkserver is stopping');
      return await this.copy(order);
    } finally {
      const next = this.queue.shift();
      if (next !== undefined) next();
      else this.running--;
      assert(this.running >= 0, 'running copies never negative');
      if (this.running === 0) this.wakeIdle();
    }
  }

  /** Tries each source in turn; the first complete, verified copy wins. */
  private async copy(order: ReplicationOrder): Promise<number> {
    const startedMs = Date.now();
    let lastError: unknown = null;
    for (const source of order.sources) {
      if (this.stopping) break;
      try {
        const lengthBytes = await this.copyFrom(order, source);
        this.counters.replications_done++;
        const ms = Math.max(1, Date.now() - startedMs);
        this.log.info('chunk replicated', {
          chunkId: order.chunkId, version: order.version, lengthBytes,
          source: `${source.host}:${source.port}`, ms, mbPerS: Math.round(lengthBytes / 1000 / ms),
        });
        return lengthBytes;
      } catch (err) {
        if (!(err instanceof FsError)) throw err; // a bug: logged with its stack by the link
        lastError = err;
        this.log.warn('replication source failed', {
          chunkId: order.chunkId, version: order.version, source: `${source.host}:${source.port}`,
          error: err.message,
        });
        // No room here: another source would not help.
        if (err.code === 'ENOSPC') break;
      }
    }
    this.counters.replications_failed++;
    if (this.stopping) throw new FsError('EAGAIN', 'chunkserver is stopping');
    assert(lastError !== null, 'a failed copy tried a source');
    throw lastError;
  }

  /** Copies the whole chunk from one source into place; returns its length. */
  private async copyFrom(order: ReplicationOrder, source: Hop): Promise<number> {
    const link = await connectLink(source.host, source.port, {
      kind: 'data', payloadMaxBytes: PAYLOAD_MAX_DATA_BYTES, log: this.log,
      inflightMax: this.opts.readsInflightMax, requestTimeoutMs: this.opts.timeoutMs,
      connectTimeoutMs: Math.min(this.opts.timeoutMs, SOURCE_CONNECT_TIMEOUT_MS),
    });
    this.links.add(link);
    if (this.stopping) link.close('chunkserver is stopping');
    try {
      const { lengthBytes, table } = await this.sourceChecksums(link, order);
      const disk = await this.opts.store.diskForReplica(lengthBytes);
      const file = await ReplicaFile.create(disk, { ...order, lengthBytes, checksums: table },
        this.opts.store.cache);
      try {
        await this.pull(link, order, lengthBytes, table, file);
        await file.finish();
        await this.opts.store.installReplica({ ...order, lengthBytes, disk }, file.path);
      } catch (err) {
        await file.discard();
        throw err;
      }
      return lengthBytes;
    } finally {
      this.links.delete(link);
      link.close('replication finished');
    }
  }

  /** The source's stored length and a whole table (zero-block checksums past the length). */
  private async sourceChecksums(
    link: Link, order: ReplicationOrder,
  ): Promise<{ lengthBytes: number; table: Buffer }> {
    const reply = await link.call(CSTOCS_GET_CHECKSUMS,
      { chunkId: order.chunkId, version: order.version });
    const { lengthBytes } = reply.body;
    const blocks = Math.ceil(lengthBytes / BLOCK_SIZE_BYTES);
    if (lengthBytes > CHUNK_SIZE_BYTES || reply.data.length !== 8 * blocks) {
      throw new FsError('EPROTO',
        `${link.peer}: ${reply.data.length} checksum bytes for a length of ${lengthBytes}`);
    }
    const table = Buffer.alloc(CHECKSUMS_BYTES);
    reply.data.copy(table);
    for (let b = blocks; b < BLOCKS_PER_CHUNK; b++) {
      table.writeBigUInt64BE(ZERO_BLOCK_CHECKSUM, 8 * b);
    }
    return { lengthBytes, table };
  }

  /**
   * Fills the file with every piece, at most readsInflightMax in flight; waits for all of them
   * (none is left writing) and throws the first failure.
   */
  private async pull(
    link: Link, order: ReplicationOrder, lengthBytes: number, table: Buffer, file: ReplicaFile,
  ): Promise<void> {
    const pieceCount = Math.ceil(lengthBytes / READ_SIZE_MAX_BYTES);
    let next = 0;
    let failure: unknown = null;
    // Each fetcher takes the next piece until none is left or one failed: bounded by pieceCount.
    const fetcher = async (): Promise<void> => {
      while (next < pieceCount && failure === null) {
        const index = next++;
        try {
          await this.pullPiece(link, order, { lengthBytes, table, file }, index);
        } catch (err) {
          failure ??= err;
        }
      }
    };
    const fetchers = Math.min(this.opts.readsInflightMax, pieceCount);
    await Promise.all(Array.from({ length: fetchers }, fetcher));
    if (failure !== null) throw failure;
  }

  /** Reads piece `index` (whole blocks), verifies it, writes its stored bytes. */
  private async pullPiece(
    link: Link, order: ReplicationOrder, target: ReplicaTarget, index: number,
  ): Promise<void> {
    const offset = index * READ_SIZE_MAX_BYTES;
    const storedBytes = Math.min(READ_SIZE_MAX_BYTES, target.lengthBytes - offset);
    assert(storedBytes > 0, `piece ${index} holds data`);
    // Whole blocks: the source zero-pads the last one, as its checksum covers it.
    const size = Math.ceil(storedBytes / BLOCK_SIZE_BYTES) * BLOCK_SIZE_BYTES;
    if (!(await this.bucket.take(size))) throw new FsError('EAGAIN', 'chunkserver is stopping');
    const reply = await link.call(CLTOCS_READ,
      { chunkId: order.chunkId, version: order.version, offset, size });
    if (reply.data.length !== size) {
      throw new FsError('EPROTO', `${link.peer}: read of ${size} bytes gave ${reply.data.length}`);
    }
    this.counters.replication_bytes += size;
    const firstBlock = offset / BLOCK_SIZE_BYTES;
    const sums = target.table.subarray(8 * firstBlock, 8 * (firstBlock + size / BLOCK_SIZE_BYTES));
    const { badBlocks, data } = await this.verify(reply.data, sums);
    if (badBlocks.length > 0) {
      throw new FsError('CHECKSUM_MISMATCH',
        `block ${firstBlock + badBlocks[0]!} of chunk ${order.chunkId} from ${link.peer}`);
    }
    await target.file.write(data.subarray(0, storedBytes), offset);
  }

  /**
   * Checks a piece against its checksums. Whole 1 MiB pieces go to the checksum workers when
   * their buffer can move there (it holds only this reply); anything else is checked inline.
   */
  private async verify(
    data: Buffer, sums: Buffer,
  ): Promise<{ badBlocks: number[]; data: Buffer }> {
    if (this.verification === 'pool' && data.length === READ_SIZE_MAX_BYTES && movable(data)) {
      return this.opts.checksumPool.verifyPiece(data, sums);
    }
    return { badBlocks: verifyPiece(data, sums), data };
  }

  /** Refuses new orders, fails waiting ones, aborts running copies and waits for them. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.bucket.close();
    for (const link of this.links) link.close('chunkserver is stopping');
    // Waiting orders wake one by one as slots are handed over, and each fails at once.
    if (this.running > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

interface ReplicaTarget {
  lengthBytes: number;
  /** The source's whole checksum table. */
  table: Buffer;
  file: ReplicaFile;
}

/**
 * True when `data` fills its ArrayBuffer, bar the reply's status byte before it (a reply read
 * whole into its own buffer, or joined from the pieces it came in): nobody else holds a view of
 * it, so the ArrayBuffer may move to a worker thread.
 */
function movable(data: Buffer): boolean {
  if (!(data.buffer instanceof ArrayBuffer)) return false;
  const before = data.byteOffset;
  return (before === 0 || before === 1) && data.buffer.byteLength === before + data.length;
}
