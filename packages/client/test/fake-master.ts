// A test fake of the master's client port, on the protocol's listenLinks: an in-memory tree,
// chunk ids, versions and write leases per session, chains picked from fake chunkservers (the
// first `goal` usable ones), holes for missing chunks, and a record of what clients asked.
// Like the real master it answers CLTOMA_SESSION (unless built without it: then ENOSYS) and
// keeps, per clientId, the changes it applied by request id, so a repeated change is answered
// from that record; `active = false` makes it answer NOT_ACTIVE_MASTER. Tests can hold a
// request (onRequest) or drop the link after a change was applied, before the answer.
import type net from 'node:net';
import {
  ATTR, CHUNK_SIZE_BYTES, CLTOMA_CREATE, CLTOMA_GETATTR, CLTOMA_LINK, CLTOMA_LIST_CHUNKSERVERS,
  CLTOMA_LIST_METALOGGERS, CLTOMA_LOOKUP, CLTOMA_LOOKUP_PATH, CLTOMA_LOOKUP_PATH_CHUNKS,
  CLTOMA_MKDIR, CLTOMA_READ_CHUNKS, CLTOMA_READDIR, CLTOMA_READLINK, CLTOMA_REGISTER, CLTOMA_RENAME,
  CLTOMA_REPORT_BAD_CHUNK, CLTOMA_RMDIR, CLTOMA_SESSION, CLTOMA_SETATTR, CLTOMA_SETGOAL,
  CLTOMA_SETTRASHTIME, CLTOMA_STATFS, CLTOMA_SYMLINK, CLTOMA_UNLINK, CLTOMA_WRITE_CHUNK,
  CLTOMA_WRITE_END, FsError, InodeType, listenLinks, PAYLOAD_MAX_CLIENT_MASTER_BYTES, Router,
  SetAttr, type Fields, type HandlerResult, type Link, type RequestContext, type RequestDef,
  type Struct,
} from '@antlerfs/protocol';
import { quietLog, type FakeChunkserver } from './fake-chunkserver.ts';

type Attr = Struct<typeof ATTR>;

interface Node {
  attr: Attr;
  children?: Map<string, number>;
  target?: string;
  chunks?: Map<number, number>;
}

interface ChunkRecord { version: number; holders: FakeChunkserver[]; lease: Link | null }

/** A request as the fake saw it arrive. */
export interface SeenRequest {
  name: string;
  requestId: number;
  /** Which connection since the fake was made (1, 2, ...). */
  connection: number;
  /** The clientId of the connection's CLTOMA_SESSION (undefined after CLTOMA_REGISTER). */
  clientId: bigint | undefined;
  /** Changes something (and is recorded per clientId). */
  change: boolean;
}

export type MetaloggerRow = Struct<typeof CLTOMA_LIST_METALOGGERS.reply.fields>['metaloggers'][0];

export interface FakeMasterOptions {
  /** Answer CLTOMA_SESSION (default); false: an older master, which answers it ENOSYS. */
  sessions?: boolean;
  clusterId?: string;
}

export class FakeMaster {
  port = 0;
  readonly nodes = new Map<number, Node>();
  readonly chunks = new Map<number, ChunkRecord>();
  readonly servers: FakeChunkserver[];
  readonly badReports: { chunkId: number; csId: number }[] = [];
  readonly requests: string[] = [];
  /** Every request that reached a handler, in arrival order (not the session requests). */
  readonly seen: SeenRequest[] = [];
  /** CLTOMA_SESSION / CLTOMA_REGISTER as they arrived. */
  readonly sessionsOpened: { connection: number; requestId: number; clientId?: bigint }[] = [];
  /** Changes applied, by message name (a repeat answered from the record is not counted). */
  readonly applied = new Map<string, number>();
  /** Repeated changes answered from the record. */
  repeats = 0;
  /** False: every session request and every request answers NOT_ACTIVE_MASTER. */
  active = true;
  metaloggers: MetaloggerRow[] = [];
  /** Runs before a request is handled; a returned promise holds the request until it settles. */
  onRequest: ((r: SeenRequest) => void | Promise<void>) | null = null;
  /** After a change is applied: true closes the link instead of answering. */
  dropAfterApply: ((r: SeenRequest) => boolean) | null = null;
  private readonly options: Required<FakeMasterOptions>;
  /** clientId -> request id -> what was answered, like the real master's request windows. */
  private readonly windows = new Map<bigint, Map<number, { type: number; result: unknown }>>();
  private connections = 0;
  private nextInode = 2;
  private nextChunkId = 1;
  private server: net.Server | null = null;
  private readonly links = new Set<Link>();

  constructor(servers: FakeChunkserver[], options: FakeMasterOptions = {}) {
    this.servers = servers;
    this.options = { sessions: true, clusterId: 'fake-cluster', ...options };
    const now = Date.now();
    const attr: Attr = {
      inode: 1, type: InodeType.DIR, mode: 0o755, uid: 0, gid: 0, atimeMs: now, mtimeMs: now,
      ctimeMs: now, nlink: 2, length: 0, goal: 1, trashtimeS: 86400,
    };
    this.nodes.set(1, { attr, children: new Map() });
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const router = new Router();
    this.routeSessions(router);
    this.routeNamespace(router);
    this.routeData(router);
    const opts = {
      kind: 'client-master' as const, payloadMaxBytes: PAYLOAD_MAX_CLIENT_MASTER_BYTES,
      log: quietLog, router,
    };
    this.server = await listenLinks('127.0.0.1', this.port, opts, (link) => {
      link.state.connection = ++this.connections;
      this.links.add(link);
      link.onClose(() => {
        this.links.delete(link);
        for (const c of this.chunks.values()) if (c.lease === link) c.lease = null;
      });
    });
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** Closes every client link (the port stays open): like a master that lost its clients. */
  dropLinks(): void {
    for (const l of this.links) l.close('dropped by test');
  }

  /** How many times a change was applied. */
  appliedCount(name: string): number {
    return this.applied.get(name) ?? 0;
  }

  /** Closes every session and the port; start() again serves the same tree on the same port. */
  async stop(): Promise<void> {
    for (const l of this.links) l.close('stopped');
    const server = this.server;
    this.server = null;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  node(inode: number): Node {
    const n = this.nodes.get(inode);
    if (n === undefined) throw new FsError('ENOENT', `inode ${inode}`);
    return n;
  }

  private dir(inode: number): Node & { children: Map<string, number> } {
    const n = this.node(inode);
    if (n.children === undefined) throw new FsError('ENOTDIR', `inode ${inode}`);
    return n as Node & { children: Map<string, number> };
  }

  private child(parent: number, name: string): Node {
    const inode = this.dir(parent).children.get(name);
    if (inode === undefined) throw new FsError('ENOENT', name);
    return this.node(inode);
  }

  private add(
    parent: number, name: string, type: number, mode: number, extra: Partial<Node>,
  ): Attr {
    const dir = this.dir(parent);
    if (dir.children.has(name)) throw new FsError('EEXIST', name);
    const now = Date.now();
    const attr: Attr = {
      inode: this.nextInode++, type, mode, uid: 0, gid: 0, atimeMs: now, mtimeMs: now,
      ctimeMs: now, nlink: 1, length: 0, goal: dir.attr.goal, trashtimeS: dir.attr.trashtimeS,
    };
    this.nodes.set(attr.inode, { attr, ...extra });
    dir.children.set(name, attr.inode);
    return attr;
  }

  private remove(parent: number, name: string, wantDir: boolean): void {
    const n = this.child(parent, name);
    const isDir = n.attr.type === InodeType.DIR;
    if (wantDir && !isDir) throw new FsError('ENOTDIR', name);
    if (!wantDir && isDir) throw new FsError('EISDIR', name);
    if (isDir && n.children!.size > 0) throw new FsError('ENOTEMPTY', name);
    this.dir(parent).children.delete(name);
    if (--n.attr.nlink <= 0 || isDir) this.nodes.delete(n.attr.inode);
  }

  private routeSessions(r: Router): void {
    const open = (ctx: RequestContext, clientId?: bigint): number => {
      if (!this.active) throw new FsError('NOT_ACTIVE_MASTER', 'not the active master');
      const connection = ctx.link.state.connection as number;
      this.sessionsOpened.push({ connection, requestId: ctx.requestId, clientId });
      if (clientId !== undefined) ctx.link.state.clientId = clientId;
      return connection;
    };
    r.on(CLTOMA_REGISTER, (_b, ctx) => ({ body: { sessionId: open(ctx), metaVersion: 1 } }));
    if (!this.options.sessions) return; // an older master: the link answers ENOSYS
    r.on(CLTOMA_SESSION, (b, ctx) => ({
      body: {
        sessionId: open(ctx, b.clientId), metaVersion: 1, clusterId: this.options.clusterId,
      },
    }));
  }

  /**
   * A handler with the real master's behaviour around it: NOT_ACTIVE_MASTER when not active,
   * the test's hooks, and for a change (clientId known) the answer recorded by request id, so a
   * repeat is answered from the record instead of being applied again.
   */
  private route<F extends Fields, R extends Fields>(
    r: Router, def: RequestDef<F, R>, change: boolean,
    fn: (body: Struct<F>, ctx: RequestContext) => HandlerResult<R>,
  ): void {
    r.on(def, async (body, ctx) => {
      const clientId = ctx.link.state.clientId as bigint | undefined;
      const connection = ctx.link.state.connection as number;
      const seen = { name: def.name, requestId: ctx.requestId, connection, clientId, change };
      this.seen.push(seen);
      if (!this.active) throw new FsError('NOT_ACTIVE_MASTER', 'not the active master');
      await this.onRequest?.(seen);
      // Held until its link dropped: never applied, as if the master died before getting to it.
      if (ctx.link.closed) throw new FsError('ENOTCONN', 'link closed while held');
      let window = change && clientId !== undefined ? this.windows.get(clientId) : undefined;
      if (change && clientId !== undefined && window === undefined) {
        window = new Map();
        this.windows.set(clientId, window);
      }
      const earlier = window?.get(ctx.requestId);
      if (earlier !== undefined && earlier.type === def.type) {
        this.repeats++;
        return earlier.result as HandlerResult<R>;
      }
      const result = fn(body, ctx);
      if (change) {
        this.applied.set(def.name, this.appliedCount(def.name) + 1);
        window?.set(ctx.requestId, { type: def.type, result: structuredClone(result) });
        if (this.dropAfterApply?.(seen)) ctx.link.close('dropped after applying');
      }
      return result;
    });
  }

  private routeNamespace(r: Router): void {
    const attr = (a: Attr) => ({ body: { attr: { ...a } } });
    // Folder stamps: this stand-in keeps no names versions ("not known").
    const noStamp = { parentBefore: 0, parentAfter: 0 };
    const created = (a: Attr) => ({ body: { attr: { ...a }, ...noStamp } });
    this.route(r, CLTOMA_LOOKUP, false, (b) => attr(this.child(b.parent, b.name).attr));
    const lookupPath = (path: string) => {
      let n = this.node(1);
      for (const part of path.split('/')) if (part !== '') n = this.child(n.attr.inode, part);
      return n;
    };
    this.route(r, CLTOMA_LOOKUP_PATH, false, (b) => attr(lookupPath(b.path).attr));
    this.route(r, CLTOMA_LOOKUP_PATH_CHUNKS, false, (b) => {
      const n = lookupPath(b.path);
      const chunks = n.attr.type === InodeType.FILE
        ? this.readChunks({ inode: n.attr.inode, firstIndex: 0, count: b.count }).chunks : [];
      return { body: { attr: { ...n.attr }, chunks } };
    });
    this.route(r, CLTOMA_GETATTR, false, (b) => attr(this.node(b.inode).attr));
    this.route(r, CLTOMA_SETATTR, true, (b) => attr(this.setattr(b)));
    this.route(r, CLTOMA_MKDIR, true, (b) => {
      return created(this.add(b.parent, b.name, InodeType.DIR, b.mode, { children: new Map() }));
    });
    const parentAttr = (inode: number) =>
      ({ body: { parentAttr: { ...this.node(inode).attr }, ...noStamp } });
    this.route(r, CLTOMA_RMDIR, true, (b) => {
      this.remove(b.parent, b.name, true);
      return parentAttr(b.parent);
    });
    this.route(r, CLTOMA_UNLINK, true, (b) => {
      this.remove(b.parent, b.name, false);
      return parentAttr(b.parent);
    });
    const noPromise = { promisedChunkId: 0, promisedVersion: 0, promisedChain: [] };
    this.route(r, CLTOMA_CREATE, true, (b) => ({ body: { ...created(this.create(b)).body,
      ...noPromise } }));
    this.route(r, CLTOMA_RENAME, true, (b) => {
      this.rename(b);
      const srcParentAttr = { ...this.node(b.srcParent).attr };
      return { body: {
        srcParentAttr, dstParentAttr: { ...this.node(b.dstParent).attr },
        srcBefore: 0, srcAfter: 0, dstBefore: 0, dstAfter: 0,
      } };
    });
    this.route(r, CLTOMA_READDIR, false, (b) => ({ body: this.readdir(b) }));
    this.route(r, CLTOMA_SYMLINK, true, (b) => {
      return created(this.add(b.parent, b.name, InodeType.SYMLINK, 0o777, { target: b.target }));
    });
    this.route(r, CLTOMA_READLINK, false, (b) => {
      const target = this.node(b.inode).target;
      if (target === undefined) throw new FsError('EINVAL', 'not a symlink');
      return { body: { target } };
    });
    this.route(r, CLTOMA_LINK, true, (b) => {
      const n = this.node(b.inode);
      const dir = this.dir(b.parent);
      if (dir.children.has(b.name)) throw new FsError('EEXIST', b.name);
      dir.children.set(b.name, b.inode);
      n.attr.nlink++;
      return created(n.attr);
    });
    this.route(r, CLTOMA_SETGOAL, true, (b) => {
      this.node(b.inode).attr.goal = b.goal;
      return { body: { changed: 1 } };
    });
    this.route(r, CLTOMA_SETTRASHTIME, true, (b) => {
      this.node(b.inode).attr.trashtimeS = b.trashtimeS;
      return { body: { changed: 1 } };
    });
  }

  private routeData(r: Router): void {
    this.route(r, CLTOMA_STATFS, false, () => ({
      body: {
        totalBytes: 100, availBytes: 60, usedBytes: 40, inodes: this.nodes.size,
        chunks: this.chunks.size, chunkservers: this.servers.length,
      },
    }));
    this.route(r, CLTOMA_READ_CHUNKS, false, (b) => ({ body: this.readChunks(b) }));
    // Not recorded: like the real master, a repeated WRITE_CHUNK runs again (fresh lease).
    this.route(r, CLTOMA_WRITE_CHUNK, false, (b, ctx) => {
      return { body: this.writeChunk(b.inode, b.chunkIndex, ctx.link) };
    });
    this.route(r, CLTOMA_WRITE_END, true, (b, ctx) => {
      const n = this.node(b.inode);
      const c = this.chunks.get(b.chunkId);
      if (c !== undefined && c.lease === ctx.link) c.lease = null;
      n.attr.length = Math.max(n.attr.length, b.length);
      n.attr.mtimeMs = Date.now();
      return { body: { attr: { ...n.attr } } };
    });
    this.route(r, CLTOMA_REPORT_BAD_CHUNK, false, (b) => {
      this.badReports.push({ chunkId: b.chunkId, csId: b.csId });
      return { body: {} };
    });
    this.route(r, CLTOMA_LIST_CHUNKSERVERS, false, () => ({
      body: {
        servers: this.servers.map((s) => ({
          ...s.location(), totalBytes: 1000, freeBytes: s.full ? 0 : 500,
          chunkCount: s.chunks.size, state: s.down ? 2 : 1,
        })),
      },
    }));
    this.route(r, CLTOMA_LIST_METALOGGERS, false, () => ({
      body: { metaVersion: 42, metaloggers: this.metaloggers },
    }));
  }

  private create(b: Struct<typeof CLTOMA_CREATE.fields>): Attr {
    const existing = this.dir(b.parent).children.get(b.name);
    if (existing === undefined) {
      return this.add(b.parent, b.name, InodeType.FILE, b.mode, { chunks: new Map() });
    }
    const n = this.node(existing);
    if (b.exclusive || n.attr.type !== InodeType.FILE) throw new FsError('EEXIST', b.name);
    return n.attr;
  }

  private rename(b: Struct<typeof CLTOMA_RENAME.fields>): void {
    const n = this.child(b.srcParent, b.srcName);
    const dst = this.dir(b.dstParent);
    const old = dst.children.get(b.dstName);
    if (old !== undefined && this.node(old).attr.type === InodeType.DIR) {
      throw new FsError('EEXIST', b.dstName);
    }
    this.dir(b.srcParent).children.delete(b.srcName);
    dst.children.set(b.dstName, n.attr.inode);
  }

  private readdir(b: Struct<typeof CLTOMA_READDIR.fields>) {
    const all = [...this.dir(b.inode).children.keys()].sort();
    const names = all.filter((n) => n > b.cursor).slice(0, b.entriesMax);
    const entries = names.map((name) => ({ name, attr: this.child(b.inode, name).attr }));
    const end = names.length === 0 || all.at(-1) === names.at(-1) ? 1 : 0;
    return { entries, nextCursor: names.at(-1) ?? b.cursor, end, namesVersion: 0 };
  }

  private setattr(b: Struct<typeof CLTOMA_SETATTR.fields>): Attr {
    const a = this.node(b.inode).attr;
    if (b.setMask & SetAttr.MODE) a.mode = b.mode;
    if (b.setMask & SetAttr.UID) a.uid = b.uid;
    if (b.setMask & SetAttr.GID) a.gid = b.gid;
    if (b.setMask & SetAttr.ATIME) a.atimeMs = b.atimeMs;
    if (b.setMask & SetAttr.MTIME) a.mtimeMs = b.mtimeMs;
    if (b.setMask & SetAttr.LENGTH) {
      a.length = b.length;
      const chunks = this.node(b.inode).chunks ?? new Map<number, number>();
      for (const [index] of chunks) if (index * CHUNK_SIZE_BYTES >= b.length) chunks.delete(index);
    }
    return a;
  }

  private readChunks(b: Struct<typeof CLTOMA_READ_CHUNKS.fields>) {
    const n = this.node(b.inode);
    const chunks = [];
    for (let i = b.firstIndex; i < b.firstIndex + b.count; i++) {
      const id = n.chunks?.get(i);
      if (id === undefined) continue;
      const c = this.chunks.get(id)!;
      const locations = c.holders.filter((s) => !s.down).map((s) => s.location());
      chunks.push({ index: i, chunkId: id, version: c.version, locations });
    }
    return { length: n.attr.length, chunks };
  }

  private writeChunk(inode: number, chunkIndex: number, link: Link) {
    const n = this.node(inode);
    if (n.chunks === undefined) throw new FsError('EISDIR', `inode ${inode}`);
    this.requests.push(`WRITE_CHUNK ${inode} ${chunkIndex}`);
    const existing = n.chunks.get(chunkIndex);
    if (existing === undefined) {
      const usable = this.servers.filter((s) => !s.down && !s.full);
      if (usable.length === 0) {
        throw new FsError(this.servers.some((s) => !s.down) ? 'ENOSPC' : 'NO_CHUNKSERVERS');
      }
      const holders = usable.slice(0, n.attr.goal);
      const chunkId = this.nextChunkId++;
      for (const s of holders) s.create(chunkId);
      this.chunks.set(chunkId, { version: 1, holders, lease: link });
      n.chunks.set(chunkIndex, chunkId);
      const chain = holders.map((s) => s.location());
      return { length: n.attr.length, chunkId, version: 1, chain };
    }
    const c = this.chunks.get(existing)!;
    if (c.lease !== null && c.lease !== link && !c.lease.closed) throw new FsError('CHUNK_BUSY');
    c.holders = c.holders.filter((s) => !s.down);
    if (c.holders.length === 0) throw new FsError('CHUNK_LOST');
    c.version++;
    for (const s of c.holders) s.chunks.get(existing)!.version = c.version;
    c.lease = link;
    const chain = c.holders.map((s) => s.location());
    return { length: n.attr.length, chunkId: existing, version: c.version, chain };
  }
}
