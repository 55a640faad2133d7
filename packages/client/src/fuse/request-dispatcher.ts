// Turns each request read from /dev/fuse into a running operation and its answer into one reply.
// Requests run concurrently: onRequest() decodes, copies what it needs and returns at once, so
// the device's read loop never waits for the master or a chunkserver. Tracks the requests in
// flight, for INTERRUPT (a read-only request is answered EINTR at once and its late result
// dropped; one that changes something finishes) and for a drain at unmount.
import { assert, AssertionError, isInvalid, type Logger } from '@antlerfs/protocol';
import { ERRNO, errnoOf } from './errno.ts';
import { Opcode, opcodeName } from './kernel-abi.ts';
import type { Handler, MountContext, Reply } from './mount-context.ts';
import { decodeBody, decodeHeader, type FuseRequest } from './request.ts';
import type { RequestStats } from './request-stats.ts';
import { WriteCopies } from './write-copies.ts';

/** Where replies go (the device; a fake in tests). false: the kernel no longer waits. */
export interface Replier {
  reply(unique: number, errno: number, parts: readonly Buffer[]): boolean;
  /** Takes back a read buffer a large WRITE kept, to read requests into again (optional). */
  giveBack?(buffer: ArrayBufferLike): void;
}

/**
 * WRITE data from this size up keeps the read buffer it came in (the device reads the next
 * request into a new one) rather than being copied out: a copy into fresh memory costs more
 * than the data's own trip to the chunkservers. Smaller writes are copied.
 */
export const WRITE_KEEP_MIN_BYTES = 256 * 1024;

/** Requests that change nothing, so answering EINTR before they finish is safe. */
const INTERRUPTIBLE = new Set<number>([
  Opcode.LOOKUP, Opcode.GETATTR, Opcode.READLINK, Opcode.READ, Opcode.READDIR,
  Opcode.READDIRPLUS, Opcode.STATFS, Opcode.ACCESS, Opcode.GETXATTR, Opcode.LISTXATTR,
]);
/** An INTERRUPT may overtake its request (another reader thread has it): look again after. */
const INTERRUPT_RECHECK_MS = 20;
/** INTERRUPTs waiting for their request; more are answered EAGAIN (the kernel resends). */
const PENDING_INTERRUPTS_MAX = 256;

interface Inflight {
  opcode: number;
  /** Answered already (EINTR): the operation's own result is dropped. */
  answered: boolean;
}

export interface DispatcherOptions {
  replier: Replier;
  handlers: ReadonlyMap<number, Handler>;
  ctx: MountContext;
  log: Logger;
  /** Log every request and its answer. */
  debug: boolean;
  /** A failed assertion in our code: the mount cannot be trusted any more. */
  onBug: (err: Error) => void;
  /** Counts requests by opcode, when given. */
  stats?: RequestStats;
}

export class RequestDispatcher {
  private readonly opts: DispatcherOptions;
  private readonly inflight = new Map<number, Inflight>();
  /** Original unique -> unique of an INTERRUPT that came before the original did. */
  private readonly pendingInterrupts = new Map<number, number>();
  private idleWaiters: (() => void)[] = [];
  /** Where the data of small WRITEs is copied (and given back once acknowledged). */
  readonly writeCopies = new WriteCopies();
  requestsTotal = 0;

  constructor(opts: DispatcherOptions) {
    this.opts = opts;
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  /**
   * Called by the device with one request; `buf` is reused after this returns false. True: a
   * large WRITE keeps `buf` (its data is a view of it), so the device must not reuse it.
   */
  onRequest(buf: Buffer, length: number): boolean {
    const header = decodeHeader(buf, length);
    if (isInvalid(header)) {
      this.opts.log.warn('malformed request from the kernel', { reason: header.invalid });
      return false;
    }
    const decoded = decodeBody(header, buf);
    if (isInvalid(decoded)) {
      this.opts.log.warn('malformed request from the kernel', {
        op: opcodeName(header.opcode), reason: decoded.invalid,
      });
      this.opts.replier.reply(header.unique, ERRNO.EINVAL, []);
      return false;
    }
    // Write data leaves the read buffer now (small) or keeps it (large); either way the file
    // handle gets a buffer nobody else writes to.
    const kept = decoded.data.length >= WRITE_KEEP_MIN_BYTES;
    if (decoded.data.length > 0 && !kept) {
      const { copy, back } = this.writeCopies.copy(decoded.data);
      decoded.data = copy;
      decoded.giveBack = back;
    }
    const { replier } = this.opts;
    if (kept && replier.giveBack !== undefined) {
      decoded.giveBack = () => replier.giveBack!(buf.buffer);
    }
    this.requestsTotal++;
    this.opts.stats?.countKernel(header.opcode);
    if (header.opcode === Opcode.INTERRUPT) this.interrupt(decoded);
    else this.start(decoded);
    return kept;
  }

  /** Resolves once no request is in flight. */
  idle(): Promise<void> {
    if (this.inflight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private start(req: FuseRequest): void {
    const { unique, opcode } = req.header;
    const handler = this.opts.handlers.get(opcode);
    if (this.opts.debug) this.logRequest(req);
    if (handler === undefined) {
      this.answer(req, ERRNO.ENOSYS);
      return;
    }
    const entry: Inflight = { opcode, answered: false };
    this.inflight.set(unique, entry);
    const early = this.pendingInterrupts.get(unique);
    if (early !== undefined) {
      this.pendingInterrupts.delete(unique);
      this.interruptEntry(unique, entry);
    }
    let running: Promise<Reply | null>;
    try {
      running = handler(req, this.opts.ctx);
    } catch (err) {
      running = Promise.reject(err);
    }
    running.then(
      (reply) => this.finish(req, entry, reply),
      (err: unknown) => this.fail(req, entry, err),
    );
  }

  private finish(req: FuseRequest, entry: Inflight, reply: Reply | null): void {
    this.done(req.header.unique);
    if (reply === null) return;
    if (entry.answered) {
      reply.lost?.();
      return;
    }
    const errno = reply.errno ?? 0;
    assert(errno === 0 || reply.parts.length === 0, 'an error answer has no body');
    const delivered = this.opts.replier.reply(req.header.unique, errno, reply.parts);
    if (delivered) reply.delivered?.();
    else reply.lost?.();
    if (this.opts.debug) this.logAnswer(req, errno, delivered);
  }

  private fail(req: FuseRequest, entry: Inflight, err: unknown): void {
    this.done(req.header.unique);
    const { errno, bug } = errnoOf(err);
    if (bug) {
      this.opts.log.error('operation failed with a bug', {
        op: opcodeName(req.header.opcode), nodeid: req.header.nodeid,
        error: (err as Error)?.stack ?? String(err),
      });
      if (err instanceof AssertionError) this.opts.onBug(err);
    }
    if (req.header.opcode === Opcode.FORGET || req.header.opcode === Opcode.BATCH_FORGET) return;
    if (!entry.answered) this.answer(req, errno);
  }

  private answer(req: FuseRequest, errno: number): void {
    const delivered = this.opts.replier.reply(req.header.unique, errno, []);
    if (this.opts.debug) this.logAnswer(req, errno, delivered);
  }

  private done(unique: number): void {
    this.inflight.delete(unique);
    if (this.inflight.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private interrupt(req: FuseRequest): void {
    const original = req.arg.unique ?? 0;
    const entry = this.inflight.get(original);
    if (entry !== undefined) {
      this.interruptEntry(original, entry);
      return;
    }
    if (this.pendingInterrupts.size >= PENDING_INTERRUPTS_MAX) {
      this.opts.replier.reply(req.header.unique, ERRNO.EAGAIN, []);
      return;
    }
    this.pendingInterrupts.set(original, req.header.unique);
    setTimeout(() => {
      if (this.pendingInterrupts.get(original) !== req.header.unique) return;
      this.pendingInterrupts.delete(original);
      // Not seen: finished already, or still to come. EAGAIN makes the kernel send it again
      // if the request is still waiting.
      this.opts.replier.reply(req.header.unique, ERRNO.EAGAIN, []);
    }, INTERRUPT_RECHECK_MS).unref();
  }

  private interruptEntry(unique: number, entry: Inflight): void {
    if (entry.answered || !INTERRUPTIBLE.has(entry.opcode)) return;
    entry.answered = true;
    this.opts.replier.reply(unique, ERRNO.EINTR, []);
  }

  private logRequest(req: FuseRequest): void {
    const h = req.header;
    this.opts.log.debug('request', {
      op: opcodeName(h.opcode), unique: h.unique, nodeid: h.nodeid, uid: h.uid, pid: h.pid,
      names: req.names.length > 0 ? req.names.join(' ') : undefined,
      fh: req.arg.fh, offset: req.arg.offset, size: req.arg.size,
    });
  }

  private logAnswer(req: FuseRequest, errno: number, delivered: boolean): void {
    this.opts.log.debug('reply', {
      op: opcodeName(req.header.opcode), unique: req.header.unique, errno, delivered,
    });
  }
}
