// Writes to one chunk of one file. CLTOMA_WRITE_CHUNK takes the chunk's write lease and gives
// the chain; block pieces then stream to chain[0] as CLTOCS_WRITE (the rest of the chain as
// hops), at most `windowBlocks` in flight, each payload a view of the caller's buffer sent with
// its xxh64. On a chain failure the writer lets the pieces in flight settle, asks the master
// for a fresh chain and resends every unacknowledged piece, a bounded number of times without
// progress. end() sends CLTOMA_WRITE_END with the file length the writes reached.
// The write lease belongs to one master session: when the session opens again after a lost
// link (a master restart or failover), the writer lets its pieces in flight settle and asks the
// new master for the chunk again (CLTOMA_WRITE_CHUNK: a new version on the holders it knows),
// then goes on; what the chunkservers acknowledged stays written.
// A writer given a chunk promised at CREATE (a new file's chunk 0) starts sending to its chain at
// once; what the chain acknowledges is held, not reported, until the master confirms the chunk:
// with CLTOMA_WRITE_CHUNK naming it, sent at once (it runs while the data is on its way), or,
// for a writer ended right after its data (`confirmAtEnd`: a small file's bytes staged until
// the close), with its CLTOMA_WRITE_END naming it, which takes the chunk and sets the length in
// one changelog write; a failed piece or a wait for acknowledgements (confirm()) asks
// WRITE_CHUNK instead. Either answer settles the held pieces when it is the same chunk;
// otherwise (the promise lapsed: time, a master restart, another writer) every piece is sent
// again to the chunk given instead.
// Invariant: pieces that overlap within a block reach the chunkserver in submission order.
import {
  assert, checksum, CHUNK_SIZE_BYTES, CLTOCS_FSYNC, CLTOCS_WRITE, CLTOMA_WRITE_CHUNK,
  CLTOMA_WRITE_END, FsError, HOP, LOCATION, Status, type StatusCode, type Struct,
} from '@antlerfs/protocol';
import type { ChunkserverAgent } from './chunkserver-agent.ts';
import type { ChunkserverConnection } from './chunkserver-connection.ts';
import { backoffMs, sleep, toFsError, type Backoff } from './errors.ts';
import { forEachBlockPiece } from './file-geometry.ts';
import type { MasterSession } from './master-session.ts';

export type Location = Struct<typeof LOCATION>;
type Hop = Struct<typeof HOP>;
type Attr = Struct<typeof CLTOMA_WRITE_END.reply.fields>['attr'];

/** The pieces of one write call: settles when all are acknowledged, or at the first failure. */
export class WriteGroup {
  readonly promise: Promise<void>;
  // Starts at 1: a hold released by the submitter, so the group cannot settle half-submitted.
  private remaining = 1;
  private error: FsError | null = null;
  private resolveFn!: () => void;
  private rejectFn!: (err: FsError) => void;

  constructor() {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
    // A failure is also reported through the file handle; this keeps an unawaited group quiet.
    this.promise.catch(() => undefined);
  }

  add(): void {
    this.remaining++;
  }

  /** One piece (or the submitter's hold) is done. */
  done(): void {
    assert(this.remaining > 0, 'write group settled once per piece');
    this.remaining--;
    if (this.remaining === 0 && this.error === null) this.resolveFn();
  }

  fail(err: FsError): void {
    if (this.error !== null) return;
    this.error = err;
    this.rejectFn(err);
  }
}

interface Piece {
  seq: number;
  blockIndex: number;
  offsetInBlock: number;
  data: Buffer;
  checksum: bigint;
  group: WriteGroup | null;
}

export interface ChunkWriterContext extends Backoff {
  session: MasterSession;
  agent: ChunkserverAgent;
  inode: number;
  /** Names the file in errors (its path, or "inode N"). */
  label: string;
  /** Block pieces in flight on the chain. */
  windowBlocks: number;
  /** Fresh chains asked for in a row without any piece acknowledged in between. */
  chainRetriesMax: number;
  /** CLTOMA_WRITE_CHUNK attempts on a retryable status (CHUNK_BUSY, NO_CHUNKSERVERS...). */
  openAttemptsMax: number;
  /** A piece's bytes are acknowledged, or dropped after a failure (the handle's budget). */
  onSettled(bytes: number): void;
}

/** A chunk CREATE promised for a new file's chunk 0: written to before WRITE_CHUNK answers. */
export interface PromisedChunk {
  chunkId: number;
  version: number;
  chain: Location[];
}

/** What fsync needs to reach every copy of a chunk after its writer is gone. */
export interface WrittenChunk {
  chunkIndex: number;
  chunkId: number;
  version: number;
  chain: Location[];
}

/**
 * opening: waiting for the master's chain. tentative: sending to a promised chunk while the
 * master is asked for it. switching: the master gave another chunk; waiting for the pieces in
 * flight to the promised one before sending everything there.
 */
type WriterState = 'opening' | 'tentative' | 'switching' | 'open' | 'recovering' | 'failed'
  | 'ended';
type WriteChunkAnswer = Struct<typeof CLTOMA_WRITE_CHUNK.reply.fields>;

export class ChunkWriter {
  readonly chunkIndex: number;
  chunkId = 0;
  version = 0;
  chain: Location[] = [];
  private readonly ctx: ChunkWriterContext;
  private state: WriterState = 'opening';
  private connection: ChunkserverConnection | null = null;
  private hops: Hop[] = [];
  private pending: Piece[] = [];
  private readonly inflight = new Set<Piece>();
  private retry: Piece[] = [];
  /** Pieces a promised chunk acknowledged before the master confirmed it. */
  private held: Piece[] = [];
  /** The promised chunk until the master answers for it (0: none). */
  private promisedChunkId = 0;
  /** Set while a promised chunk waits to be confirmed by the end's WRITE_END. */
  private endConfirms = false;
  /** The chunk to switch to once nothing is in flight (switching). */
  private switchTo: WriteChunkAnswer | null = null;
  private chainError: FsError | null = null;
  private chainFailures = 0;
  private failure: FsError | null = null;
  private nextSeq = 0;
  private reachedEndBytes = 0;
  private idleWaiters: (() => void)[] = [];
  /** Session epoch in which the master gave us the lease (0: none yet). */
  private leaseEpoch = 0;
  private readonly stopWatchingSession: () => void;

  constructor(
    ctx: ChunkWriterContext, chunkIndex: number, promised: PromisedChunk | null = null,
    confirmAtEnd = false,
  ) {
    assert(ctx.windowBlocks >= 1, 'windowBlocks >= 1');
    this.ctx = ctx;
    this.chunkIndex = chunkIndex;
    this.stopWatchingSession = ctx.session.onReconnect(() => this.onLeaseLost());
    if (promised !== null && promised.chain.length > 0) {
      this.promisedChunkId = promised.chunkId;
      this.useChain(promised);
      this.state = 'tentative';
      if (confirmAtEnd) {
        this.endConfirms = true;
        return;
      }
    }
    void this.openChain();
  }

  get failed(): FsError | null {
    return this.failure;
  }

  /** Queues `data` (a view the writer keeps until acknowledged) at `offsetInChunk`. */
  submit(offsetInChunk: number, data: Buffer, group: WriteGroup | null): void {
    assert(this.state !== 'ended', 'submit to an ended chunk writer');
    assert(offsetInChunk + data.length <= CHUNK_SIZE_BYTES, 'write within the chunk');
    if (this.failure !== null) {
      this.ctx.onSettled(data.length);
      group?.fail(this.failure);
      return;
    }
    const end = this.chunkIndex * CHUNK_SIZE_BYTES + offsetInChunk + data.length;
    this.reachedEndBytes = Math.max(this.reachedEndBytes, end);
    forEachBlockPiece(offsetInChunk, data.length, (bp) => {
      const slice = data.subarray(bp.spanOffset, bp.spanOffset + bp.sizeBytes);
      group?.add();
      this.pending.push({
        seq: this.nextSeq++, blockIndex: bp.blockIndex, offsetInBlock: bp.offsetInBlock,
        data: slice, checksum: checksum(slice), group,
      });
    });
    this.pump();
  }

  /** Resolves when every submitted piece is acknowledged; throws the writer's failure. */
  async drain(): Promise<void> {
    this.confirm(); // a flush or an fsync needs the chunk to be the file's
    while (!this.idle()) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    if (this.failure !== null) throw this.failure;
  }

  /** Drains, then CLTOMA_WRITE_END with the length reached; releases the lease on failure too. */
  async end(): Promise<Attr | null> {
    assert(this.state !== 'ended', 'chunk writer ended twice');
    if (this.endConfirms) {
      const attr = await this.endPromised();
      if (attr !== undefined) return attr;
    }
    try {
      await this.drain();
    } catch (err) {
      await this.releaseLease();
      throw err;
    }
    this.state = 'ended';
    this.stopWatchingSession();
    return this.writeEnd(this.reachedEndBytes);
  }

  /** Stops writing: queued pieces fail with `reason`; the lease is released. */
  async abort(reason: FsError): Promise<void> {
    if (this.state === 'ended') return;
    this.fail(reason);
    await this.drain().catch(() => undefined); // the failure is `reason` itself
    await this.releaseLease();
  }

  written(): WrittenChunk {
    return {
      chunkIndex: this.chunkIndex, chunkId: this.chunkId, version: this.version, chain: this.chain,
    };
  }

  /**
   * The end of a write into a promised chunk not yet confirmed: once the chain acknowledged
   * every piece, one WRITE_END names the chunk as promised and the master takes it with the
   * length. Undefined when that did not happen (a piece failed, the promise no longer held, a
   * wait for acknowledgements): the chunk was then asked for with WRITE_CHUNK and end() goes on
   * as usual.
   */
  private async endPromised(): Promise<Attr | null | undefined> {
    while (this.endConfirms && !this.quiet()) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    if (!this.endConfirms) return undefined;
    this.endConfirms = false;
    let attr: Attr | null;
    try {
      attr = await this.writeEnd(this.reachedEndBytes, true);
    } catch {
      // Whatever went wrong, WRITE_CHUNK naming the promise sorts it out: the same chunk, or
      // another to send everything to again, or the error that fails the write.
      void this.openChain();
      return undefined;
    }
    this.promisedChunkId = 0;
    this.state = 'ended';
    this.stopWatchingSession();
    this.settleHeld();
    return attr;
  }

  /**
   * Asks the master for the promised chunk now instead of at the end (WRITE_CHUNK): what the
   * chain acknowledged is reported once it answers. Nothing to do for any other writer.
   */
  confirm(): void {
    if (!this.endConfirms) return;
    this.endConfirms = false;
    void this.openChain();
  }

  private idle(): boolean {
    const settled = this.state === 'open' || this.state === 'failed' || this.state === 'ended';
    return settled && this.quiet();
  }

  /** Nothing waits to be sent or is on its way. */
  private quiet(): boolean {
    return this.pending.length === 0 && this.retry.length === 0 && this.inflight.size === 0;
  }

  /** Wakes the waiters when they may be done: each checks its own condition again. */
  private wakeIfIdle(): void {
    if (!this.idle() && !(this.endConfirms && this.quiet())) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private pump(): void {
    const tentative = this.state === 'tentative' && this.chainError === null;
    if (this.state !== 'open' && !tentative) return;
    while (this.inflight.size < this.ctx.windowBlocks && this.pending.length > 0) {
      const piece = this.pending[0]!;
      if (this.overlapsInflight(piece)) break; // keeps overlapping writes in order
      this.pending.shift();
      this.send(piece);
    }
  }

  private overlapsInflight(p: Piece): boolean {
    for (const q of this.inflight) {
      if (q.blockIndex !== p.blockIndex) continue;
      if (p.offsetInBlock < q.offsetInBlock + q.data.length
        && q.offsetInBlock < p.offsetInBlock + p.data.length) return true;
    }
    return false;
  }

  private send(piece: Piece): void {
    const connection = this.connection;
    assert(connection !== null, 'an open writer has a connection');
    this.inflight.add(piece);
    connection.request(CLTOCS_WRITE, {
      chunkId: this.chunkId, version: this.version, blockIndex: piece.blockIndex,
      offsetInBlock: piece.offsetInBlock, checksum: piece.checksum, chain: this.hops,
    }, piece.data).then(
      (reply) => this.settle(
        piece, reply.status === Status.OK ? null : this.pieceError(piece, reply.status),
      ),
      (err: unknown) => this.settle(piece, this.pieceError(piece, err)),
    );
  }

  /** The error of a piece, naming the file, chunk, block and server (built only on failure). */
  private pieceError(piece: Piece, cause: unknown): FsError {
    const where = `${this.ctx.label}: write chunk ${this.chunkId} block ${piece.blockIndex}`;
    const context = `${where} via ${this.connection?.address ?? 'no connection'}`;
    if (typeof cause === 'number') return new FsError(cause as StatusCode, context);
    return toFsError(cause, context);
  }

  private settle(piece: Piece, error: FsError | null): void {
    const removed = this.inflight.delete(piece);
    assert(removed, 'a settled piece was in flight');
    if (error === null) {
      this.chainFailures = 0;
      if (this.state === 'tentative' || this.state === 'switching') {
        this.held.push(piece);
      } else {
        this.ctx.onSettled(piece.data.length);
        piece.group?.done();
      }
    } else if (this.state === 'failed') {
      this.ctx.onSettled(piece.data.length);
      piece.group?.fail(this.failure!);
    } else {
      this.retry.push(piece);
      this.chainError ??= error;
      if (this.state === 'open') this.state = 'recovering';
    }
    this.next();
  }

  /** What to do once a piece settled or the master answered: recover, switch or send more. */
  private next(): void {
    if (this.chainError !== null) this.confirm(); // the master's answer leads the recovery
    if (this.state === 'recovering' && this.inflight.size === 0) void this.recover();
    else if (this.state === 'switching' && this.inflight.size === 0) this.switchChain();
    else this.pump();
    this.wakeIfIdle();
  }

  /** The master's answer for the promised chunk this writer started on. */
  private answered(r: WriteChunkAnswer): void {
    const same = r.chunkId === this.chunkId && r.version === this.version;
    this.promisedChunkId = 0;
    if (same) {
      this.settleHeld();
      this.state = this.chainError === null ? 'open' : 'recovering';
    } else {
      this.switchTo = r;
      this.state = 'switching';
    }
    this.next();
    this.onLeaseLost(); // the session may have opened again since the master answered
  }

  /** The master confirmed the promised chunk: what it acknowledged is written. */
  private settleHeld(): void {
    const held = this.held;
    this.held = [];
    for (const piece of held) {
      this.ctx.onSettled(piece.data.length);
      piece.group?.done();
    }
  }

  /** Every piece, acknowledged by the promised chunk or not, goes to the chunk given instead. */
  private switchChain(): void {
    assert(this.switchTo !== null && this.inflight.size === 0, 'switch with nothing in flight');
    this.useChain(this.switchTo);
    this.switchTo = null;
    this.pending = this.held.concat(this.retry, this.pending).sort((a, b) => a.seq - b.seq);
    this.held = [];
    this.retry = [];
    this.chainError = null;
    this.state = 'open';
    this.pump();
  }

  private useChain(c: { chunkId: number; version: number; chain: Location[] }): void {
    this.chunkId = c.chunkId;
    this.version = c.version;
    this.chain = c.chain;
    const head = c.chain[0]!;
    this.connection = this.ctx.agent.pool(head.host, head.port).acquire();
    this.hops = c.chain.slice(1).map(({ host, port }) => ({ host, port }));
  }

  /** The session opened again: our lease went with the old one. Ask for the chunk again. */
  private onLeaseLost(): void {
    if (this.state !== 'open' || this.leaseEpoch === this.ctx.session.epoch) return;
    this.state = 'recovering'; // with no chain error: nothing failed, no backoff
    if (this.inflight.size === 0) void this.recover();
  }

  /** With nothing in flight: a fresh chain after a failure (bounded), or a lease lost. */
  private async recover(): Promise<void> {
    assert(this.state === 'recovering', 'recover only a failed chain or a lost lease');
    assert(this.inflight.size === 0, 'recover with nothing in flight');
    const error = this.chainError;
    this.chainError = null;
    if (this.ctx.session.closed) {
      this.fail(error ?? new FsError('ENOTCONN', `${this.ctx.label}: client is closed`));
      return;
    }
    if (error !== null && ++this.chainFailures > this.ctx.chainRetriesMax) {
      const context = `${error.context} (gave up after ${this.chainFailures} chains)`;
      this.fail(new FsError(error.code, context));
      return;
    }
    this.state = 'opening';
    this.retry.sort((a, b) => a.seq - b.seq);
    this.pending = this.retry.concat(this.pending);
    this.retry = [];
    if (error !== null) await sleep(backoffMs(this.ctx, this.chainFailures - 1));
    await this.openChain();
  }

  /** CLTOMA_WRITE_CHUNK until a chain is given, a bounded number of tries on retryable statuses. */
  private async openChain(): Promise<void> {
    const context = `${this.ctx.label}: chunk ${this.chunkIndex}`;
    for (let attempt = 1; ; attempt++) {
      if (this.state !== 'opening' && this.state !== 'tentative') return;
      try {
        const { body: r, epoch } = await this.ctx.session.callWithEpoch(CLTOMA_WRITE_CHUNK, {
          inode: this.ctx.inode, chunkIndex: this.chunkIndex,
          promisedChunkId: this.promisedChunkId,
        }, context);
        if (r.chain.length === 0) throw new FsError('NO_CHUNKSERVERS', `${context}: empty chain`);
        this.leaseEpoch = epoch;
        if (this.state === 'tentative') {
          this.answered(r);
          return;
        }
        this.useChain(r);
        if (this.state !== 'opening') {
          // Aborted while the master answered: give back the lease abort() could not know of.
          this.promisedChunkId = 0;
          await this.writeEnd(0).catch(() => undefined);
          return;
        }
        this.state = 'open';
        this.pump();
        this.wakeIfIdle();
        this.onLeaseLost(); // the session may have opened again since the master answered
        return;
      } catch (err) {
        const e = toFsError(err, context);
        // ENOTCONN from a retrying session means it already waited its reconnect time.
        const waited = e.code === 'ENOTCONN' && this.ctx.session.sessionMode === 'session';
        const last = attempt >= this.ctx.openAttemptsMax || this.ctx.session.closed;
        if (!e.retryable || waited || last) {
          this.fail(e);
          return;
        }
        await sleep(backoffMs(this.ctx, attempt - 1));
      }
    }
  }

  private fail(err: FsError): void {
    if (this.state === 'failed' || this.state === 'ended') return;
    this.endConfirms = false;
    this.state = 'failed';
    this.failure = err;
    this.stopWatchingSession();
    for (const piece of this.pending.concat(this.retry, this.held)) {
      this.ctx.onSettled(piece.data.length);
      piece.group?.fail(err);
    }
    this.pending = [];
    this.retry = [];
    this.held = [];
    this.wakeIfIdle();
  }

  private async releaseLease(): Promise<void> {
    this.state = 'ended';
    this.stopWatchingSession();
    // No lease yet on a promised chunk: the answer, if it comes, gives it back (openChain).
    if (this.chunkId === 0 || this.promisedChunkId !== 0) return;
    // Length 0 never grows the file: this only gives the lease back. If it fails, the master
    // drops the lease with the session anyway, and the caller already has the real error.
    await this.writeEnd(0).catch(() => undefined);
  }

  /** CLTOMA_WRITE_END; `promised`: the chunk is the promised one, taken by this request. */
  private async writeEnd(lengthBytes: number, promised = false): Promise<Attr | null> {
    const context = `${this.ctx.label}: end write of chunk ${this.chunkIndex}`;
    const body = {
      inode: this.ctx.inode, chunkIndex: this.chunkIndex, chunkId: this.chunkId,
      length: lengthBytes, promised: promised ? 1 : 0,
    };
    try {
      return (await this.ctx.session.call(CLTOMA_WRITE_END, body, context)).attr;
    } catch (err) {
      // A session without retries (CLTOMA_REGISTER) fails a change caught by a master restart:
      // send it once more, so the length is kept (a repeat of WRITE_END changes nothing more).
      const registered = this.ctx.session.sessionMode === 'register';
      if (!(err instanceof FsError) || err.code !== 'ENOTCONN' || !registered) throw err;
      return (await this.ctx.session.call(CLTOMA_WRITE_END, body, context)).attr;
    }
  }
}

/** CLTOCS_FSYNC down the chain of a written chunk. */
export async function fsyncChunk(
  agent: ChunkserverAgent, chunk: WrittenChunk, label: string,
): Promise<void> {
  assert(chunk.chain.length > 0, 'a written chunk has a chain');
  const head = chunk.chain[0]!;
  const connection = agent.pool(head.host, head.port).acquire();
  const hops = chunk.chain.slice(1).map(({ host, port }) => ({ host, port }));
  const context = `${label}: fsync chunk ${chunk.chunkId} via ${connection.address}`;
  let reply;
  try {
    reply = await connection.request(CLTOCS_FSYNC, {
      chunkId: chunk.chunkId, version: chunk.version, chain: hops,
    });
  } catch (err) {
    throw toFsError(err, context);
  }
  if (reply.status !== Status.OK) throw new FsError(reply.status, context);
}
