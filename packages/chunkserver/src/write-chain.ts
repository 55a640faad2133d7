// Chain writes: a block written here is also sent on to the next chunkserver of the chain, the
// same Buffer (a view of the receive buffer, never copied) with the rest of the chain. The reply
// is OK only when the local write and everything downstream are done. Downstream links are
// pooled: CHAIN_LINKS_PER_SERVER connections per next server, reused by every write, and a chunk
// always uses the same one so its writes (and fsync) reach the next server in the order sent.
import {
  CLTOCS_FSYNC, CLTOCS_WRITE, FsError, GOAL_MAX, PAYLOAD_MAX_DATA_BYTES, Status, assert, checksum,
  connectLink, statusFromSystemError, type Link, type Logger, type StatusCode,
} from '@antlerfs/protocol';
import { Xxh64 } from '@node-rs/xxhash';
import type { ChunkStore } from './chunk-store.ts';

export interface Hop {
  host: string;
  port: number;
}

export interface WriteRequest {
  chunkId: number;
  version: number;
  blockIndex: number;
  offsetInBlock: number;
  checksum: bigint;
  chain: Hop[];
}

export interface DownstreamOptions {
  linksPerServer: number;
  timeoutMs: number;
  log: Logger;
}

/** Requests one downstream link may carry at once (every upstream connection shares it). */
const DOWNSTREAM_INFLIGHT_MAX = 4096;
const DOWNSTREAM_CONNECT_TIMEOUT_MS = 5000;

interface Slot {
  link: Link | null;
  connecting: Promise<Link> | null;
}

/** Connections to the next chunkservers of write chains, by "host:port" and slot. */
export class DownstreamPool {
  private readonly opts: DownstreamOptions;
  private readonly servers = new Map<string, Slot[]>();
  private closed = false;

  constructor(opts: DownstreamOptions) {
    assert(opts.linksPerServer >= 1, 'at least one link per server');
    this.opts = opts;
  }

  /** The link that carries `chunkId`'s traffic to `hop`, connected if needed. */
  link(hop: Hop, chunkId: number): Promise<Link> {
    if (this.closed) return Promise.reject(new FsError('ENOTCONN', 'chunkserver is stopping'));
    const key = `${hop.host}:${hop.port}`;
    let slots = this.servers.get(key);
    if (slots === undefined) {
      const fresh = (): Slot => ({ link: null, connecting: null });
      slots = Array.from({ length: this.opts.linksPerServer }, fresh);
      this.servers.set(key, slots);
    }
    const slot = slots[chunkId % slots.length]!;
    if (slot.link !== null && !slot.link.closed) return Promise.resolve(slot.link);
    if (slot.connecting === null) slot.connecting = this.connect(hop, slot);
    return slot.connecting;
  }

  private async connect(hop: Hop, slot: Slot): Promise<Link> {
    try {
      const link = await connectLink(hop.host, hop.port, {
        kind: 'data', payloadMaxBytes: PAYLOAD_MAX_DATA_BYTES, log: this.opts.log,
        inflightMax: DOWNSTREAM_INFLIGHT_MAX, requestTimeoutMs: this.opts.timeoutMs,
        connectTimeoutMs: DOWNSTREAM_CONNECT_TIMEOUT_MS,
      });
      if (this.closed) {
        link.close('chunkserver is stopping');
        throw new FsError('ENOTCONN', 'chunkserver is stopping');
      }
      slot.link = link;
      link.onClose((reason) => {
        this.opts.log.debug('chain link closed', { peer: link.peer, reason });
        if (slot.link === link) slot.link = null;
      });
      return link;
    } finally {
      slot.connecting = null;
    }
  }

  close(): void {
    this.closed = true;
    for (const slots of this.servers.values()) {
      for (const s of slots) s.link?.close('chunkserver is stopping');
    }
    this.servers.clear();
  }
}

/** xxh64 of bytes that may have arrived in several pieces (hashed in place, not joined). */
function checksumOf(data: Buffer | readonly Buffer[]): bigint {
  if (Buffer.isBuffer(data)) return checksum(data);
  if (data.length === 1) return checksum(data[0]!);
  const hash = new Xxh64();
  for (const p of data) hash.update(p);
  return hash.digest();
}

/** The status an error stands for: its own for FsError, else from the system error; a bug
 * (anything else) is rethrown so it is logged with its stack. */
export function statusOf(err: unknown): StatusCode {
  if (err instanceof FsError) return err.status;
  if (typeof (err as NodeJS.ErrnoException | null)?.code === 'string') {
    return Status[statusFromSystemError(err)];
  }
  throw err;
}

export interface WriteChainCounters {
  payloadChecksumErrors: number;
  chainForwards: number;
  chainErrors: number;
}

export class WriteChain {
  readonly counters: WriteChainCounters = {
    payloadChecksumErrors: 0, chainForwards: 0, chainErrors: 0,
  };
  private readonly store: ChunkStore;
  private readonly downstream: DownstreamPool;

  constructor(store: ChunkStore, downstream: DownstreamPool) {
    this.store = store;
    this.downstream = downstream;
  }

  /**
   * Verifies, writes locally and forwards at once; the local write is queued before any await
   * so writes to one block apply in arrival order here and, on one link, downstream too.
   */
  async write(req: WriteRequest, data: Buffer | readonly Buffer[]): Promise<StatusCode> {
    if (req.chain.length >= GOAL_MAX) return Status.EINVAL;
    if (checksumOf(data) !== req.checksum) {
      this.counters.payloadChecksumErrors++;
      return Status.CHECKSUM_MISMATCH;
    }
    const held = this.store.get(req.chunkId);
    if (held === undefined) return Status.NO_SUCH_CHUNK;
    if (held.version !== req.version) return Status.WRONG_VERSION;
    const local = this.store.write(
      req.chunkId, req.version, req.blockIndex, req.offsetInBlock, data, req.checksum,
    ).then(() => Status.OK, statusOf);
    const remote = req.chain.length === 0 ? Status.OK : this.forwardWrite(req, data);
    const [localStatus, remoteStatus] = await Promise.all([local, remote]);
    return localStatus !== Status.OK ? localStatus : remoteStatus;
  }

  private async forwardWrite(
    req: WriteRequest, data: Buffer | readonly Buffer[],
  ): Promise<StatusCode> {
    this.counters.chainForwards++;
    try {
      const link = await this.downstream.link(req.chain[0]!, req.chunkId);
      // The same bytes go on, as the views they arrived in (never joined or copied).
      const reply = await link.request(CLTOCS_WRITE, { ...req, chain: req.chain.slice(1) }, data);
      if (reply.status !== Status.OK) this.counters.chainErrors++;
      return reply.status;
    } catch (err) {
      this.counters.chainErrors++;
      return statusOf(err);
    }
  }

  /** fsync here and on every later copy of the chain. */
  async fsync(chunkId: number, version: number, chain: Hop[]): Promise<StatusCode> {
    if (chain.length >= GOAL_MAX) return Status.EINVAL;
    const local = this.store.fsync(chunkId, version).then(() => Status.OK, statusOf);
    const remote = chain.length === 0 ? Status.OK : this.forwardFsync(chunkId, version, chain);
    const [localStatus, remoteStatus] = await Promise.all([local, remote]);
    return localStatus !== Status.OK ? localStatus : remoteStatus;
  }

  private async forwardFsync(chunkId: number, version: number, chain: Hop[]): Promise<StatusCode> {
    try {
      const link = await this.downstream.link(chain[0]!, chunkId);
      const reply = await link.request(CLTOCS_FSYNC, { chunkId, version, chain: chain.slice(1) });
      return reply.status;
    } catch (err) {
      return statusOf(err);
    }
  }
}
