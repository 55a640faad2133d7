// A framed, pipelined request/reply connection to one peer, either side may send requests.
// Requests carry an id; replies are matched by id, so many are in flight at once. Malformed
// input from the peer closes this one connection with a logged reason, never the process.
import net from 'node:net';
import { assert } from './assert.ts';
import {
  decodeFrom, encodeInto, encodedSize, isInvalid, type Fields, type Invalid, type Struct,
} from './codec.ts';
import { FRAME_HEADER_BYTES } from './constants.ts';
import { FrameReader, type Frame } from './frame.ts';
import type { Logger } from './log.ts';
import type { LinkKind, MessageDef, RequestDef } from './message-types.ts';
import { FsError, Status, statusName, type StatusCode, type StatusName } from './status.ts';

export interface Reply<R extends Fields> {
  status: StatusCode;
  /** Present only when status is OK. */
  body?: Struct<R>;
  /** Raw bytes after the struct (replies with a tail). A view; the caller owns it. */
  data?: Buffer;
  /**
   * The same bytes as `data`, as the views they arrived in (replies with a tail): a caller that
   * copies them somewhere anyway takes these and spares the join that `data` may cost.
   */
  dataParts?: readonly Buffer[];
  /**
   * Says that the caller keeps no view of `data` or `dataParts` any more (it copied them out):
   * the receive buffer they lie in is read into again. Optional to call; once is enough.
   */
  release?(): void;
}

export interface HandlerResult<R extends Fields> {
  status?: StatusCode | StatusName;
  body?: Struct<R>;
  /** Tail bytes (or several buffers, sent back to back without concatenation). */
  data?: Buffer | readonly Buffer[];
  /**
   * Called once the reply's bytes are all with the kernel: `data` may be reused. Not called
   * when the reply was not written whole (the connection went), so such data is left alone.
   */
  written?: () => void;
}

export interface RequestContext {
  link: Link;
  requestId: number;
  /** Tail bytes of the request: a view into the receive buffer (joined on first use if the
   * frame spanned several socket reads). */
  readonly data: Buffer;
  /** The tail as the views it arrived in, never copied (at least one, maybe empty). */
  readonly dataParts: readonly Buffer[];
}

/** A frame's bytes after its struct: views, joined only when asked for as one Buffer. */
class Tail {
  readonly parts: readonly Buffer[];
  private joined: Buffer | null;

  constructor(parts: Buffer[]) {
    this.parts = parts;
    this.joined = parts.length === 1 ? parts[0]! : null;
  }

  get bytes(): Buffer {
    this.joined ??= Buffer.concat(this.parts as Buffer[]);
    return this.joined;
  }
}

class IncomingRequest implements RequestContext {
  readonly link: Link;
  readonly requestId: number;
  private readonly tail: Tail;

  constructor(link: Link, requestId: number, tail: Tail) {
    this.link = link;
    this.requestId = requestId;
    this.tail = tail;
  }

  get data(): Buffer {
    return this.tail.bytes;
  }

  get dataParts(): readonly Buffer[] {
    return this.tail.parts;
  }
}

class IncomingReply implements Reply<Fields> {
  readonly status: StatusCode;
  readonly body: Struct<Fields> | undefined;
  private readonly tail: Tail | null;
  private readonly frame: Frame;

  constructor(
    status: StatusCode, body: Struct<Fields> | undefined, tail: Tail | null, frame: Frame,
  ) {
    this.status = status;
    this.body = body;
    this.tail = tail;
    this.frame = frame;
  }

  release(): void {
    this.frame.release();
  }

  get data(): Buffer | undefined {
    return this.tail?.bytes;
  }

  get dataParts(): readonly Buffer[] | undefined {
    return this.tail?.parts;
  }
}

/**
 * Decodes a frame's struct from `start` and returns the bytes after it as views. When the
 * payload came in several pieces and the struct lies in the first, nothing is copied; else the
 * payload is joined once (a struct cut by a socket read: rare, and small for control frames).
 */
function decodeFrame(
  f: Frame, start: number,
): { value: Record<string, unknown>; tail: Tail } | Invalid {
  const parts = f.parts;
  if (parts.length > 1 && f.def.tail) {
    const first = parts[0]!;
    const r = decodeFrom(f.def.fields, first, start);
    if (!isInvalid(r)) {
      const rest: Buffer[] = [];
      if (r.offset < first.length) rest.push(first.subarray(r.offset));
      for (let i = 1; i < parts.length; i++) rest.push(parts[i]!);
      return { value: r.value, tail: new Tail(rest) };
    }
  }
  const payload = f.payload;
  const r = decodeFrom(f.def.fields, payload, start);
  if (isInvalid(r)) return r;
  if (!f.def.tail && r.offset !== payload.length) {
    return { invalid: `${payload.length - r.offset} trailing bytes` };
  }
  return { value: r.value, tail: new Tail([payload.subarray(r.offset)]) };
}

type AnyHandler = (body: any, ctx: RequestContext) =>
  HandlerResult<Fields> | void | Promise<HandlerResult<Fields> | void>;

export interface RouteOptions {
  /**
   * The handler keeps no view of the request's bytes once it answered OK (it wrote them, sent
   * them on and heard back): the socket's slab they lie in is read into again. Other answers
   * and failures leave the slab to the garbage collector.
   */
  recycles?: boolean;
}

/** Request handlers by message; shared by all links of one listener. */
export class Router {
  readonly handlers = new Map<number, AnyHandler>();
  /** Request types routed with `recycles`. */
  readonly recycling = new Set<number>();

  on<F extends Fields, R extends Fields>(
    def: RequestDef<F, R>,
    handler: (body: Struct<F>, ctx: RequestContext) =>
      HandlerResult<R> | void | Promise<HandlerResult<R> | void>,
    opts: RouteOptions = {},
  ): this {
    assert(!this.handlers.has(def.type), `handler for ${def.name} set twice`);
    this.handlers.set(def.type, handler as AnyHandler);
    if (opts.recycles === true) this.recycling.add(def.type);
    return this;
  }

  onMessage<F extends Fields>(
    def: MessageDef<F>, handler: (body: Struct<F>, ctx: RequestContext) => void,
  ): this {
    assert(!this.handlers.has(def.type), `handler for ${def.name} set twice`);
    this.handlers.set(def.type, handler as AnyHandler);
    return this;
  }
}

export interface LinkOptions {
  kind: LinkKind;
  payloadMaxBytes: number;
  log: Logger;
  router?: Router;
  /** Requests this side may have outstanding; further ones wait for a slot. */
  inflightMax?: number;
  requestTimeoutMs?: number;
  /** Peer name for logs. */
  peer?: string;
  /** First request id this side uses (a retrying client continues its numbering). */
  firstRequestId?: number;
  /**
   * Called when a handler throws something other than FsError (a bug in our code, such as a
   * failed assertion). Default: log it and answer EIO. A daemon may prefer to exit.
   */
  onBug?: (err: unknown, link: Link) => void;
}

interface Pending {
  def: RequestDef;
  resolve: (r: Reply<Fields>) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | null;
}

export class Link {
  readonly socket: net.Socket;
  readonly kind: LinkKind;
  readonly peer: string;
  readonly log: Logger;
  /** Free for the owner: session state, chunkserver id... */
  state: Record<string, unknown> = {};
  private readonly reader: FrameReader;
  private readonly router: Router | undefined;
  private readonly pending = new Map<number, Pending>();
  private readonly inflightMax: number;
  private readonly requestTimeoutMs: number;
  private waiters: (() => void)[] = [];
  private nextRequestId: number;
  private readonly onBug: ((err: unknown, link: Link) => void) | undefined;
  private closedReason: string | null = null;
  /** The socket is corked until the end of this tick (see write). */
  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };
  private readonly closeListeners: ((reason: string) => void)[] = [];

  constructor(socket: net.Socket, opts: LinkOptions) {
    this.socket = socket;
    this.kind = opts.kind;
    this.log = opts.log;
    this.router = opts.router;
    this.inflightMax = opts.inflightMax ?? 1024;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 60_000;
    this.peer = opts.peer ?? `${socket.remoteAddress}:${socket.remotePort}`;
    this.reader = new FrameReader(opts.kind, opts.payloadMaxBytes);
    this.nextRequestId = opts.firstRequestId ?? 1;
    assert(this.nextRequestId >= 1 && this.nextRequestId < 0xffffffff, 'firstRequestId in range');
    this.onBug = opts.onBug;
    socket.setNoDelay(true);
    const reads = {
      buffer: (): Buffer => this.reader.readBuffer(),
      callback: (bytes: number): void => this.onFrames(this.reader.pushRead(bytes)),
    };
    // Data links carry bulk bytes; the others keep Node's reads, so a small value kept for long
    // (a name, an xattr) never holds a whole slab alive.
    if (opts.kind !== 'data' || !readIntoOwnBuffers(socket, reads)) {
      socket.on('data', (chunk: Buffer) => this.onFrames(this.reader.push(chunk)));
    }
    socket.on('error', (err) => this.close(`socket error: ${err.message}`));
    socket.on('close', () => this.close('peer closed'));
  }

  get closed(): boolean {
    return this.closedReason !== null;
  }

  /** The id the next request will carry. */
  get requestIdNext(): number {
    return this.nextRequestId;
  }

  get inflight(): number {
    return this.pending.size;
  }

  onClose(listener: (reason: string) => void): void {
    if (this.closedReason !== null) listener(this.closedReason);
    else this.closeListeners.push(listener);
  }

  /** Sends a request and waits for its reply (any status). Rejects only on link failure. */
  async request<F extends Fields, R extends Fields>(
    def: RequestDef<F, R>, body: Struct<F>, data?: Buffer | readonly Buffer[],
    opts?: { timeoutMs?: number },
  ): Promise<Reply<R>> {
    while (this.pending.size >= this.inflightMax && this.closedReason === null) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.closedReason !== null) {
      throw new FsError('ENOTCONN', `${this.peer}: ${this.closedReason}`);
    }
    const requestId = this.nextRequestId;
    this.nextRequestId = this.nextRequestId >= 0xfffffffe ? 1 : this.nextRequestId + 1;
    return new Promise<Reply<R>>((resolve, reject) => {
      const timeoutMs = opts?.timeoutMs ?? this.requestTimeoutMs;
      const timer = timeoutMs > 0
        ? setTimeout(() => {
          if (this.pending.delete(requestId)) {
            this.releaseSlot();
            reject(new FsError('ETIMEDOUT', `${def.name} to ${this.peer} after ${timeoutMs} ms`));
          }
        }, timeoutMs)
        : null;
      this.pending.set(requestId, {
        def: def as unknown as RequestDef, resolve: resolve as (r: Reply<Fields>) => void, reject,
        timer,
      });
      this.write(def, requestId, body as Record<string, unknown>, data);
    });
  }

  /** Like request(), but a non-OK status throws FsError. */
  async call<F extends Fields, R extends Fields>(
    def: RequestDef<F, R>, body: Struct<F>, data?: Buffer | readonly Buffer[],
    opts?: { timeoutMs?: number; context?: string },
  ): Promise<{ body: Struct<R>; data: Buffer }> {
    const r = await this.request(def, body, data, opts);
    if (r.status !== Status.OK) {
      throw new FsError(r.status, opts?.context ?? `${def.name} via ${this.peer}`);
    }
    return { body: r.body as Struct<R>, data: r.data ?? Buffer.alloc(0) };
  }

  /** Sends a one-way message. */
  send<F extends Fields>(
    def: MessageDef<F>, body: Struct<F>, data?: Buffer | readonly Buffer[],
  ): void {
    assert(!('reply' in def), `${def.name} is a request: use request()`);
    this.write(def, 0, body as Record<string, unknown>, data);
  }

  /** Resolves when the socket's write buffer has drained (backpressure for bulk senders). */
  drained(): Promise<void> {
    if (!this.socket.writableNeedDrain || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.once('drain', done);
      this.socket.once('close', done);
    });
  }

  close(reason: string): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    this.socket.destroy();
    for (const [, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(new FsError('ENOTCONN', `${p.def.name} to ${this.peer}: ${reason}`));
    }
    this.pending.clear();
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
    for (const l of this.closeListeners) l(reason);
  }

  private releaseSlot(): void {
    const w = this.waiters.shift();
    if (w) w();
  }

  private write(
    def: MessageDef, requestId: number, body: Record<string, unknown>,
    data?: Buffer | readonly Buffer[],
    status?: StatusCode,
    onWritten?: (err?: Error | null) => void,
  ): void {
    if (this.closedReason !== null) return;
    const isReply = status !== undefined;
    const withBody = !isReply || status === Status.OK;
    const structBytes = (isReply ? 1 : 0) + (withBody ? encodedSize(def.fields, body) : 0);
    const tails: readonly Buffer[] = data === undefined ? []
      : Array.isArray(data) ? data as readonly Buffer[] : [data as Buffer];
    assert(tails.length === 0 || def.tail, `${def.name} carries no tail`);
    let tailBytes = 0;
    for (const t of tails) tailBytes += t.length;
    const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES + structBytes);
    head.writeUInt32BE(def.type, 0);
    head.writeUInt32BE(structBytes + tailBytes, 4);
    head.writeUInt32BE(requestId >>> 0, 8);
    let o = FRAME_HEADER_BYTES;
    if (isReply) head[o++] = status;
    if (withBody) o = encodeInto(def.fields, body, head, o);
    assert(o === head.length, `${def.name}: encoded ${o} of ${head.length} bytes`);
    // Frames written in one tick leave together in one writev when the tick ends (replies that
    // finish together, a window of requests); payload buffers are never copied.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    // The last write's callback comes once every earlier one's did (a stream writes in order).
    this.socket.write(head, tails.length === 0 ? onWritten : undefined);
    for (let i = 0; i < tails.length; i++) {
      this.socket.write(tails[i]!, i === tails.length - 1 ? onWritten : undefined);
    }
  }

  private onFrames(frames: Frame[] | Invalid): void {
    if (isInvalid(frames)) {
      this.log.warn('dropping connection: malformed frame',
        { peer: this.peer, reason: frames.invalid });
      this.close(`malformed frame: ${frames.invalid}`);
      return;
    }
    for (const f of frames) {
      if (this.closedReason !== null) return;
      if (f.def.isReply) this.onReply(f);
      else this.onRequest(f);
    }
  }

  private onReply(f: Frame): void {
    const p = this.pending.get(f.requestId);
    if (p === undefined || p.def.reply.type !== f.def.type) {
      // A reply to a request that timed out, or that we never sent.
      if (p === undefined) {
        this.log.debug('reply to no pending request', { peer: this.peer, message: f.def.name });
        return;
      }
      this.malformed(`${f.def.name} answers a ${p.def.name}`);
      return;
    }
    const first = f.parts[0]!;
    if (first.length < 1) return this.malformed(`${f.def.name}: no status byte`);
    const status = first[0]!;
    if (statusName(status) === undefined) {
      return this.malformed(`${f.def.name}: unknown status ${status}`);
    }
    let body: Record<string, unknown> | undefined;
    let tail: Tail | null = null;
    if (status === Status.OK) {
      const r = decodeFrame(f, 1);
      if (isInvalid(r)) return this.malformed(`${f.def.name}: ${r.invalid}`);
      body = r.value;
      tail = r.tail;
    } else if (f.payloadBytes !== 1 && !f.def.tail) {
      return this.malformed(`${f.def.name}: ${f.payloadBytes - 1} trailing bytes`);
    }
    this.pending.delete(f.requestId);
    if (p.timer) clearTimeout(p.timer);
    this.releaseSlot();
    if (f.def.tail) tail ??= new Tail([f.payload.subarray(1)]);
    p.resolve(new IncomingReply(status as StatusCode, body as Struct<Fields> | undefined, tail,
      f));
  }

  private onRequest(f: Frame): void {
    const r = decodeFrame(f, 0);
    if (isInvalid(r)) return this.malformed(`${f.def.name}: ${r.invalid}`);
    const reqDef = 'reply' in f.def ? (f.def as RequestDef) : null;
    const handler = this.router?.handlers.get(f.def.type);
    if (handler === undefined) {
      if (reqDef) this.write(reqDef.reply, f.requestId, {}, undefined, Status.ENOSYS);
      return;
    }
    const ctx = new IncomingRequest(this, f.requestId, r.tail);
    const recycled = this.router?.recycling.has(f.def.type) === true ? f : null;
    let result;
    try {
      result = handler(r.value, ctx);
    } catch (err) {
      this.replyError(reqDef, f.requestId, err);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (res) => this.replyResult(reqDef, f.requestId, res, recycled),
        (err: unknown) => this.replyError(reqDef, f.requestId, err),
      );
    } else {
      this.replyResult(reqDef, f.requestId, result, recycled);
    }
  }

  private replyResult(
    def: RequestDef | null, requestId: number, res: HandlerResult<Fields> | void,
    recycled: Frame | null,
  ): void {
    const st = res?.status ?? Status.OK;
    const status = typeof st === 'string' ? Status[st] : st;
    if (def !== null) {
      const written = res?.written;
      this.write(def.reply, requestId, (res?.body ?? {}) as Record<string, unknown>,
        status === Status.OK ? res?.data : undefined, status,
        written === undefined ? undefined : (err) => { if (err == null) written(); });
    }
    if (status === Status.OK) recycled?.release();
  }

  private replyError(def: RequestDef | null, requestId: number, err: unknown): void {
    if (err instanceof FsError) {
      if (def) this.write(def.reply, requestId, {}, undefined, err.status);
      return;
    }
    this.log.error('request handler failed', {
      peer: this.peer, message: def?.name, error: (err as Error)?.stack ?? String(err),
    });
    if (def) this.write(def.reply, requestId, {}, undefined, Status.EIO);
    this.onBug?.(err, this);
  }

  private malformed(reason: string): void {
    this.log.warn('dropping connection: malformed message', { peer: this.peer, reason });
    this.close(`malformed message: ${reason}`);
  }
}

interface ReadTarget {
  /** The buffer the next read fills. */
  buffer: () => Buffer;
  /** `bytes` were read into the buffer last given. */
  callback: (bytes: number) => void;
}

/**
 * Node's `onread` socket option (reads land in buffers we give, no allocation per read), set on
 * a socket that exists already: net.connect takes the option but an accepted socket cannot, so
 * the fields the option sets are found on the socket by name. False (use 'data' events) when
 * this Node lacks them or the socket is already reading.
 */
function readIntoOwnBuffers(socket: net.Socket, target: ReadTarget): boolean {
  const handle = (socket as unknown as { _handle?: { reading?: boolean;
    useUserBuffer?: (b: Uint8Array) => void; } | null })._handle;
  if (handle == null || handle.reading === true || typeof handle.useUserBuffer !== 'function') {
    return false;
  }
  const fields = new Map<string, symbol>();
  for (const sym of Object.getOwnPropertySymbols(socket)) {
    if (sym.description !== undefined) fields.set(sym.description, sym);
  }
  const kBuffer = fields.get('kBuffer');
  const kBufferGen = fields.get('kBufferGen');
  const kBufferCb = fields.get('kBufferCb');
  if (kBuffer === undefined || kBufferGen === undefined || kBufferCb === undefined) return false;
  const own = socket as unknown as Record<symbol, unknown>;
  if (own[kBuffer] !== null) return false;
  const first = target.buffer();
  own[kBuffer] = first;
  own[kBufferGen] = target.buffer;
  own[kBufferCb] = (bytes: number): void => target.callback(bytes);
  handle.useUserBuffer(first);
  return true;
}

/** Connects to host:port and wraps the socket in a Link. */
export function connectLink(
  host: string, port: number, opts: LinkOptions & { connectTimeoutMs?: number },
): Promise<Link> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timeoutMs = opts.connectTimeoutMs ?? 5000;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new FsError('ETIMEDOUT', `connect to ${host}:${port}`));
    }, timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new FsError('ENOTCONN', `connect to ${host}:${port}: ${err.message}`));
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(new Link(socket, { ...opts, peer: opts.peer ?? `${host}:${port}` }));
    });
  });
}

/** Listens on host:port (0 = any free port); each accepted socket becomes a Link. */
export function listenLinks(
  host: string, port: number, opts: LinkOptions & { connectionsMax?: number },
  onLink: (link: Link) => void,
): Promise<net.Server> {
  const connectionsMax = opts.connectionsMax ?? 10_000;
  let connections = 0;
  // A data link's socket stays paused until its Link has set it to read into its own buffers.
  const ownReads = opts.kind === 'data';
  const server = net.createServer({ pauseOnConnect: ownReads }, (socket) => {
    if (connections >= connectionsMax) {
      opts.log.warn('connection refused: limit reached', { connectionsMax });
      socket.destroy();
      return;
    }
    connections++;
    socket.once('close', () => connections--);
    const link = new Link(socket, opts);
    onLink(link);
    if (ownReads && !link.closed) socket.resume();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve(server);
    });
  });
}
