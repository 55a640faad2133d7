// The client's one session with the master (port 9421): a single pipelined Link registered with
// CLTOMA_REGISTER. Every metadata request goes through call(). After the master restarts, the
// next call reconnects (bounded attempts with backoff, trying each master address in turn);
// requests that were in flight on the old link fail with ENOTCONN. Holds no namespace state.
import {
  assert, CLTOMA_GETATTR, CLTOMA_LIST_CHUNKSERVERS, CLTOMA_LOOKUP, CLTOMA_LOOKUP_PATH,
  CLTOMA_READ_CHUNKS, CLTOMA_READDIR, CLTOMA_READLINK, CLTOMA_REGISTER, CLTOMA_STATFS,
  connectLink, FsError, PAYLOAD_MAX_CLIENT_MASTER_BYTES, PORT_MATOCL, PROTOCOL_VERSION, Status,
  type Fields, type Link, type Logger, type Reply, type RequestDef, type Struct,
} from '@antlerfs/protocol';
import { backoffMs, sleep, statusOf, type Backoff } from './errors.ts';

/** Requests that change nothing on the master, so sending one twice is harmless. */
const READ_ONLY_REQUESTS = new Set<number>([
  CLTOMA_LOOKUP, CLTOMA_LOOKUP_PATH, CLTOMA_GETATTR, CLTOMA_READDIR, CLTOMA_READLINK,
  CLTOMA_STATFS, CLTOMA_READ_CHUNKS, CLTOMA_LIST_CHUNKSERVERS,
].map((def) => def.type));

export interface MasterAddress {
  host: string;
  port: number;
}

/** "host:port[,host:port...]"; the port defaults to 9421; IPv6 as "[::1]:9421". */
export function parseMasterList(text: string): MasterAddress[] {
  const out: MasterAddress[] = [];
  for (const item of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(item);
    const port = m?.[3] === undefined ? PORT_MATOCL : Number(m[3]);
    if (!m || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new FsError('EINVAL', `master address "${item}" (expected host:port)`);
    }
    out.push({ host: m[1] ?? m[2]!, port });
  }
  if (out.length === 0) throw new FsError('EINVAL', 'no master address given');
  return out;
}

export interface MasterSessionOptions extends Backoff {
  masters: MasterAddress[];
  clientName: string;
  log: Logger;
  /** Rounds over the master list before a call gives up with ENOTCONN. */
  connectRoundsMax: number;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
}

export class MasterSession {
  private readonly opts: MasterSessionOptions;
  private link: Link | null = null;
  private connecting: Promise<Link> | null = null;
  private masterIndex = 0;
  private closedByUser = false;
  /** Id the master gave this session at the last REGISTER. */
  sessionId = 0;

  constructor(opts: MasterSessionOptions) {
    assert(opts.masters.length > 0, 'at least one master address');
    assert(opts.connectRoundsMax >= 1, 'connectRoundsMax >= 1');
    this.opts = opts;
  }

  /** The client was closed: nothing should be retried any more. */
  get closed(): boolean {
    return this.closedByUser;
  }

  get address(): string {
    const m = this.opts.masters[this.masterIndex]!;
    return `${m.host}:${m.port}`;
  }

  /**
   * Sends a request; a non-OK status throws FsError with `context` (e.g. the path). A request
   * that only reads is sent once more on a fresh link if the link dropped under it; one that
   * changes something fails with ENOTCONN, since the master may or may not have applied it.
   */
  async call<F extends Fields, R extends Fields>(
    def: RequestDef<F, R>, body: Struct<F>, context: string,
  ): Promise<Struct<R>> {
    let sent;
    try {
      sent = await this.send(def, body);
    } catch (err) {
      if (!READ_ONLY_REQUESTS.has(def.type) || statusOf(err) !== 'ENOTCONN') throw err;
      sent = await this.send(def, body);
    }
    const { link, reply } = sent;
    if (reply.status === Status.NOT_ACTIVE_MASTER) {
      // A follower answered: drop it so the next call tries the next address.
      link.close('not the active master');
      this.masterIndex = (this.masterIndex + 1) % this.opts.masters.length;
      throw new FsError('NOT_ACTIVE_MASTER', `${this.address}: ${context}`);
    }
    if (reply.status !== Status.OK) throw new FsError(reply.status, context);
    assert(reply.body !== undefined, `${def.name}: OK reply has a body`);
    return reply.body;
  }

  private async send<F extends Fields, R extends Fields>(
    def: RequestDef<F, R>, body: Struct<F>,
  ): Promise<{ link: Link; reply: Reply<R> }> {
    const link = await this.ready();
    const timeoutMs = this.opts.requestTimeoutMs;
    const reply = await link.request(def, body, undefined, { timeoutMs });
    return { link, reply };
  }

  /**
   * The live link, connecting (or reconnecting) first if there is none. `roundsMax` bounds the
   * rounds over the address list (default: connectRoundsMax).
   */
  ready(roundsMax = this.opts.connectRoundsMax): Promise<Link> {
    if (this.closedByUser) return Promise.reject(new FsError('ENOTCONN', 'client is closed'));
    if (this.link !== null && !this.link.closed) return Promise.resolve(this.link);
    if (this.connecting === null) {
      this.connecting = this.connect(roundsMax).finally(() => { this.connecting = null; });
    }
    return this.connecting;
  }

  close(): void {
    this.closedByUser = true;
    this.link?.close('client closed');
    this.link = null;
  }

  private async connect(roundsMax: number): Promise<Link> {
    const { masters } = this.opts;
    const first = this.masterIndex;
    let lastError = '';
    for (let attempt = 0; attempt < roundsMax * masters.length; attempt++) {
      if (attempt > 0 && attempt % masters.length === 0) {
        await sleep(backoffMs(this.opts, attempt / masters.length - 1));
      }
      if (this.closedByUser) break;
      const index = (first + attempt) % masters.length;
      try {
        const link = await this.connectOnce(masters[index]!);
        this.masterIndex = index;
        return link;
      } catch (err) {
        lastError = err instanceof FsError ? err.context : String(err);
        if (statusOf(err) === 'EPROTO') break; // a protocol mismatch will not heal by retrying
      }
    }
    throw new FsError('ENOTCONN', `cannot reach master (${lastError})`);
  }

  private async connectOnce(master: MasterAddress): Promise<Link> {
    const link = await connectLink(master.host, master.port, {
      kind: 'client-master', payloadMaxBytes: PAYLOAD_MAX_CLIENT_MASTER_BYTES, log: this.opts.log,
      connectTimeoutMs: this.opts.connectTimeoutMs, requestTimeoutMs: this.opts.requestTimeoutMs,
    });
    try {
      const reply = await link.call(CLTOMA_REGISTER, {
        clientName: this.opts.clientName, protocolVersion: PROTOCOL_VERSION,
      }, undefined, { context: `register with master ${master.host}:${master.port}` });
      if (this.closedByUser) throw new FsError('ENOTCONN', 'client is closed');
      this.sessionId = reply.body.sessionId;
      this.link = link;
      return link;
    } catch (err) {
      link.close('register failed');
      throw err;
    }
  }
}
