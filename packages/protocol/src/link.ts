// A framed, pipelined request/reply connection to one peer, either side may send requests.
// Requests carry an id; replies are matched by id, so many are in flight at once. Malformed
// input from the peer closes this one connection with a logged reason, never the process.
import net from 'node:net';
import { assert } from './assert.ts';
import { decodeFrom, encodeInto, encodedSize, isInvalid, type Fields, type Struct } from './codec.ts';
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
}

export interface HandlerResult<R extends Fields> {
  status?: StatusCode | StatusName;
  body?: Struct<R>;
  /** Tail bytes (or several buffers, sent back to back without concatenation). */
  data?: Buffer | Buffer[];
}

export interface RequestContext {
  link: Link;
  requestId: number;
  /** Tail bytes of the request (a view into the receive buffer). */
  data: Buffer;
}

type AnyHandler = (body: any, ctx: RequestContext) =>
  HandlerResult<Fields> | void | Promise<HandlerResult<Fields> | void>;

/** Request handlers by message; shared by all links of one listener. */
export class Router {
  readonly handlers = new Map<number, AnyHandler>();

  on<F extends Fields, R extends Fields>(
    def: RequestDef<F, R>,
    handler: (body: Struct<F>, ctx: RequestContext) =>
      HandlerResult<R> | void | Promise<HandlerResult<R> | void>,
  ): this {
    assert(!this.handlers.has(def.type), `handler for ${def.name} set twice`);
    this.handlers.set(def.type, handler as AnyHandler);
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
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
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
    def: RequestDef<F, R>, body: Struct<F>, data?: Buffer | Buffer[],
    opts?: { timeoutMs?: number },
  ): Promise<Reply<R>> {
    while (this.pending.size >= this.inflightMax && this.closedReason === null) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.closedReason !== null) throw new FsError('ENOTCONN', `${this.peer}: ${this.closedReason}`);
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
        def: def as unknown as RequestDef, resolve: resolve as (r: Reply<Fields>) => void, reject, timer,
      });
      this.write(def, requestId, body as Record<string, unknown>, data);
    });
  }

  /** Like request(), but a non-OK status throws FsError. */
  async call<F extends Fields, R extends Fields>(
    def: RequestDef<F, R>, body: Struct<F>, data?: Buffer | Buffer[],
    opts?: { timeoutMs?: number; context?: string },
  ): Promise<{ body: Struct<R>; data: Buffer }> {
    const r = await this.request(def, body, data, opts);
    if (r.status !== Status.OK) throw new FsError(r.status, opts?.context ?? `${def.name} via ${this.peer}`);
    return { body: r.body as Struct<R>, data: r.data ?? Buffer.alloc(0) };
  }

  /** Sends a one-way message. */
  send<F extends Fields>(def: MessageDef<F>, body: Struct<F>, data?: Buffer | Buffer[]): void {
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
    def: MessageDef, requestId: number, body: Record<string, unknown>, data?: Buffer | Buffer[],
    status?: StatusCode,
  ): void {
    if (this.closedReason !== null) return;
    const isReply = status !== undefined;
    const withBody = !isReply || status === Status.OK;
    const structBytes = (isReply ? 1 : 0) + (withBody ? encodedSize(def.fields, body) : 0);
    const tails = data === undefined ? [] : Array.isArray(data) ? data : [data];
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
    if (tails.length === 0) {
      this.socket.write(head);
      return;
    }
    // Header and payload leave in one writev; the payload buffers are never copied.
    this.socket.cork();
    this.socket.write(head);
    for (const t of tails) this.socket.write(t);
    process.nextTick(() => this.socket.uncork());
  }

  private onData(chunk: Buffer): void {
    const frames = this.reader.push(chunk);
    if (isInvalid(frames)) {
      this.log.warn('dropping connection: malformed frame', { peer: this.peer, reason: frames.invalid });
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
    if (f.payload.length < 1) return this.malformed(`${f.def.name}: no status byte`);
    const status = f.payload[0]!;
    if (statusName(status) === undefined) return this.malformed(`${f.def.name}: unknown status ${status}`);
    let body: Record<string, unknown> | undefined;
    let offset = 1;
    if (status === Status.OK) {
      const r = decodeFrom(f.def.fields, f.payload, 1);
      if (isInvalid(r)) return this.malformed(`${f.def.name}: ${r.invalid}`);
      body = r.value;
      offset = r.offset;
    }
    if (!f.def.tail && offset !== f.payload.length) {
      return this.malformed(`${f.def.name}: ${f.payload.length - offset} trailing bytes`);
    }
    this.pending.delete(f.requestId);
    if (p.timer) clearTimeout(p.timer);
    this.releaseSlot();
    p.resolve({
      status: status as StatusCode, body: body as Struct<Fields> | undefined,
      data: f.def.tail ? f.payload.subarray(offset) : undefined,
    });
  }

  private onRequest(f: Frame): void {
    const r = decodeFrom(f.def.fields, f.payload, 0);
    if (isInvalid(r)) return this.malformed(`${f.def.name}: ${r.invalid}`);
    if (!f.def.tail && r.offset !== f.payload.length) {
      return this.malformed(`${f.def.name}: ${f.payload.length - r.offset} trailing bytes`);
    }
    const reqDef = 'reply' in f.def ? (f.def as RequestDef) : null;
    const handler = this.router?.handlers.get(f.def.type);
    if (handler === undefined) {
      if (reqDef) this.write(reqDef.reply, f.requestId, {}, undefined, Status.ENOSYS);
      return;
    }
    const ctx: RequestContext = { link: this, requestId: f.requestId, data: f.payload.subarray(r.offset) };
    let result;
    try {
      result = handler(r.value, ctx);
    } catch (err) {
      this.replyError(reqDef, f.requestId, err);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (res) => this.replyResult(reqDef, f.requestId, res),
        (err: unknown) => this.replyError(reqDef, f.requestId, err),
      );
    } else {
      this.replyResult(reqDef, f.requestId, result);
    }
  }

  private replyResult(def: RequestDef | null, requestId: number, res: HandlerResult<Fields> | void): void {
    if (def === null) return;
    const st = res?.status ?? Status.OK;
    const status = typeof st === 'string' ? Status[st] : st;
    this.write(def.reply, requestId, (res?.body ?? {}) as Record<string, unknown>,
      status === Status.OK ? res?.data : undefined, status);
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
  const server = net.createServer((socket) => {
    if (connections >= connectionsMax) {
      opts.log.warn('connection refused: limit reached', { connectionsMax });
      socket.destroy();
      return;
    }
    connections++;
    socket.once('close', () => connections--);
    onLink(new Link(socket, opts));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve(server);
    });
  });
}
