// Port 9421: client sessions. A client registers first (CLTOMA_REGISTER), then sends any
// CLTOMA_* request; changes are answered only once their record is on disk, and reads only
// once what they saw is on disk. Limits: SESSIONS_MAX sessions, SESSION_REQUESTS_INFLIGHT_MAX
// requests per session (EAGAIN beyond). A session's write leases go when its link closes.
import net from 'node:net';
import {
  AssertionError, CLTOMA_CREATE, CLTOMA_GETATTR, CLTOMA_LINK, CLTOMA_LIST_CHUNKSERVERS,
  CLTOMA_LOOKUP, CLTOMA_LOOKUP_PATH, CLTOMA_MKDIR, CLTOMA_READDIR, CLTOMA_READLINK,
  CLTOMA_READ_CHUNKS, CLTOMA_REGISTER, CLTOMA_RENAME, CLTOMA_REPORT_BAD_CHUNK, CLTOMA_RMDIR,
  CLTOMA_SETATTR, CLTOMA_SETGOAL, CLTOMA_SETTRASHTIME, CLTOMA_STATFS, CLTOMA_SYMLINK,
  CLTOMA_UNLINK, CLTOMA_WRITE_CHUNK, CLTOMA_WRITE_END, FsError, InodeType,
  PAYLOAD_MAX_CLIENT_MASTER_BYTES, PROTOCOL_VERSION, READDIR_ENTRIES_MAX, Router, SetAttr,
  listenLinks, type Fields, type HandlerResult, type Link, type Logger, type RequestDef,
  type Struct,
} from '@antlerfs/protocol';
import type { Change } from './change.ts';
import { MASTER_LEASE_SESSION } from './chunk-registry.ts';
import type { Chunkservers } from './chunkservers.ts';
import { attrOf, type Attr, type Node } from './inode-table.ts';
import type { MetaStore } from './meta-store.ts';
import { CHUNK_INDEX_LIMIT, type LeaseHolder, type WriteFlow } from './write-flow.ts';

/** Chunks one READ_CHUNKS reply lists at most (64 GiB of file). */
export const READ_CHUNKS_MAX = 1024;
/** Connections beyond SESSIONS_MAX that may sit unregistered before being refused. */
const UNREGISTERED_CONNECTIONS_SLACK = 64;

export interface Session extends LeaseHolder {
  readonly id: number;
  readonly name: string;
  readonly link: Link;
  inflight: number;
  closed: boolean;
  readonly openedAtMs: number;
}

export interface ClientSessionsOptions {
  store: MetaStore;
  servers: Chunkservers;
  writeFlow: WriteFlow;
  log: Logger;
  sessionsMax: number;
  sessionRequestsInflightMax: number;
  /** A bug (failed assertion) in a handler: the process must stop. */
  onFatal: (err: Error) => void;
}

type AttrBody = { body: { attr: Attr } };

export class ClientSessions {
  private readonly opts: ClientSessionsOptions;
  private readonly log: Logger;
  private readonly sessions = new Map<number, Session>();
  private readonly links = new Set<Link>();
  private nextSessionId = 1;
  private server: net.Server | null = null;
  sessionsMax: number;
  inflightMax: number;

  constructor(opts: ClientSessionsOptions) {
    this.opts = opts;
    this.log = opts.log;
    this.sessionsMax = opts.sessionsMax;
    this.inflightMax = opts.sessionRequestsInflightMax;
  }

  get count(): number {
    return this.sessions.size;
  }

  values(): IterableIterator<Session> {
    return this.sessions.values();
  }

  async listen(host: string, port: number): Promise<number> {
    this.server = await listenLinks(host, port, {
      kind: 'client-master', payloadMaxBytes: PAYLOAD_MAX_CLIENT_MASTER_BYTES, log: this.log,
      router: this.router(), connectionsMax: this.sessionsMax + UNREGISTERED_CONNECTIONS_SLACK,
    }, (link) => {
      this.links.add(link);
      link.onClose(() => this.links.delete(link));
    });
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Stops accepting, then closes every session (server.close waits for them to end). */
  async close(): Promise<void> {
    const server = this.server;
    const closed = server === null
      ? Promise.resolve()
      : new Promise<void>((resolve) => server.close(() => resolve()));
    for (const link of [...this.links]) link.close('master stopping');
    await closed;
  }

  private get ns() {
    return this.opts.store.md.namespace;
  }

  private router(): Router {
    const r = new Router();
    r.on(CLTOMA_REGISTER, (b, ctx) => this.register(b, ctx.link));
    const ns = (): typeof this.ns => this.ns;
    const now = (): number => this.opts.store.nowMs();
    const attrBody = (node: Node): AttrBody => ({ body: { attr: attrOf(node) } });
    this.handle(r, CLTOMA_LOOKUP, (b) => attrBody(ns().lookup(b.parent, b.name)));
    this.handle(r, CLTOMA_LOOKUP_PATH, (b) => attrBody(ns().lookupPath(b.path)));
    this.handle(r, CLTOMA_GETATTR, (b) => attrBody(ns().node(b.inode)));
    this.handle(r, CLTOMA_SETATTR, (b) => this.setattr(b));
    this.handle(r, CLTOMA_MKDIR, (b) => this.createNode({ ...b, type: InodeType.DIR, target: '' }));
    this.handle(r, CLTOMA_CREATE, (b) => this.create(b));
    this.handle(r, CLTOMA_SYMLINK,
      (b) => this.createNode({ ...b, type: InodeType.SYMLINK, mode: 0o777 }));
    this.handle(r, CLTOMA_RMDIR, (b) => this.commitEmpty({ kind: 'rmdir', ...b, timeMs: now() }));
    this.handle(r, CLTOMA_UNLINK, (b) => this.commitEmpty({ kind: 'unlink', ...b, timeMs: now() }));
    this.handle(r, CLTOMA_RENAME, (b) => this.commitEmpty({ kind: 'rename', ...b, timeMs: now() }));
    this.handle(r, CLTOMA_LINK, (b) => this.commitAttr({ kind: 'link', ...b, timeMs: now() }));
    this.handle(r, CLTOMA_READDIR, (b) => this.readdir(b));
    this.handle(r, CLTOMA_READLINK, (b) => {
      const node = ns().node(b.inode);
      if (node.type !== InodeType.SYMLINK) {
        throw new FsError('EINVAL', `inode ${b.inode} is no symlink`);
      }
      return { body: { target: node.target } };
    });
    this.handle(r, CLTOMA_STATFS, () => this.statfs());
    this.handle(r, CLTOMA_SETGOAL,
      (b) => this.commitChanged({ kind: 'setGoal', ...b, timeMs: now() }));
    this.handle(r, CLTOMA_SETTRASHTIME,
      (b) => this.commitChanged({ kind: 'setTrashtime', ...b, timeMs: now() }));
    this.handle(r, CLTOMA_READ_CHUNKS, (b) => this.readChunks(b));
    this.handle(r, CLTOMA_WRITE_CHUNK,
      async (b, s) => ({ body: await this.opts.writeFlow.writeChunk(s, b.inode, b.chunkIndex) }));
    this.handle(r, CLTOMA_WRITE_END,
      async (b, s) => ({ body: { attr: await this.opts.writeFlow.writeEnd(s, b) } }));
    this.handle(r, CLTOMA_REPORT_BAD_CHUNK, (b, s) => this.reportBadChunk(b, s));
    this.handle(r, CLTOMA_LIST_CHUNKSERVERS, () => this.listChunkservers());
    return r;
  }

  /** Wraps a handler: session check, in-flight limit, reply only once what it saw is on disk. */
  private handle<F extends Fields, R extends Fields>(
    router: Router, def: RequestDef<F, R>,
    fn: (body: Struct<F>, session: Session) => HandlerResult<R> | Promise<HandlerResult<R>>,
  ): void {
    router.on(def, async (body, ctx) => {
      const session = this.sessionOf(ctx.link);
      if (session.inflight >= this.inflightMax) {
        throw new FsError('EAGAIN', `${this.inflightMax} requests already in flight`);
      }
      session.inflight++;
      try {
        const result = await fn(body, session);
        await this.opts.store.whenDurable(this.opts.store.version);
        return result;
      } catch (err) {
        if (err instanceof AssertionError) this.opts.onFatal(err);
        throw err;
      } finally {
        session.inflight--;
      }
    });
  }

  private sessionOf(link: Link): Session {
    const id = link.state.sessionId;
    const session = typeof id === 'number' ? this.sessions.get(id) : undefined;
    if (session === undefined) throw new FsError('EPERM', 'no session: send CLTOMA_REGISTER first');
    return session;
  }

  private register(
    b: Struct<typeof CLTOMA_REGISTER.fields>, link: Link,
  ): { body: { sessionId: number; metaVersion: number } } {
    if (link.state.sessionId !== undefined) {
      throw new FsError('EINVAL', 'session already registered');
    }
    if (b.protocolVersion !== PROTOCOL_VERSION) {
      throw new FsError('EPROTO',
        `protocol ${b.protocolVersion}, master speaks ${PROTOCOL_VERSION}`);
    }
    if (this.sessions.size >= this.sessionsMax) {
      throw new FsError('EAGAIN', `${this.sessionsMax} sessions already open (SESSIONS_MAX)`);
    }
    let id = this.nextSessionId;
    this.nextSessionId = id + 1 >= MASTER_LEASE_SESSION ? 1 : id + 1;
    while (this.sessions.has(id)) id++;
    const session: Session = {
      id, name: b.clientName, link, inflight: 0, closed: false, leases: new Set(),
      openedAtMs: this.opts.store.nowMs(),
    };
    this.sessions.set(id, session);
    link.state.sessionId = id;
    link.onClose((reason) => {
      session.closed = true;
      const leases = session.leases.size;
      this.opts.writeFlow.releaseAll(session);
      this.sessions.delete(id);
      this.log.info('client session closed', {
        sessionId: id, client: session.name, reason, leases,
      });
    });
    this.log.info('client session opened', {
      sessionId: id, client: b.clientName, peer: link.peer,
    });
    return { body: { sessionId: id, metaVersion: this.opts.store.version } };
  }

  private async commitAttr(change: Change): Promise<AttrBody> {
    const { result, durable } = this.opts.store.commit(change);
    const node = result.node;
    if (node === undefined) throw new AssertionError(`${change.kind} returns a node`);
    const attr = attrOf(node); // as of this change, whatever follows before the fsync
    await durable;
    return { body: { attr } };
  }

  private async commitEmpty(change: Change): Promise<object> {
    await this.opts.store.commit(change).durable;
    return {};
  }

  private async commitChanged(change: Change): Promise<{ body: { changed: number } }> {
    const { result, durable } = this.opts.store.commit(change);
    await durable;
    return { body: { changed: result.changed ?? 0 } };
  }

  private createNode(p: {
    parent: number; name: string; type: number; mode: number; uid: number; gid: number;
    target: string;
  }): Promise<AttrBody> {
    return this.commitAttr({
      kind: 'create', parent: p.parent, name: p.name, inode: this.opts.store.nextInode(),
      type: p.type, mode: p.mode, uid: p.uid, gid: p.gid, timeMs: this.opts.store.nowMs(),
      target: p.target,
    });
  }

  /** open(O_CREAT): an existing regular file is returned as it is unless `exclusive`. */
  private async create(b: Struct<typeof CLTOMA_CREATE.fields>): Promise<AttrBody> {
    if (b.exclusive === 0 && b.name !== '.' && b.name !== '..') {
      const existing = this.ns.dir(b.parent).children.get(b.name);
      if (existing !== undefined) {
        const node = this.ns.node(existing);
        if (node.type === InodeType.FILE) return { body: { attr: attrOf(node) } };
        throw new FsError(node.type === InodeType.DIR ? 'EISDIR' : 'EEXIST', b.name);
      }
    }
    return this.createNode({ ...b, type: InodeType.FILE, target: '' });
  }

  private async setattr(b: Struct<typeof CLTOMA_SETATTR.fields>): Promise<AttrBody> {
    const { store } = this.opts;
    this.ns.node(b.inode); // ENOENT before anything else
    if (b.setMask & SetAttr.LENGTH) await this.opts.writeFlow.truncate(b.inode, b.length);
    const timeMs = store.nowMs();
    const plain = SetAttr.MODE | SetAttr.UID | SetAttr.GID | SetAttr.ATIME | SetAttr.MTIME;
    let setMask = b.setMask & plain;
    let atimeMs = b.atimeMs;
    let mtimeMs = b.mtimeMs;
    if (b.setMask & SetAttr.ATIME_NOW) { setMask |= SetAttr.ATIME; atimeMs = timeMs; }
    if (b.setMask & SetAttr.MTIME_NOW) { setMask |= SetAttr.MTIME; mtimeMs = timeMs; }
    if (setMask === 0 && (b.setMask & SetAttr.LENGTH) !== 0) {
      return { body: { attr: attrOf(this.ns.node(b.inode)) } };
    }
    return this.commitAttr({
      kind: 'setattr', inode: b.inode, setMask, mode: b.mode, uid: b.uid, gid: b.gid,
      atimeMs, mtimeMs, timeMs,
    });
  }

  private readdir(
    b: Struct<typeof CLTOMA_READDIR.fields>,
  ): HandlerResult<typeof CLTOMA_READDIR.reply.fields> {
    const entriesMax = Math.min(Math.max(b.entriesMax, 1), READDIR_ENTRIES_MAX);
    const page = this.ns.readdir(b.inode, b.cursor, entriesMax);
    return {
      body: {
        entries: page.entries.map((e) => ({ name: e.name, attr: attrOf(e.node) })),
        nextCursor: page.nextCursor, end: page.end ? 1 : 0,
      },
    };
  }

  private statfs(): HandlerResult<typeof CLTOMA_STATFS.reply.fields> {
    let totalBytes = 0;
    let availBytes = 0;
    for (const cs of this.opts.servers.values()) {
      if (cs.link === null) continue;
      totalBytes += cs.totalBytes;
      availBytes += cs.freeBytes;
    }
    const md = this.opts.store.md;
    return {
      body: {
        totalBytes, availBytes, usedBytes: totalBytes - availBytes,
        inodes: md.namespace.inodes.size,
        chunks: md.chunks.liveCount, chunkservers: this.opts.servers.onlineCount(),
      },
    };
  }

  private readChunks(
    b: Struct<typeof CLTOMA_READ_CHUNKS.fields>,
  ): HandlerResult<typeof CLTOMA_READ_CHUNKS.reply.fields> {
    const file = this.ns.file(b.inode);
    const registry = this.opts.store.md.chunks;
    const end = Math.min(b.firstIndex + Math.min(b.count, READ_CHUNKS_MAX), CHUNK_INDEX_LIMIT);
    const chunks = [];
    for (let index = b.firstIndex; index < end; index++) {
      const chunkId = file.chunks.get(index);
      if (chunkId === undefined) continue;
      const chunk = registry.live(chunkId);
      if (chunk === undefined) continue;
      const locations = [];
      for (const csId of registry.validCopies(chunk)) {
        const loc = this.opts.servers.location(csId);
        if (loc !== null) locations.push(loc);
      }
      chunks.push({ index, chunkId, version: chunk.version, locations });
    }
    return { body: { length: file.lengthBytes, chunks } };
  }

  private reportBadChunk(b: Struct<typeof CLTOMA_REPORT_BAD_CHUNK.fields>, s: Session): object {
    const chunk = this.opts.store.md.chunks.live(b.chunkId);
    const copy = chunk?.copies.get(b.csId);
    if (chunk !== undefined && copy !== undefined && copy.valid && chunk.version === b.version) {
      copy.valid = false;
      this.log.warn('chunk copy reported bad by a client', {
        chunkId: b.chunkId, version: b.version, csId: b.csId, sessionId: s.id,
      });
    }
    return {};
  }

  private listChunkservers(): HandlerResult<typeof CLTOMA_LIST_CHUNKSERVERS.reply.fields> {
    const { servers } = this.opts;
    const registry = this.opts.store.md.chunks;
    return {
      body: {
        servers: [...servers.values()].map((cs) => ({
          csId: cs.csId, host: cs.host, port: cs.port, totalBytes: cs.totalBytes,
          freeBytes: cs.freeBytes, chunkCount: registry.copiesOn(cs.csId),
          state: servers.stateOf(cs),
        })),
      },
    };
  }
}
