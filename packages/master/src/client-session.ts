// Port 9421: client sessions. A client opens a session first (CLTOMA_REGISTER, or
// CLTOMA_SESSION for a client that retries), then sends any CLTOMA_* request; changes are
// answered only once they are durable (on disk, and on SYNC_METALOGGERS metaloggers), and
// reads only once what they saw is on disk. A change made for a CLTOMA_SESSION client carries
// its origin (clientId, frame request id); a repeat of a request already applied is answered
// from the applied-request window instead of being applied again. Limits: SESSIONS_MAX
// sessions, SESSION_REQUESTS_INFLIGHT_MAX requests per session (EAGAIN beyond). A session's
// write leases go when its link closes. A master that is not active refuses new sessions.
import net from 'node:net';
import {
  AssertionError, CLTOMA_CHUNKSERVER_DRAIN, CLTOMA_CREATE, CLTOMA_GETATTR, CLTOMA_GETATTR_CHUNKS,
  CLTOMA_GETATTR_FOLDER, CLTOMA_LIST_NAMES, LIST_NAMES_MAX,
  CLTOMA_HEALTH, CLTOMA_LINK, CLTOMA_LIST_CHUNKSERVERS, CLTOMA_LIST_METALOGGERS,
  CLTOMA_LOOKUP, CLTOMA_LOOKUP_PATH, CLTOMA_LOOKUP_PATH_CHUNKS, CLTOMA_MKDIR, CLTOMA_READDIR,
  CLTOMA_READLINK, CLTOMA_READ_CHUNKS, CLTOMA_REGISTER, CLTOMA_RENAME, CLTOMA_REPORT_BAD_CHUNK,
  CLTOMA_RMDIR, CLTOMA_SESSION, CLTOMA_SETATTR, CLTOMA_SETGOAL, CLTOMA_SETTRASHTIME, CLTOMA_STATFS,
  CLTOMA_SYMLINK, CLTOMA_UNLINK, CLTOMA_WRITE_CHUNK, CLTOMA_WRITE_END, FsError, InodeType,
  PAYLOAD_MAX_CLIENT_MASTER_BYTES, PROTOCOL_VERSION, READDIR_ENTRIES_MAX, RenameFlags, Router,
  SetAttr, assert,
  listenLinks, type Fields, type HandlerResult, type Link, type Logger, type RequestDef,
  type Struct,
} from '@antlerfs/protocol';
import { CHANGE_KIND_NUMBERS, type Change, type ChangeKind, type Origin } from './change.ts';
import { MASTER_LEASE_SESSION } from './chunk-registry.ts';
import type { Chunkservers } from './chunkservers.ts';
import { attrOf, type Attr, type Node } from './inode-table.ts';
import type { Committed, MetaStore } from './meta-store.ts';
import type { MetaloggerInfo } from './metalogger-feed.ts';
import type { MetaloggerSync } from './metalogger-sync.ts';
import type { AppliedRequest } from './request-window.ts';
import { CHUNK_INDEX_LIMIT, type LeaseHolder, type WriteFlow } from './write-flow.ts';

/** Chunks one READ_CHUNKS reply lists at most (64 GiB of file). */
export const READ_CHUNKS_MAX = 1024;
/** Connections beyond SESSIONS_MAX that may sit unregistered before being refused. */
const UNREGISTERED_CONNECTIONS_SLACK = 64;

export interface Session extends LeaseHolder {
  readonly id: number;
  readonly name: string;
  /** CLTOMA_SESSION's clientId: its changes record their origin. Null for CLTOMA_REGISTER. */
  readonly clientId: bigint | null;
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
  /** Synchronous mode: changes wait for enough metaloggers before they are applied. */
  sync: MetaloggerSync;
  metaloggers: () => MetaloggerInfo[];
  /** False while this master is not the active one: sessions are refused. */
  isActive: () => boolean;
  /** A bug (failed assertion) in a handler: the process must stop. */
  onFatal: (err: Error) => void;
  /** The cluster's health as JSON (CLTOMA_HEALTH); '{}' when there is none. */
  health?: () => string;
}

type AttrBody = { body: { attr: Attr } };
/** A folder's names version just before and just after a change (0, 0: not known). */
type Stamp = { before: number; after: number };
type CreatedBody = { body: { attr: Attr; parentBefore: number; parentAfter: number } };
type CreateBody = { body: Struct<typeof CLTOMA_CREATE.reply.fields> };
type ParentAttrBody = { body: { parentAttr: Attr; parentBefore: number; parentAfter: number } };
type RenameBody = { body: {
  srcParentAttr: Attr; dstParentAttr: Attr; srcBefore: number; srcAfter: number;
  dstBefore: number; dstAfter: number;
} };

/**
 * How a changing request is recorded and repeated: the change kinds that may have applied it,
 * and its reply rebuilt from the applied-request entry (null: a repeat is simply run again).
 */
interface Mutation<R extends Fields, F extends Fields = readonly []> {
  kinds: readonly ChangeKind[];
  again: ((applied: AppliedRequest, body: Struct<F>) => HandlerResult<R>) | null;
}

type Handler<F extends Fields, R extends Fields> = (
  body: Struct<F>, session: Session, origin: Origin | undefined,
) => HandlerResult<R> | Promise<HandlerResult<R>>;

function attrAgain(applied: AppliedRequest): AttrBody {
  assert(applied.attr !== null, `applied request ${applied.requestId} kept its attributes`);
  return { body: { attr: applied.attr } };
}

/** A repeated creation: its attributes as applied; the folder's stamps are not known. */
function createdAgain(applied: AppliedRequest): CreatedBody {
  return { body: { ...attrAgain(applied).body, parentBefore: 0, parentAfter: 0 } };
}

const NO_PROMISE = { promisedChunkId: 0, promisedVersion: 0, promisedChain: [] };

/** A repeated CREATE: as createdAgain, with no chunk promised. */
function createAgain(applied: AppliedRequest): CreateBody {
  return { body: { ...createdAgain(applied).body, ...NO_PROMISE } };
}


/** What a removal or rename tells of a folder no longer there: nothing (inode 0). */
const UNKNOWN_ATTR: Attr = {
  inode: 0, type: 0, mode: 0, uid: 0, gid: 0, atimeMs: 0, mtimeMs: 0, ctimeMs: 0, nlink: 0,
  length: 0, goal: 0, trashtimeS: 0,
};
const changedAgain = (a: AppliedRequest): { body: { changed: number } } =>
  ({ body: { changed: a.changed } });

export class ClientSessions {
  private readonly opts: ClientSessionsOptions;
  private readonly log: Logger;
  private readonly sessions = new Map<number, Session>();
  private readonly links = new Set<Link>();
  private nextSessionId = 1;
  private server: net.Server | null = null;
  sessionsMax: number;
  inflightMax: number;
  /** Repeated requests answered from the applied-request windows. */
  repeatsAnswered = 0;

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
      onBug: (err) => this.opts.onFatal(err instanceof Error ? err : new Error(String(err))),
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
    r.on(CLTOMA_REGISTER, (b, ctx) => {
      const s = this.openSession(b.clientName, b.protocolVersion, null, ctx.link);
      return { body: { sessionId: s.id, metaVersion: this.opts.store.version } };
    });
    r.on(CLTOMA_SESSION, (b, ctx) => {
      const s = this.openSession(b.clientName, b.protocolVersion, b.clientId, ctx.link);
      const { store } = this.opts;
      return { body: { sessionId: s.id, metaVersion: store.version, clusterId: store.clusterId } };
    });
    this.namespaceHandlers(r);
    this.dataHandlers(r);
    this.handle(r, CLTOMA_STATFS, () => this.statfs());
    this.handle(r, CLTOMA_LIST_CHUNKSERVERS, () => this.listChunkservers());
    this.handle(r, CLTOMA_LIST_METALOGGERS, () => this.listMetaloggers());
    this.handle(r, CLTOMA_CHUNKSERVER_DRAIN, (b, _s, origin) => this.commitEmpty({
      kind: 'chunkserverDrain', csId: b.csId, drain: b.drain !== 0 ? 1 : 0, origin,
    }), { kinds: ['chunkserverDrain'], again: () => ({}) });
    this.handle(r, CLTOMA_HEALTH, () => ({ body: { json: this.opts.health?.() ?? '{}' } }));
    return r;
  }

  private namespaceHandlers(r: Router): void {
    const ns = (): typeof this.ns => this.ns;
    const now = (): number => this.opts.store.nowMs();
    const attrBody = (node: Node): AttrBody => ({ body: { attr: attrOf(node) } });
    const attrs = (kinds: ChangeKind[]): Mutation<typeof CLTOMA_SETATTR.reply.fields> =>
      ({ kinds, again: attrAgain });
    const created = (kinds: ChangeKind[]): Mutation<typeof CLTOMA_MKDIR.reply.fields> =>
      ({ kinds, again: createdAgain });
    // A repeat answers with the folder as it is now (later than the change: still true).
    const parentAgain = (_a: AppliedRequest, b: { parent: number }): ParentAttrBody =>
      ({ body: { parentAttr: this.attrIfAny(b.parent), parentBefore: 0, parentAfter: 0 } });
    this.handle(r, CLTOMA_LOOKUP, (b) => attrBody(ns().lookup(b.parent, b.name)));
    this.handle(r, CLTOMA_LOOKUP_PATH, (b) => attrBody(ns().lookupPath(b.path)));
    const withChunks = (node: Node, count: number) => ({ body: {
      attr: attrOf(node),
      chunks: node.type === InodeType.FILE ? this.chunkInfos(node.inode, 0, count) : [],
    } });
    this.handle(r, CLTOMA_LOOKUP_PATH_CHUNKS, (b) => withChunks(ns().lookupPath(b.path), b.count));
    this.handle(r, CLTOMA_GETATTR_CHUNKS, (b) => withChunks(ns().node(b.inode), b.count));
    this.handle(r, CLTOMA_GETATTR, (b) => attrBody(ns().node(b.inode)));
    this.handle(r, CLTOMA_GETATTR_FOLDER, (b) => ({ body: {
      attr: attrOf(ns().dir(b.inode)), namesVersion: this.opts.store.md.namesVersionOf(b.inode),
    } }));
    this.handle(r, CLTOMA_SETATTR,
      (b, _s, o) => this.setattr(b, o), attrs(['setattr', 'truncate']));
    this.handle(r, CLTOMA_MKDIR,
      (b, _s, o) => this.createNode({ ...b, type: InodeType.DIR, target: '' }, o),
      created(['create']));
    this.handle(r, CLTOMA_CREATE, (b, s, o) => this.create(b, s, o),
      { kinds: ['create'], again: createAgain });
    this.handle(r, CLTOMA_SYMLINK,
      (b, _s, o) => this.createNode({ ...b, type: InodeType.SYMLINK, mode: 0o777 }, o),
      created(['create']));
    this.handle(r, CLTOMA_RMDIR,
      (b, _s, origin) => this.commitRemoval({ kind: 'rmdir', ...b, timeMs: now(), origin }),
      { kinds: ['rmdir'], again: parentAgain });
    this.handle(r, CLTOMA_UNLINK,
      (b, _s, origin) => this.commitRemoval({ kind: 'unlink', ...b, timeMs: now(), origin }),
      { kinds: ['unlink'], again: parentAgain });
    this.handle(r, CLTOMA_RENAME, (b, _s, origin) => {
      const { flags, ...names } = b;
      const kind = flags === RenameFlags.EXCHANGE ? 'exchange' : 'rename';
      if (flags !== 0 && flags !== RenameFlags.NOREPLACE && flags !== RenameFlags.EXCHANGE) {
        throw new FsError('EINVAL', `rename flags ${flags}`);
      }
      if (flags === RenameFlags.NOREPLACE) {
        // Checked and renamed in this one turn of the loop: no change can come in between.
        ns().lookup(b.srcParent, b.srcName); // ENOENT first, as the kernel does
        if (ns().dir(b.dstParent).children.has(b.dstName)) throw new FsError('EEXIST', b.dstName);
      }
      return this.commitRename({ kind, ...names, timeMs: now(), origin });
    }, { kinds: ['rename', 'exchange'], again: (_a, b) => this.renameBody(b, null) });
    this.handle(r, CLTOMA_LINK,
      (b, _s, origin) => this.commitEntry({ kind: 'link', ...b, timeMs: now(), origin }),
      created(['link']));
    this.handle(r, CLTOMA_READDIR, (b) => this.readdir(b));
    this.handle(r, CLTOMA_LIST_NAMES, (b) => this.listNames(b));
    this.handle(r, CLTOMA_READLINK, (b) => {
      const node = ns().node(b.inode);
      if (node.type !== InodeType.SYMLINK) {
        throw new FsError('EINVAL', `inode ${b.inode} is no symlink`);
      }
      return { body: { target: node.target } };
    });
    this.handle(r, CLTOMA_SETGOAL,
      (b, _s, origin) => this.commitChanged({ kind: 'setGoal', ...b, timeMs: now(), origin }),
      { kinds: ['setGoal'], again: changedAgain });
    this.handle(r, CLTOMA_SETTRASHTIME,
      (b, _s, origin) => this.commitChanged({ kind: 'setTrashtime', ...b, timeMs: now(), origin }),
      { kinds: ['setTrashtime'], again: changedAgain });
  }

  private dataHandlers(r: Router): void {
    this.handle(r, CLTOMA_READ_CHUNKS, (b) => this.readChunks(b));
    // A repeated WRITE_CHUNK runs again: it hands out a fresh chain and lease, and one more
    // version bump of a chunk nobody wrote at the old version changes no data.
    this.handle(r, CLTOMA_WRITE_CHUNK, async (b, s, origin) => ({
      body: await this.opts.writeFlow.writeChunk(s, b.inode, b.chunkIndex, origin,
        b.promisedChunkId),
    }), { kinds: ['writeChunk'], again: null });
    this.handle(r, CLTOMA_WRITE_END, async (b, s, origin) => ({
      body: { attr: await this.opts.writeFlow.writeEnd(s, b, origin) },
    }), { kinds: ['writeEnd'], again: attrAgain });
    this.handle(r, CLTOMA_REPORT_BAD_CHUNK, (b, s) => this.reportBadChunk(b, s));
  }

  /**
   * Wraps a handler: session check, in-flight limit; a read is answered once what it saw is on
   * disk, a change (with `mutation`) once it is durable. Bugs reach the link's onBug.
   */
  private handle<F extends Fields, R extends Fields>(
    router: Router, def: RequestDef<F, R>, fn: Handler<F, R>, mutation?: Mutation<R, F>,
  ): void {
    router.on(def, async (body, ctx) => {
      const session = this.sessionOf(ctx.link);
      if (session.inflight >= this.inflightMax) {
        throw new FsError('EAGAIN', `${this.inflightMax} requests already in flight`);
      }
      session.inflight++;
      try {
        if (mutation !== undefined) {
          return await this.mutate(body, session, ctx.requestId, fn, mutation);
        }
        const result = await fn(body, session, undefined);
        await this.opts.store.whenDurable(this.opts.store.version);
        return result;
      } finally {
        session.inflight--;
      }
    });
  }

  /** A changing request: answered from its applied entry if it is a repeat, else applied. */
  private async mutate<F extends Fields, R extends Fields>(
    body: Struct<F>, session: Session, requestId: number, fn: Handler<F, R>,
    mutation: Mutation<R, F>,
  ): Promise<HandlerResult<R>> {
    const { store } = this.opts;
    const clientId = session.clientId;
    const origin = clientId === null ? undefined : { clientId, requestId };
    let repeat = this.appliedBefore(origin, mutation, body);
    if (repeat === null) {
      await this.opts.sync.whenReady(); // synchronous mode: enough metaloggers, or EAGAIN
      repeat = this.appliedBefore(origin, mutation, body); // applied while this one waited
    }
    if (repeat !== null) {
      await store.whenSynced(repeat.applied.version);
      this.repeatsAnswered++;
      return repeat.reply;
    }
    const result = await fn(body, session, origin);
    await store.whenSynced(store.version);
    return result;
  }

  private appliedBefore<F extends Fields, R extends Fields>(
    origin: Origin | undefined, mutation: Mutation<R, F>, body: Struct<F>,
  ): { applied: AppliedRequest; reply: HandlerResult<R> } | null {
    if (origin === undefined || mutation.again === null) return null;
    const applied = this.opts.store.md.requests.find(origin.clientId, origin.requestId);
    if (applied === undefined) return null;
    // Another kind under the same id is a new request (the client's ids wrapped around).
    if (!mutation.kinds.some((k) => CHANGE_KIND_NUMBERS[k] === applied.kind)) return null;
    return { applied, reply: mutation.again(applied, body) };
  }

  private sessionOf(link: Link): Session {
    const id = link.state.sessionId;
    const session = typeof id === 'number' ? this.sessions.get(id) : undefined;
    if (session === undefined) throw new FsError('EPERM', 'no session: send CLTOMA_REGISTER first');
    return session;
  }

  private openSession(
    clientName: string, protocolVersion: number, clientId: bigint | null, link: Link,
  ): Session {
    if (!this.opts.isActive()) throw new FsError('NOT_ACTIVE_MASTER', 'not the active master');
    if (link.state.sessionId !== undefined) {
      throw new FsError('EINVAL', 'session already registered');
    }
    if (protocolVersion !== PROTOCOL_VERSION) {
      throw new FsError('EPROTO',
        `protocol ${protocolVersion}, master speaks ${PROTOCOL_VERSION}`);
    }
    if (this.sessions.size >= this.sessionsMax) {
      throw new FsError('EAGAIN', `${this.sessionsMax} sessions already open (SESSIONS_MAX)`);
    }
    let id = this.nextSessionId;
    this.nextSessionId = id + 1 >= MASTER_LEASE_SESSION ? 1 : id + 1;
    while (this.sessions.has(id)) id++;
    const session: Session = {
      id, name: clientName, clientId, link, inflight: 0, closed: false, leases: new Set(),
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
      sessionId: id, client: clientName, peer: link.peer,
      clientId: clientId === null ? undefined : clientId.toString(16),
    });
    return session;
  }

  private async commitAttr(change: Change): Promise<AttrBody> {
    const { result, durable } = this.opts.store.commit(change);
    const node = result.node;
    if (node === undefined) throw new AssertionError(`${change.kind} returns a node`);
    const attr = attrOf(node); // as of this change, whatever follows before the fsync
    await durable;
    return { body: { attr } };
  }

  /** A creation in `change.parent`; the reply adds the folder's stamp. */
  private async commitEntry(change: Change & { parent: number }): Promise<CreatedBody> {
    const { committed, stamps: [stamp] } = this.commitStamped(change, [change.parent]);
    const node = committed.result.node;
    if (node === undefined) throw new AssertionError(`${change.kind} returns a node`);
    const attr = attrOf(node); // as of this change, whatever follows before the fsync
    await committed.durable;
    return { body: { attr, parentBefore: stamp!.before, parentAfter: stamp!.after } };
  }

  /** Commits `change`, which touches `folders`, and tells each folder's stamp. */
  private commitStamped(
    change: Change, folders: number[],
  ): { committed: Committed; stamps: Stamp[] } {
    const md = this.opts.store.md;
    // ENOENT/ENOTDIR before anything changes
    const before = folders.map((inode) => md.namesVersionOf(inode));
    const committed = this.opts.store.commit(change);
    const stamps = folders.map((inode, i) =>
      ({ before: before[i]!, after: md.namesVersionOf(inode) }));
    return { committed, stamps };
  }

  private async commitEmpty(change: Change): Promise<object> {
    await this.opts.store.commit(change).durable;
    return {};
  }

  /** An unlink or rmdir; the reply carries the folder's attributes as of this change. */
  private async commitRemoval(change: Change & { parent: number }): Promise<ParentAttrBody> {
    const { committed, stamps: [stamp] } = this.commitStamped(change, [change.parent]);
    const parentAttr = attrOf(this.ns.node(change.parent)); // as of this change
    await committed.durable;
    return { body: { parentAttr, parentBefore: stamp!.before, parentAfter: stamp!.after } };
  }

  private async commitRename(
    change: Change & { srcParent: number; dstParent: number },
  ): Promise<RenameBody> {
    const { committed, stamps: [src, dst] } =
      this.commitStamped(change, [change.srcParent, change.dstParent]);
    // as of this change, whatever follows before the fsync
    const body = this.renameBody(change, { src: src!, dst: dst! });
    assert(body.body.srcParentAttr.inode === change.srcParent, 'renamed from a folder');
    await committed.durable;
    return body;
  }

  /** The folders' attributes now, and their stamps (null: not known, a repeat). */
  private renameBody(
    p: { srcParent: number; dstParent: number }, stamps: { src: Stamp; dst: Stamp } | null,
  ): RenameBody {
    const srcParentAttr = this.attrIfAny(p.srcParent);
    const dstParentAttr = p.dstParent === p.srcParent ? srcParentAttr : this.attrIfAny(p.dstParent);
    return { body: {
      srcParentAttr, dstParentAttr,
      srcBefore: stamps?.src.before ?? 0, srcAfter: stamps?.src.after ?? 0,
      dstBefore: stamps?.dst.before ?? 0, dstAfter: stamps?.dst.after ?? 0,
    } };
  }

  /** The attributes of `inode`, or UNKNOWN_ATTR when it is gone. */
  private attrIfAny(inode: number): Attr {
    const node = this.ns.inodes.get(inode);
    return node === undefined ? UNKNOWN_ATTR : attrOf(node);
  }

  private async commitChanged(change: Change): Promise<{ body: { changed: number } }> {
    const { result, durable } = this.opts.store.commit(change);
    await durable;
    return { body: { changed: result.changed ?? 0 } };
  }

  private createNode(p: {
    parent: number; name: string; type: number; mode: number; uid: number; gid: number;
    target: string;
  }, origin: Origin | undefined): Promise<CreatedBody> {
    return this.commitEntry({
      kind: 'create', parent: p.parent, name: p.name, inode: this.opts.store.nextInode(),
      type: p.type, mode: p.mode, uid: p.uid, gid: p.gid, timeMs: this.opts.store.nowMs(),
      target: p.target, origin,
    });
  }

  /**
   * open(O_CREAT): an existing regular file is returned as it is unless `exclusive`. A new file
   * created with `promise` may come with a chunk promised for its chunk 0 (WriteFlow).
   */
  private async create(
    b: Struct<typeof CLTOMA_CREATE.fields>, session: Session, origin: Origin | undefined,
  ): Promise<CreateBody> {
    if (b.exclusive === 0 && b.name !== '.' && b.name !== '..') {
      const existing = this.ns.dir(b.parent).children.get(b.name);
      if (existing !== undefined) {
        const node = this.ns.node(existing);
        const version = this.opts.store.md.namesVersionOf(b.parent); // nothing changed
        if (node.type === InodeType.FILE) {
          return { body: {
            attr: attrOf(node), parentBefore: version, parentAfter: version, ...NO_PROMISE,
          } };
        }
        throw new FsError(node.type === InodeType.DIR ? 'EISDIR' : 'EEXIST', b.name);
      }
    }
    const { body } = await this.createNode({ ...b, type: InodeType.FILE, target: '' }, origin);
    const promised = b.promise === 0 || session.closed ? null
      : this.opts.writeFlow.promiseChunk(session, body.attr.inode);
    if (promised === null) return { body: { ...body, ...NO_PROMISE } };
    return { body: { ...body, promisedChunkId: promised.chunkId,
      promisedVersion: promised.version, promisedChain: promised.chain } };
  }

  /**
   * The origin goes with the request's last change: a length alone is recorded with the
   * truncate; with other attributes, with the setattr (a repeat after a crash between the two
   * runs both again, and setting the same length twice changes nothing).
   */
  private async setattr(
    b: Struct<typeof CLTOMA_SETATTR.fields>, origin: Origin | undefined,
  ): Promise<AttrBody> {
    const { store } = this.opts;
    this.ns.node(b.inode); // ENOENT before anything else
    const plain = SetAttr.MODE | SetAttr.UID | SetAttr.GID | SetAttr.ATIME | SetAttr.MTIME;
    const nowBits = SetAttr.ATIME_NOW | SetAttr.MTIME_NOW;
    const lengthOnly = (b.setMask & (plain | nowBits)) === 0 && (b.setMask & SetAttr.LENGTH) !== 0;
    if (b.setMask & SetAttr.LENGTH) {
      await this.opts.writeFlow.truncate(b.inode, b.length, lengthOnly ? origin : undefined);
    }
    if (lengthOnly) return { body: { attr: attrOf(this.ns.node(b.inode)) } };
    const timeMs = store.nowMs();
    let setMask = b.setMask & plain;
    let atimeMs = b.atimeMs;
    let mtimeMs = b.mtimeMs;
    if (b.setMask & SetAttr.ATIME_NOW) { setMask |= SetAttr.ATIME; atimeMs = timeMs; }
    if (b.setMask & SetAttr.MTIME_NOW) { setMask |= SetAttr.MTIME; mtimeMs = timeMs; }
    return this.commitAttr({
      kind: 'setattr', inode: b.inode, setMask, mode: b.mode, uid: b.uid, gid: b.gid,
      atimeMs, mtimeMs, timeMs, origin,
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
        namesVersion: this.opts.store.md.namesVersionOf(b.inode),
      },
    };
  }

  /** Every name of a folder at its names version, or none when there are too many. */
  private listNames(
    b: Struct<typeof CLTOMA_LIST_NAMES.fields>,
  ): HandlerResult<typeof CLTOMA_LIST_NAMES.reply.fields> {
    const dir = this.ns.dir(b.inode);
    const namesVersion = this.opts.store.md.namesVersionOf(b.inode);
    if (dir.children.size > Math.min(b.namesMax, LIST_NAMES_MAX)) {
      return { body: { names: [], namesVersion, complete: 0 } };
    }
    const names = Array.from(dir.children.keys(), (name) => ({ name }));
    return { body: { names, namesVersion, complete: 1 } };
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
    const chunks = this.chunkInfos(b.inode, b.firstIndex, b.count);
    return { body: { length: this.ns.file(b.inode).lengthBytes, chunks } };
  }

  /** The chunks of file `inode` from `firstIndex` on (at most `count`) with their valid copies. */
  private chunkInfos(
    inode: number, firstIndex: number, count: number,
  ): Struct<typeof CLTOMA_READ_CHUNKS.reply.fields>['chunks'] {
    const file = this.ns.file(inode);
    const registry = this.opts.store.md.chunks;
    const end = Math.min(firstIndex + Math.min(count, READ_CHUNKS_MAX), CHUNK_INDEX_LIMIT);
    const chunks = [];
    for (let index = firstIndex; index < end; index++) {
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
    return chunks;
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

  private listMetaloggers(): HandlerResult<typeof CLTOMA_LIST_METALOGGERS.reply.fields> {
    return {
      body: {
        metaVersion: this.opts.store.version,
        metaloggers: this.opts.metaloggers().map((m) => ({
          name: m.name, host: m.host, ackedVersion: m.ackedVersion, lagVersions: m.lagVersions,
          lagMs: m.lagMs, sync: m.sync ? 1 : 0,
        })),
      },
    };
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
