// One connection to one chunkserver's data port (9422): a pipelined Link (requests matched by
// id, many in flight) that is dialled on first use and again on the next use after it closed.
// Requests in flight when the link drops fail with ENOTCONN; callers retry elsewhere.
import {
  connectLink, FsError, PAYLOAD_MAX_DATA_BYTES, type Fields, type Link, type Logger, type Reply,
  type RequestDef, type Struct,
} from '@antlerfs/protocol';

export interface ChunkserverConnectionOptions {
  host: string;
  port: number;
  log: Logger;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  /** Requests in flight on this one socket; more wait in the Link for a slot. */
  inflightMax: number;
}

export class ChunkserverConnection {
  readonly address: string;
  private readonly opts: ChunkserverConnectionOptions;
  private link: Link | null = null;
  private connecting: Promise<Link> | null = null;
  /** Requests sent and not answered (including those waiting for the socket to connect). */
  inflight = 0;
  private closedByUser = false;

  constructor(opts: ChunkserverConnectionOptions) {
    this.opts = opts;
    this.address = `${opts.host}:${opts.port}`;
  }

  /** Sends a request; resolves with any status, rejects (FsError) only if the link fails. */
  async request<F extends Fields, R extends Fields>(
    def: RequestDef<F, R>, body: Struct<F>, data?: Buffer | Buffer[],
  ): Promise<Reply<R>> {
    if (this.closedByUser) throw new FsError('ENOTCONN', `${this.address}: client is closed`);
    this.inflight++;
    try {
      const link = this.link !== null && !this.link.closed ? this.link : await this.connect();
      return await link.request(def, body, data);
    } finally {
      this.inflight--;
    }
  }

  close(): void {
    this.closedByUser = true;
    this.link?.close('client closed');
    this.link = null;
  }

  private connect(): Promise<Link> {
    if (this.connecting === null) {
      this.connecting = connectLink(this.opts.host, this.opts.port, {
        kind: 'data', payloadMaxBytes: PAYLOAD_MAX_DATA_BYTES, log: this.opts.log,
        connectTimeoutMs: this.opts.connectTimeoutMs, requestTimeoutMs: this.opts.requestTimeoutMs,
        inflightMax: this.opts.inflightMax,
      }).then((link) => {
        if (this.closedByUser) link.close('client closed');
        this.link = link;
        return link;
      }).finally(() => { this.connecting = null; });
    }
    return this.connecting;
  }
}
