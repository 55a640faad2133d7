// The client's one session with the master (port 9421): requests go out pipelined on one Link,
// which numbers them, and the session carries that numbering on from link to link. It opens
// with CLTOMA_SESSION and a random clientId, so the master records (clientId, request id) with
// every change it makes for us. When the link drops, each unanswered request waits while the
// session reconnects (each master address in turn, with backoff, for at most `reconnectMs`),
// then goes out again under the SAME id: a change the master had already applied is answered
// without being applied twice. Only when no master takes the session in time do the waiting
// requests fail, with ENOTCONN.
//
// Ids: a new link starts just before the oldest unanswered id; ids after it that were answered
// before are taken by harmless fillers (GETATTR of the root), so every resent request keeps its
// id and new requests continue after the highest id ever used. The master remembers only its
// most recent applied requests per client, so at most `requestSpanMax` ids may lie between the
// oldest unanswered request and the next new one: new requests wait for that.
//
// A master without CLTOMA_SESSION (ENOSYS) gets CLTOMA_REGISTER; then only requests that change
// nothing are sent again, and a change in flight when the link drops fails with ENOTCONN, since
// it may or may not have been applied.
import crypto from 'node:crypto';
import {
  assert, CLTOMA_GETATTR, CLTOMA_GETATTR_CHUNKS, CLTOMA_LIST_CHUNKSERVERS,
  CLTOMA_LIST_METALOGGERS, CLTOMA_LOOKUP, CLTOMA_LOOKUP_PATH, CLTOMA_LOOKUP_PATH_CHUNKS,
  CLTOMA_READ_CHUNKS, CLTOMA_READDIR, CLTOMA_READLINK, CLTOMA_REPORT_BAD_CHUNK, CLTOMA_STATFS,
  FsError, ROOT_INODE, Status, type Fields, type Link, type Logger, type Reply, type RequestDef,
  type Struct,
} from '@antlerfs/protocol';
import { backoffMs, sleep, statusOf, toFsError, type Backoff } from './errors.ts';
import { formatMasterAddress, type MasterAddress } from './master-address.ts';
import { openMasterSession, type MasterHandshake, type SessionMode } from './master-handshake.ts';
import { nextRequestId, previousRequestId, requestIdDistance } from './request-id.ts';

export { parseMasterList, type MasterAddress } from './master-address.ts';

/** Requests that may go out again under a new id: sending one twice changes nothing. */
const IDEMPOTENT_REQUESTS = new Set<number>([
  CLTOMA_LOOKUP, CLTOMA_LOOKUP_PATH, CLTOMA_LOOKUP_PATH_CHUNKS, CLTOMA_GETATTR,
  CLTOMA_GETATTR_CHUNKS, CLTOMA_READDIR, CLTOMA_READLINK, CLTOMA_STATFS, CLTOMA_READ_CHUNKS,
  CLTOMA_LIST_CHUNKSERVERS, CLTOMA_LIST_METALOGGERS, CLTOMA_REPORT_BAD_CHUNK,
].map((def) => def.type));

/** Requests on a link besides the span: CLTOMA_SESSION, and CLTOMA_REGISTER after ENOSYS. */
const HANDSHAKE_REQUESTS = 2;
/** The handshake gets at least this long even when the reconnect time is nearly spent. */
const HANDSHAKE_TIMEOUT_MIN_MS = 250;

export interface MasterSessionOptions extends Backoff {
  masters: MasterAddress[];
  clientName: string;
  log: Logger;
  /** Rounds over the address list per (re)connect at most; the time bound usually ends first. */
  connectRoundsMax: number;
  /** A reconnect gives up after this long; the requests waiting for it fail with ENOTCONN. */
  reconnectMs: number;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  /** Ids from the oldest unanswered request to the next new one, at most (see above). */
  requestSpanMax: number;
  /** The client's id at the master; 8 random bytes by default. */
  clientId?: bigint;
}

/** A reply and the session epoch of the link that carried it. */
export interface Answer<R extends Fields = Fields> {
  reply: Reply<R>;
  epoch: number;
}

/** A request from its call until its answer. */
interface Pending {
  readonly def: RequestDef;
  readonly body: Struct<Fields>;
  readonly idempotent: boolean;
  /** Its id on the wire (0 before it is first sent). */
  id: number;
  /** The link it is out on; null while it waits for a link. */
  link: Link | null;
  epoch: number;
  /** Sent in a CLTOMA_SESSION session: the master records it, so it may go out again. */
  recorded: boolean;
  settle(result: Answer | FsError): void;
}

export class MasterSession {
  /** This client at the master, the same across reconnects and failover. */
  readonly clientId: bigint;
  private readonly opts: MasterSessionOptions;
  private link: Link | null = null;
  private mode: SessionMode = 'session';
  private connecting: Promise<Link> | null = null;
  private masterIndex = 0;
  private closedByUser = false;
  /** The id after the highest one used, as of the last link's end. */
  private idNext = 1;
  private epochNow = 0;
  /** Requests not sent yet (no link, or the id span is full), oldest first. */
  private readonly waiting: Pending[] = [];
  /** Requests out (or waiting to go out again) by id, oldest first. */
  private readonly sent = new Map<number, Pending>();
  private readonly reconnectListeners = new Set<(epoch: number) => void>();
  /** Requests by message name: one key per message type, so bounded by the protocol. */
  private readonly counts = new Map<string, number>();
  /** What the master said when the current session opened. */
  sessionId = 0;
  metaVersion = 0;
  /** The cluster of the first master that told us (CLTOMA_SESSION); others are refused. */
  clusterId = '';

  constructor(opts: MasterSessionOptions) {
    assert(opts.masters.length > 0, 'at least one master address');
    assert(opts.connectRoundsMax >= 1, 'connectRoundsMax >= 1');
    assert(opts.requestSpanMax >= 1, 'requestSpanMax >= 1');
    this.opts = opts;
    this.clientId = opts.clientId ?? crypto.randomBytes(8).readBigUInt64BE(0);
  }

  /** The client was closed: nothing should be retried any more. */
  get closed(): boolean {
    return this.closedByUser;
  }

  /** The master in use (or tried first on the next reconnect). */
  get address(): string {
    return formatMasterAddress(this.opts.masters[this.masterIndex]!);
  }

  /** Counts the sessions opened: a new epoch means write leases of the last one are gone. */
  get epoch(): number {
    return this.epochNow;
  }

  get sessionMode(): SessionMode {
    return this.mode;
  }

  /** Called with the new epoch each time a session opens again after a lost link. */
  onReconnect(listener: (epoch: number) => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  /** Sends a request; a non-OK status throws FsError with `context` (e.g. the path). */
  async call<F extends Fields, R extends Fields>(
    def: RequestDef<F, R>, body: Struct<F>, context: string,
  ): Promise<Struct<R>> {
    return (await this.callWithEpoch(def, body, context)).body;
  }

  /** Requests sent so far by message name (counted once each, however often resent). */
  requestCounts(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  /** Like call(), and tells in which session epoch the master answered (write leases). */
  async callWithEpoch<F extends Fields, R extends Fields>(
    def: RequestDef<F, R>, body: Struct<F>, context: string,
  ): Promise<{ body: Struct<R>; epoch: number }> {
    this.counts.set(def.name, (this.counts.get(def.name) ?? 0) + 1);
    let answer: Answer;
    try {
      answer = await this.request(def as unknown as RequestDef, body as Struct<Fields>);
    } catch (err) {
      const e = toFsError(err, context);
      throw new FsError(e.code, e.context === context ? context : `${context}: ${e.context}`);
    }
    const { reply, epoch } = answer;
    if (reply.status !== Status.OK) throw new FsError(reply.status, context);
    assert(reply.body !== undefined, `${def.name}: OK reply has a body`);
    return { body: reply.body as Struct<R>, epoch };
  }

  /**
   * The live link, connecting first if there is none; `roundsMax` bounds the rounds over the
   * address list (default: connectRoundsMax). Fails with ENOTCONN if no master takes us.
   */
  ready(roundsMax = this.opts.connectRoundsMax): Promise<Link> {
    if (this.closedByUser) return Promise.reject(new FsError('ENOTCONN', 'client is closed'));
    if (this.link !== null) return Promise.resolve(this.link);
    return this.connectOnce(roundsMax);
  }

  close(): void {
    if (this.closedByUser) return;
    this.closedByUser = true;
    this.reconnectListeners.clear();
    this.link?.close('client closed');
    this.failAll(new FsError('ENOTCONN', 'client is closed'));
  }

  // ---- Requests ----------------------------------------------------------------------------

  private request(def: RequestDef, body: Struct<Fields>): Promise<Answer> {
    if (this.closedByUser) return Promise.reject(new FsError('ENOTCONN', 'client is closed'));
    return new Promise<Answer>((resolve, reject) => {
      this.waiting.push({
        def, body, idempotent: IDEMPOTENT_REQUESTS.has(def.type), id: 0, link: null, epoch: 0,
        recorded: false, settle: (r) => (r instanceof FsError ? reject(r) : resolve(r)),
      });
      this.pump();
    });
  }

  /** Sends what waits, as far as the id span allows; with no link, reconnects. */
  private pump(): void {
    const link = this.link;
    if (link === null) {
      if (this.waiting.length > 0 || this.sent.size > 0) void this.connectOnce();
      return;
    }
    while (this.waiting.length > 0 && this.spanAllowsNext(link)) {
      this.send(this.waiting.shift()!, link);
    }
  }

  private spanAllowsNext(link: Link): boolean {
    const oldest = this.sent.keys().next();
    if (oldest.done === true) return true;
    return requestIdDistance(oldest.value, link.requestIdNext) < this.opts.requestSpanMax;
  }

  private send(p: Pending, link: Link): void {
    p.id = link.requestIdNext;
    p.link = link;
    p.epoch = this.epochNow;
    p.recorded = this.mode === 'session';
    assert(!this.sent.has(p.id), `request id ${p.id} is not in use`);
    this.sent.set(p.id, p);
    link.request(p.def, p.body, undefined, { timeoutMs: this.opts.requestTimeoutMs }).then(
      (reply) => this.onReply(p, link, reply),
      (err: unknown) => this.onFailure(p, link, err),
    );
  }

  private onReply(p: Pending, link: Link, reply: Reply<Fields>): void {
    if (p.link !== link) return; // the link dropped first: p waits to go out again
    if (reply.status === Status.NOT_ACTIVE_MASTER) {
      // This master stepped down: everything out on it goes to the next address.
      this.masterIndex = (this.masterIndex + 1) % this.opts.masters.length;
      link.close('not the active master');
      return;
    }
    this.sent.delete(p.id);
    p.link = null;
    p.settle({ reply, epoch: p.epoch });
    this.pump();
  }

  /** A timeout fails the request; a closed link leaves it to be sent again. */
  private onFailure(p: Pending, link: Link, err: unknown): void {
    if (p.link !== link) return;
    if (link.closed) {
      p.link = null;
      if (this.link === null) this.pump();
      return;
    }
    this.sent.delete(p.id);
    p.link = null;
    p.settle(toFsError(err, p.def.name));
    this.pump();
  }

  private failAll(err: FsError): void {
    const all = [...this.waiting, ...this.sent.values()];
    this.waiting.length = 0;
    this.sent.clear();
    for (const p of all) {
      p.link = null;
      p.settle(err);
    }
  }

  // ---- Links -------------------------------------------------------------------------------

  private connectOnce(roundsMax = this.opts.connectRoundsMax): Promise<Link> {
    if (this.connecting === null) {
      const attempt = this.connectAndAdopt(roundsMax);
      this.connecting = attempt;
      attempt.catch(() => undefined); // the waiting requests have been failed with the error
    }
    return this.connecting;
  }

  private async connectAndAdopt(roundsMax: number): Promise<Link> {
    let h: MasterHandshake;
    try {
      h = await this.connect(roundsMax, Date.now() + this.opts.reconnectMs);
    } catch (err) {
      this.connecting = null;
      const e = toFsError(err, 'connect to master');
      this.failAll(e);
      throw e;
    }
    this.connecting = null;
    this.adopt(h);
    return h.link;
  }

  /** Each address in turn, round after round with backoff, until one takes the session. */
  private async connect(roundsMax: number, deadlineMs: number): Promise<MasterHandshake> {
    const { masters } = this.opts;
    const first = this.masterIndex;
    let lastError = 'no attempt';
    let hopeless = false;
    for (let round = 0; round < roundsMax && !hopeless; round++) {
      if (round > 0) {
        const waitMs = Math.min(backoffMs(this.opts, round - 1), deadlineMs - Date.now());
        if (waitMs <= 0) break;
        await sleep(waitMs);
      }
      for (let i = 0; i < masters.length; i++) {
        if (this.closedByUser) throw new FsError('ENOTCONN', 'client is closed');
        if (Date.now() >= deadlineMs && round + i > 0) break;
        const index = (first + i) % masters.length;
        try {
          const h = await this.handshake(masters[index]!, deadlineMs);
          this.masterIndex = index;
          return h;
        } catch (err) {
          lastError = err instanceof FsError ? err.message : String(err);
          hopeless = statusOf(err) === 'EPROTO'; // a protocol mismatch will not heal
          if (hopeless) break;
        }
      }
    }
    throw new FsError('ENOTCONN', `cannot reach master (${lastError})`);
  }

  private async handshake(master: MasterAddress, deadlineMs: number): Promise<MasterHandshake> {
    const remainingMs = Math.max(deadlineMs - Date.now(), HANDSHAKE_TIMEOUT_MIN_MS);
    const oldest = this.sent.keys().next();
    const h = await openMasterSession(master, {
      clientId: this.clientId, clientName: this.opts.clientName, log: this.opts.log,
      // Resends keep their ids: the session request takes the id just before the oldest.
      firstRequestId: oldest.done === true ? this.idNext : previousRequestId(oldest.value),
      timeoutMs: Math.min(this.opts.connectTimeoutMs, remainingMs),
      requestTimeoutMs: this.opts.requestTimeoutMs,
      inflightMax: this.opts.requestSpanMax + HANDSHAKE_REQUESTS,
    });
    const refuse = (reason: string): never => {
      h.link.close(reason);
      throw new FsError('ENOTCONN', `master ${formatMasterAddress(master)}: ${reason}`);
    };
    if (this.closedByUser) refuse('client is closed');
    if (this.clusterId !== '' && h.clusterId !== '' && h.clusterId !== this.clusterId) {
      refuse(`serves cluster ${h.clusterId}, not ${this.clusterId}`);
    }
    return h;
  }

  private adopt(h: MasterHandshake): void {
    const { link } = h;
    const resumed = this.epochNow > 0;
    this.link = link;
    this.mode = h.mode;
    this.sessionId = h.sessionId;
    this.metaVersion = h.metaVersion;
    if (h.clusterId !== '') this.clusterId = h.clusterId;
    this.epochNow++;
    link.onClose((reason) => this.onLinkClosed(link, reason));
    if (this.link !== link) return; // closed already: onLinkClosed reconnects
    const resent = this.sent.size;
    this.resend(link);
    this.pump();
    if (!resumed) return;
    this.opts.log.info('master session resumed', {
      master: this.address, mode: this.mode, sessionId: this.sessionId, resent,
    });
    for (const listener of [...this.reconnectListeners]) listener(this.epochNow);
  }

  private onLinkClosed(link: Link, reason: string): void {
    if (link !== this.link) return;
    this.idNext = link.requestIdNext;
    this.link = null;
    for (const p of this.sent.values()) p.link = null;
    if (this.closedByUser) {
      this.failAll(new FsError('ENOTCONN', 'client is closed'));
      return;
    }
    // Under CLTOMA_REGISTER the master keeps no record: a change may or may not be applied.
    for (const p of [...this.sent.values()]) {
      if (p.idempotent || p.recorded) continue;
      this.sent.delete(p.id);
      p.settle(new FsError('ENOTCONN', `master ${this.address}: ${reason}`));
    }
    this.opts.log.warn('master link lost', {
      master: this.address, reason, unanswered: this.sent.size,
    });
    const wanted = this.sent.size > 0 || this.waiting.length > 0;
    if (wanted || this.reconnectListeners.size > 0) void this.connectOnce();
  }

  /**
   * Sends every unanswered request again on a fresh link, oldest first: each under its own id
   * (CLTOMA_SESSION), with fillers on the ids answered before, so the link ends up where the
   * old one stopped. Under CLTOMA_REGISTER the ids shift by one, which only we look at.
   */
  private resend(link: Link): void {
    const entries = [...this.sent.values()];
    if (entries.length === 0) return;
    this.sent.clear();
    const byId = new Map(entries.map((p) => [p.id, p]));
    const firstId = entries[0]!.id;
    const count = requestIdDistance(firstId, this.idNext);
    assert(count >= entries.length && count <= this.opts.requestSpanMax, 'resends fit the span');
    const sameIds = this.mode === 'session';
    let id = firstId;
    for (let k = 0; k < count; k++, id = nextRequestId(id)) {
      assert(!sameIds || link.requestIdNext === id, 'a resent request keeps its id');
      const p = byId.get(id);
      if (p !== undefined && (p.idempotent || (p.recorded && sameIds))) {
        this.send(p, link);
        continue;
      }
      if (p !== undefined) {
        p.settle(new FsError('ENOTCONN', `${p.def.name}: master ${this.address} keeps no record`));
      }
      this.sendFiller(link);
    }
    assert(!sameIds || link.requestIdNext === this.idNext, 'new requests follow the resent ones');
  }

  /** Takes one id with a request that changes nothing; its answer is not needed. */
  private sendFiller(link: Link): void {
    const timeoutMs = this.opts.requestTimeoutMs;
    link.request(CLTOMA_GETATTR, { inode: ROOT_INODE }, undefined, { timeoutMs })
      .then(() => undefined, () => undefined);
  }
}
