// Port 9420: the master's side of the link to each chunkserver. Handles REGISTER (ids are
// persistent: logged when handed out), the chunk list (reconciled against the registry),
// heartbeats and damage/loss reports, and sends the master's orders (CREATE, SET_VERSION,
// TRUNCATE, DELETE) as requests on the same link. A server whose link closes or that misses
// heartbeats for CHUNKSERVER_TIMEOUT_MS is lost: its copies stop counting at once. A master
// that is not active refuses registrations (NOT_ACTIVE_MASTER).
import net from 'node:net';
import {
  CSTOMA_CHUNKS, CSTOMA_CHUNK_DAMAGED, CSTOMA_CHUNK_LOST, CSTOMA_HEARTBEAT,
  CSTOMA_REGISTER, FsError, PAYLOAD_MAX_MASTER_CHUNKSERVER_BYTES, Router, Status, listenLinks,
  type Fields, type Link, type Logger, type RequestDef, type StatusCode, type Struct,
} from '@antlerfs/protocol';
import type { Chunkserver, Chunkservers } from './chunkservers.ts';
import type { DeletionQueue } from './deletion-queue.ts';
import type { MetaStore } from './meta-store.ts';

/** How long an order to a chunkserver may take before it counts as failed. */
export const ORDER_TIMEOUT_MS = 10_000;
/** Orders outstanding on one chunkserver link at once; more wait for a slot. */
const ORDERS_INFLIGHT_MAX = 1024;

export interface ChunkserverLinksOptions {
  store: MetaStore;
  servers: Chunkservers;
  deletions: DeletionQueue;
  log: Logger;
  chunkserverTimeoutMs: number;
  chunkserversMax: number;
  /** False while this master is not the active one. */
  isActive: () => boolean;
  /** Chunks made ahead of their files (chunk-pool.ts): a list naming one keeps it. */
  isPooled?: (chunkId: number) => boolean;
  /** A bug (failed assertion) in a handler: the process must stop. */
  onFatal: (err: Error) => void;
}

interface ListCounts { valid: number; stale: number; unknown: number; adopted: number }

export class ChunkserverLinks {
  private readonly opts: ChunkserverLinksOptions;
  private readonly log: Logger;
  private server: net.Server | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private readonly links = new Set<Link>();
  private readonly listCounts = new Map<number, ListCounts>();
  /** csId -> chunk ids it reported damaged before (or while) listing them: never valid. */
  private readonly damaged = new Map<number, Set<number>>();
  timeoutMs: number;

  constructor(opts: ChunkserverLinksOptions) {
    this.opts = opts;
    this.log = opts.log;
    this.timeoutMs = opts.chunkserverTimeoutMs;
  }

  async listen(host: string, port: number): Promise<number> {
    this.server = await listenLinks(host, port, {
      kind: 'master-chunkserver', payloadMaxBytes: PAYLOAD_MAX_MASTER_CHUNKSERVER_BYTES,
      log: this.log, router: this.router(), inflightMax: ORDERS_INFLIGHT_MAX,
      requestTimeoutMs: ORDER_TIMEOUT_MS, connectionsMax: this.opts.chunkserversMax,
      onBug: (err) => this.opts.onFatal(err instanceof Error ? err : new Error(String(err))),
    }, (link) => {
      this.links.add(link);
      link.onClose((reason) => {
        this.links.delete(link);
        this.linkClosed(link, reason);
      });
    });
    const checkEveryMs = Math.min(1000, this.timeoutMs / 4);
    this.heartbeatTimer = setInterval(() => this.checkHeartbeats(), checkEveryMs);
    return (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    const server = this.server;
    // server.close waits for every connection to end: close them after it stops accepting.
    const closed = server === null
      ? Promise.resolve()
      : new Promise<void>((resolve) => server.close(() => resolve()));
    for (const link of [...this.links]) link.close('master stopping');
    await closed;
  }

  /** Sends an order to a chunkserver; any failure comes back as a status, never a throw. */
  async order<F extends Fields, R extends Fields>(
    csId: number, def: RequestDef<F, R>, body: Struct<F>,
  ): Promise<StatusCode> {
    const cs = this.opts.servers.get(csId);
    if (cs === undefined || cs.link === null || cs.link.closed) return Status.ENOTCONN;
    try {
      const reply = await cs.link.request(def, body, undefined, { timeoutMs: ORDER_TIMEOUT_MS });
      return reply.status;
    } catch (err) {
      return err instanceof FsError ? err.status : Status.EIO;
    }
  }

  /** Like order(), with the reply body on OK and a timeout of its own (long copies). */
  async orderReply<F extends Fields, R extends Fields>(
    csId: number, def: RequestDef<F, R>, body: Struct<F>, timeoutMs: number,
  ): Promise<{ status: StatusCode; body: Struct<R> | null }> {
    const cs = this.opts.servers.get(csId);
    if (cs === undefined || cs.link === null || cs.link.closed) {
      return { status: Status.ENOTCONN, body: null };
    }
    try {
      const reply = await cs.link.request(def, body, undefined, { timeoutMs });
      return { status: reply.status, body: reply.status === Status.OK ? reply.body ?? null : null };
    } catch (err) {
      return { status: err instanceof FsError ? err.status : Status.EIO, body: null };
    }
  }

  private router(): Router {
    return new Router()
      .on(CSTOMA_REGISTER, (body, ctx) => this.register(body, ctx.link))
      .on(CSTOMA_CHUNKS, (body, ctx) => this.chunkList(body, ctx.link))
      .on(CSTOMA_HEARTBEAT, (body, ctx) => {
        const cs = this.serverOf(ctx.link);
        cs.totalBytes = body.totalBytes;
        cs.freeBytes = Math.min(body.freeBytes, body.totalBytes);
        cs.reportedChunks = body.chunkCount;
        cs.lastHeartbeatMs = this.opts.store.nowMs();
        return {};
      })
      .on(CSTOMA_CHUNK_DAMAGED, (body, ctx) => {
        const cs = this.serverOf(ctx.link);
        const chunk = this.opts.store.md.chunks.get(body.chunkId);
        const copy = chunk?.copies.get(cs.csId);
        if (copy !== undefined && chunk!.version === body.version) copy.valid = false;
        else this.damagedOn(cs.csId).add(body.chunkId); // its listing may come later
        this.log.warn('chunk copy damaged', { ...body, csId: cs.csId });
        return {};
      })
      .on(CSTOMA_CHUNK_LOST, (body, ctx) => {
        const cs = this.serverOf(ctx.link);
        this.opts.store.md.chunks.removeCopy(body.chunkId, cs.csId);
        this.log.warn('chunk copy lost', { ...body, csId: cs.csId });
        return {};
      });
  }

  private damagedOn(csId: number): Set<number> {
    let set = this.damaged.get(csId);
    if (set === undefined) this.damaged.set(csId, (set = new Set()));
    return set;
  }

  private serverOf(link: Link): Chunkserver {
    const csId = link.state.csId;
    const cs = typeof csId === 'number' ? this.opts.servers.get(csId) : undefined;
    if (cs === undefined || cs.link !== link) {
      throw new FsError('EPERM', 'chunkserver not registered');
    }
    return cs;
  }

  private async register(
    body: Struct<typeof CSTOMA_REGISTER.fields>, link: Link,
  ): Promise<{ body: { csId: number } }> {
    if (!this.opts.isActive()) throw new FsError('NOT_ACTIVE_MASTER', 'not the active master');
    if (link.state.csId !== undefined) throw new FsError('EINVAL', 'registered twice on one link');
    if (body.port === 0) throw new FsError('EINVAL', 'data port 0');
    const { store } = this.opts;
    let csId = body.csId;
    if (csId === 0 || !store.md.csIds.has(csId)) {
      if (csId === 0) csId = store.md.nextCsId;
      link.state.csId = -1; // registration in progress on this link
      await store.commit({ kind: 'chunkserverAdd', csId }).durable;
    }
    if (link.closed) throw new FsError('ENOTCONN', 'link closed during registration');
    const old = this.opts.servers.get(csId);
    if (old !== undefined && old.link !== null) {
      this.log.warn('chunkserver registered again: closing its old link', {
        csId, peer: old.link.peer,
      });
      old.link.close('replaced by a new registration'); // marks it lost synchronously
    }
    const host = body.host !== '' ? body.host : (link.socket.remoteAddress ?? '127.0.0.1');
    this.opts.servers.online({
      csId, host, port: body.port, totalBytes: body.totalBytes,
      freeBytes: Math.min(body.freeBytes, body.totalBytes), link, nowMs: store.nowMs(),
    });
    link.state.csId = csId;
    this.listCounts.set(csId, { valid: 0, stale: 0, unknown: 0, adopted: 0 });
    this.damaged.delete(csId);
    this.log.info('chunkserver registering', { csId, host, port: body.port, new: body.csId === 0 });
    return { body: { csId } };
  }

  private async chunkList(body: Struct<typeof CSTOMA_CHUNKS.fields>, link: Link): Promise<object> {
    const cs = this.serverOf(link);
    cs.lastHeartbeatMs = this.opts.store.nowMs(); // a long list counts as a sign of life
    const counts = this.listCounts.get(cs.csId) ?? { valid: 0, stale: 0, unknown: 0, adopted: 0 };
    const durable: Promise<void>[] = [];
    for (const c of body.chunks) {
      const p = this.reconcile(cs.csId, c.chunkId, c.version, c.lengthBytes, counts);
      if (p !== null) durable.push(p);
    }
    await Promise.all(durable);
    if (body.last !== 0 && this.opts.servers.get(cs.csId)?.link === link) {
      cs.listComplete = true;
      this.listCounts.delete(cs.csId);
      this.log.info('chunkserver registered', {
        csId: cs.csId, host: cs.host, port: cs.port, ...counts,
        copies: this.opts.store.md.chunks.copiesOn(cs.csId),
      });
    }
    return {};
  }

  /** One reported copy against the registry; returns a promise when a change was logged. */
  private reconcile(
    csId: number, chunkId: number, version: number, lengthBytes: number, counts: ListCounts,
  ): Promise<void> | null {
    const { store, deletions } = this.opts;
    const registry = store.md.chunks;
    const chunk = registry.live(chunkId);
    if (chunk === undefined) {
      if (this.opts.isPooled?.(chunkId) === true) return null;
      counts.unknown++;
      deletions.enqueueStray(chunkId, 0, csId);
      return null;
    }
    const pending = chunk.pendingVersion !== 0 && version === chunk.pendingVersion;
    if (version === chunk.version || pending) {
      counts.valid++;
      const damaged = this.damaged.get(csId)?.has(chunkId) === true;
      registry.addCopy(chunkId, csId, !damaged, pending ? -1 : lengthBytes);
      return null;
    }
    if (version < chunk.version) {
      counts.stale++;
      registry.removeCopy(chunkId, csId);
      deletions.enqueueStray(chunkId, version, csId);
      return null;
    }
    // A version bump that reached this server but whose record was lost in a crash: adopt it.
    counts.adopted++;
    const old = chunk.version;
    const { durable } = store.commit({ kind: 'chunkVersion', chunkId, version });
    for (const copy of [...chunk.copies.values()]) {
      if (copy.csId === csId) continue;
      registry.removeCopy(chunkId, copy.csId);
      deletions.enqueueStray(chunkId, old, copy.csId);
    }
    registry.addCopy(chunkId, csId, true, lengthBytes);
    this.log.warn('chunk version adopted from a chunkserver', {
      chunkId, from: old, to: version, csId,
    });
    return durable;
  }

  private linkClosed(link: Link, reason: string): void {
    const csId = link.state.csId;
    if (typeof csId !== 'number' || csId <= 0) return;
    const cs = this.opts.servers.get(csId);
    if (cs === undefined || cs.link !== link) return;
    this.opts.servers.lost(csId, this.opts.store.nowMs());
    const copies = this.opts.store.md.chunks.dropServer(csId);
    this.listCounts.delete(csId);
    this.damaged.delete(csId);
    this.log.warn('chunkserver lost', { csId, host: cs.host, port: cs.port, reason, copies });
  }

  private checkHeartbeats(): void {
    const now = this.opts.store.nowMs();
    for (const cs of this.opts.servers.values()) {
      if (cs.link !== null && now - cs.lastHeartbeatMs > this.timeoutMs) {
        cs.link.close(`no heartbeat for ${now - cs.lastHeartbeatMs} ms`);
      }
    }
  }
}
