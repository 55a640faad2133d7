// A test fake of the master's client port, on the protocol's listenLinks: an in-memory tree,
// chunk ids, versions and write leases per session, chains picked from fake chunkservers (the
// first `goal` usable ones), holes for missing chunks, and a record of what clients asked.
import type net from 'node:net';
import {
  ATTR, CHUNK_SIZE_BYTES, CLTOMA_CREATE, CLTOMA_GETATTR, CLTOMA_LINK, CLTOMA_LIST_CHUNKSERVERS,
  CLTOMA_LOOKUP, CLTOMA_LOOKUP_PATH, CLTOMA_MKDIR, CLTOMA_READ_CHUNKS, CLTOMA_READDIR,
  CLTOMA_READLINK, CLTOMA_REGISTER, CLTOMA_RENAME, CLTOMA_REPORT_BAD_CHUNK, CLTOMA_RMDIR,
  CLTOMA_SETATTR, CLTOMA_SETGOAL, CLTOMA_SETTRASHTIME, CLTOMA_STATFS, CLTOMA_SYMLINK,
  CLTOMA_UNLINK, CLTOMA_WRITE_CHUNK, CLTOMA_WRITE_END, FsError, InodeType, listenLinks,
  PAYLOAD_MAX_CLIENT_MASTER_BYTES, Router, SetAttr, type Link, type Struct,
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

export class FakeMaster {
  port = 0;
  readonly nodes = new Map<number, Node>();
  readonly chunks = new Map<number, ChunkRecord>();
  readonly servers: FakeChunkserver[];
  readonly badReports: { chunkId: number; csId: number }[] = [];
  readonly requests: string[] = [];
  private nextInode = 2;
  private nextChunkId = 1;
  private server: net.Server | null = null;
  private readonly links = new Set<Link>();

  constructor(servers: FakeChunkserver[]) {
    this.servers = servers;
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
    this.routeNamespace(router);
    this.routeData(router);
    const opts = {
      kind: 'client-master' as const, payloadMaxBytes: PAYLOAD_MAX_CLIENT_MASTER_BYTES,
      log: quietLog, router,
    };
    this.server = await listenLinks('127.0.0.1', this.port, opts, (link) => {
      this.links.add(link);
      link.onClose(() => {
        this.links.delete(link);
        for (const c of this.chunks.values()) if (c.lease === link) c.lease = null;
      });
    });
    this.port = (this.server.address() as net.AddressInfo).port;
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

  private routeNamespace(r: Router): void {
    const attr = (a: Attr) => ({ body: { attr: a } });
    const empty = { body: {} };
    r.on(CLTOMA_REGISTER, () => ({ body: { sessionId: this.links.size, metaVersion: 1 } }));
    r.on(CLTOMA_LOOKUP, (b) => attr(this.child(b.parent, b.name).attr));
    r.on(CLTOMA_LOOKUP_PATH, (b) => {
      let n = this.node(1);
      for (const part of b.path.split('/')) if (part !== '') n = this.child(n.attr.inode, part);
      return attr(n.attr);
    });
    r.on(CLTOMA_GETATTR, (b) => attr(this.node(b.inode).attr));
    r.on(CLTOMA_SETATTR, (b) => attr(this.setattr(b)));
    r.on(CLTOMA_MKDIR, (b) => {
      return attr(this.add(b.parent, b.name, InodeType.DIR, b.mode, { children: new Map() }));
    });
    r.on(CLTOMA_RMDIR, (b) => { this.remove(b.parent, b.name, true); return empty; });
    r.on(CLTOMA_UNLINK, (b) => { this.remove(b.parent, b.name, false); return empty; });
    r.on(CLTOMA_CREATE, (b) => attr(this.create(b)));
    r.on(CLTOMA_RENAME, (b) => { this.rename(b); return empty; });
    r.on(CLTOMA_READDIR, (b) => ({ body: this.readdir(b) }));
    r.on(CLTOMA_SYMLINK, (b) => {
      return attr(this.add(b.parent, b.name, InodeType.SYMLINK, 0o777, { target: b.target }));
    });
    r.on(CLTOMA_READLINK, (b) => {
      const target = this.node(b.inode).target;
      if (target === undefined) throw new FsError('EINVAL', 'not a symlink');
      return { body: { target } };
    });
    r.on(CLTOMA_LINK, (b) => {
      const n = this.node(b.inode);
      const dir = this.dir(b.parent);
      if (dir.children.has(b.name)) throw new FsError('EEXIST', b.name);
      dir.children.set(b.name, b.inode);
      n.attr.nlink++;
      return attr(n.attr);
    });
    r.on(CLTOMA_SETGOAL, (b) => {
      this.node(b.inode).attr.goal = b.goal;
      return { body: { changed: 1 } };
    });
    r.on(CLTOMA_SETTRASHTIME, (b) => {
      this.node(b.inode).attr.trashtimeS = b.trashtimeS;
      return { body: { changed: 1 } };
    });
  }

  private routeData(r: Router): void {
    r.on(CLTOMA_STATFS, () => ({
      body: {
        totalBytes: 100, availBytes: 60, usedBytes: 40, inodes: this.nodes.size,
        chunks: this.chunks.size, chunkservers: this.servers.length,
      },
    }));
    r.on(CLTOMA_READ_CHUNKS, (b) => ({ body: this.readChunks(b) }));
    r.on(CLTOMA_WRITE_CHUNK, (b, ctx) => {
      return { body: this.writeChunk(b.inode, b.chunkIndex, ctx.link) };
    });
    r.on(CLTOMA_WRITE_END, (b, ctx) => {
      const n = this.node(b.inode);
      const c = this.chunks.get(b.chunkId);
      if (c !== undefined && c.lease === ctx.link) c.lease = null;
      n.attr.length = Math.max(n.attr.length, b.length);
      n.attr.mtimeMs = Date.now();
      return { body: { attr: n.attr } };
    });
    r.on(CLTOMA_REPORT_BAD_CHUNK, (b) => {
      this.badReports.push({ chunkId: b.chunkId, csId: b.csId });
      return { body: {} };
    });
    r.on(CLTOMA_LIST_CHUNKSERVERS, () => ({
      body: {
        servers: this.servers.map((s) => ({
          ...s.location(), totalBytes: 1000, freeBytes: s.full ? 0 : 500,
          chunkCount: s.chunks.size, state: s.down ? 2 : 1,
        })),
      },
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
    return { entries, nextCursor: names.at(-1) ?? b.cursor, end };
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
