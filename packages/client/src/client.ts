// The public client of antlerfs: a session with the master plus connections to chunkservers.
// Metadata operations go to the master only; file data goes through FileHandle (chunk writers
// and readers). Every failure is thrown as protocol's FsError with the path as its context.
// The CLI, the FUSE mount and the S3 gateway use only this class and what index.ts exports.
import crypto from 'node:crypto';
import {
  CHUNK_SIZE_BYTES, CLTOMA_CREATE, CLTOMA_GETATTR, CLTOMA_LINK, CLTOMA_LIST_CHUNKSERVERS,
  CLTOMA_CHUNKSERVER_DRAIN, CLTOMA_HEALTH, CLTOMA_LIST_METALOGGERS, CLTOMA_MKDIR,
  CLTOMA_READ_CHUNKS, CLTOMA_READDIR, CLTOMA_RENAME,
  CLTOMA_RMDIR, CLTOMA_SETATTR, CLTOMA_SETGOAL, CLTOMA_SETTRASHTIME, CLTOMA_STATFS,
  CLTOMA_SYMLINK, CLTOMA_UNLINK, FsError, GOAL_MAX, InodeType, READDIR_ENTRIES_MAX, RenameFlags,
  SetAttr, SYMLINK_MAX_BYTES, type Logger,
} from '@antlerfs/protocol';
import type {
  Attr, ChunkserverInfo, DirEntry, FileChunk, FileInfo, HealthReport, MetaloggerList,
  StatfsInfo,
} from './attr.ts';
import type { PromisedChunk } from './chunk-writer.ts';
import { ChunkserverAgent } from './chunkserver-agent.ts';
import { statusOf, toFsError, withContext } from './errors.ts';
import { FileHandle, OPEN_FLAGS, type Located, type OpenFlags } from './file-handle.ts';
import { InodeApi, promisedOf, type SetattrFields } from './inode-api.ts';
import { ClientLogger } from './log.ts';
import { parseMasterOption } from './master-address.ts';
import { MasterSession } from './master-session.ts';
import { joinPath, normalizePath, pathComponents, temporaryName } from './path.ts';
import {
  FOLDER_CACHE_ENTRIES_MAX, FOLDER_CACHE_TTL_MS, FolderCache,
} from './folder-cache.ts';
import { PathResolver, SYMLINK_HOPS_MAX } from './path-resolver.ts';
import { ReadStream, type ReadStreamOptions } from './read-stream.ts';
import { resolveTuning, type Tuning } from './tuning.ts';
import { WriteStream, type WriteStreamOptions } from './write-stream.ts';

export interface ClientOptions {
  /**
   * "host:port", or several masters as "h1:9421,h2:9421" or an array: the session tries them in
   * turn and keeps the one that is active, also after a failover.
   */
  master: string | readonly string[];
  /** Shown by the master in its session list. */
  name?: string;
  log?: Logger;
  tuning?: Partial<Tuning>;
  /**
   * How long this client trusts a folder path's inode once looked up, so that a change by path
   * costs one master request, not two (default 1000 ms, the mount's entry timeout; 0: off).
   * Another client's rename of a folder is seen by path operations at most this late.
   */
  folderCacheTtlMs?: number;
  /** Folders remembered at once (default 4096). */
  folderCacheEntriesMax?: number;
}

export interface OpenOptions {
  /** Permission bits of a file the open creates (default 0644). */
  mode?: number;
  /** Goal of a file the open creates. */
  goal?: number;
}

export interface WriteFileOptions {
  goal?: number;
  mode?: number;
}

/**
 * What writeFile writes: a buffer (not kept after the call returns), or a stream or async
 * iterable whose chunks are handed over to the client (it keeps each one until written, so a
 * producer must not modify a chunk after yielding it).
 */
export type WriteFileData =
  | Buffer | Uint8Array | AsyncIterable<Buffer | Uint8Array | string> | NodeJS.ReadableStream;

/** Pages of one READDIR listing, bounded so a listing that never ends cannot loop forever. */
const READDIR_PAGES_MAX = 1_000_000;
/** Chunks asked for per CLTOMA_READ_CHUNKS by fileInfo (64 GiB of file). */
const FILE_INFO_BATCH_CHUNKS = 1024;
const DIR_MODE_DEFAULT = 0o755;
const FILE_MODE_DEFAULT = 0o644;

export class Client {
  private readonly session: MasterSession;
  private readonly agent: ChunkserverAgent;
  private readonly tuning: Tuning;
  private readonly log: Logger;
  private readonly paths: PathResolver;
  /** Metadata calls by inode (parent inode + name), for access paths like the FUSE mount. */
  readonly inodes: InodeApi;
  /** Owner of what this client creates. */
  private readonly owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };

  private constructor(
    session: MasterSession, agent: ChunkserverAgent, tuning: Tuning, log: Logger,
    folders: FolderCache,
  ) {
    this.session = session;
    this.agent = agent;
    this.tuning = tuning;
    this.log = log;
    this.paths = new PathResolver(session, folders);
    this.inodes = new InodeApi(session);
  }

  /**
   * Connects and opens a session with the active master; fails with ENOTCONN if none answers.
   * Later, a lost master link is reopened (to the same or the next master) without the caller
   * seeing it: requests in flight are sent again, and only fail with ENOTCONN when no master
   * takes the session within tuning.masterReconnectMs.
   */
  static async connect(options: ClientOptions): Promise<Client> {
    const masters = parseMasterOption(options?.master);
    const tuning = resolveTuning(options.tuning);
    const folders = folderCacheOf(options);
    const log = options.log ?? new ClientLogger('client');
    const session = new MasterSession({
      masters, clientName: options.name ?? `antler-client pid ${process.pid}`,
      log, connectRoundsMax: tuning.masterConnectRoundsMax,
      reconnectMs: tuning.masterReconnectMs, requestSpanMax: tuning.masterRequestSpanMax,
      connectTimeoutMs: tuning.connectTimeoutMs,
      requestTimeoutMs: tuning.requestTimeoutMs, backoffMsMin: tuning.backoffMsMin,
      backoffMsMax: tuning.backoffMsMax,
    });
    await session.ready(tuning.masterConnectFirstRoundsMax);
    const agent = new ChunkserverAgent({
      log, connectionsMax: tuning.connectionsPerServerMax, serversMax: tuning.serversMax,
      connectTimeoutMs: tuning.connectTimeoutMs, requestTimeoutMs: tuning.requestTimeoutMs,
      inflightMax: tuning.inflightPerConnectionMax,
    });
    return new Client(session, agent, tuning, log, folders);
  }

  /** Master requests this client sent so far, by message name (CLTOMA_LOOKUP_PATH: n, ...). */
  masterRequestCounts(): Record<string, number> {
    return this.session.requestCounts();
  }

  close(): void {
    this.session.close();
    this.agent.close();
  }

  // ---- Attributes --------------------------------------------------------------------------

  async stat(path: string): Promise<Attr> {
    return (await this.paths.stat(path)).attr;
  }

  async lstat(path: string): Promise<Attr> {
    return this.paths.lstat(path);
  }

  async chmod(path: string, mode: number): Promise<Attr> {
    checkMode(mode, path);
    return this.setattr(path, { setMask: SetAttr.MODE, mode });
  }

  /** Changes owner and group; -1 leaves one unchanged. */
  async chown(path: string, uid: number, gid: number): Promise<Attr> {
    const setMask = (uid === -1 ? 0 : SetAttr.UID) | (gid === -1 ? 0 : SetAttr.GID);
    for (const id of [uid, gid]) {
      if (!Number.isInteger(id) || id < -1 || id > 0xffffffff) {
        throw new FsError('EINVAL', `${path}: id ${id}`);
      }
    }
    return this.setattr(path, { setMask, uid: Math.max(uid, 0), gid: Math.max(gid, 0) });
  }

  async utimes(path: string, atimeMs: number, mtimeMs: number): Promise<Attr> {
    for (const t of [atimeMs, mtimeMs]) {
      if (!Number.isSafeInteger(t) || t < 0) throw new FsError('EINVAL', `${path}: time ${t}`);
    }
    return this.setattr(path, { setMask: SetAttr.ATIME | SetAttr.MTIME, atimeMs, mtimeMs });
  }

  async truncate(path: string, length: number): Promise<Attr> {
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new FsError('EINVAL', `${path}: length ${length}`);
    }
    return this.setattr(path, { setMask: SetAttr.LENGTH, length });
  }

  /** Sets the goal (copies per chunk); returns how many inodes changed. */
  async setGoal(path: string, goal: number, opts?: { recursive?: boolean }): Promise<number> {
    if (!Number.isInteger(goal) || goal < 1 || goal > GOAL_MAX) {
      throw new FsError('EINVAL', `${path}: goal ${goal} (1..${GOAL_MAX})`);
    }
    const { attr, path: p } = await this.paths.stat(path);
    const recursive = opts?.recursive ? 1 : 0;
    const r = await this.session.call(CLTOMA_SETGOAL, { inode: attr.inode, goal, recursive }, p);
    return r.changed;
  }

  async getGoal(path: string): Promise<number> {
    return (await this.stat(path)).goal;
  }

  /** Sets how long deleted files stay in the trash; returns how many inodes changed. */
  async setTrashtime(
    path: string, seconds: number, opts?: { recursive?: boolean },
  ): Promise<number> {
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 0xffffffff) {
      throw new FsError('EINVAL', `${path}: trashtime ${seconds}`);
    }
    const { attr, path: p } = await this.paths.stat(path);
    const r = await this.session.call(CLTOMA_SETTRASHTIME, {
      inode: attr.inode, trashtimeS: seconds, recursive: opts?.recursive ? 1 : 0,
    }, p);
    return r.changed;
  }

  // ---- Directories and names ---------------------------------------------------------------

  async readdir(path: string): Promise<DirEntry[]> {
    const { attr, path: p } = await this.paths.stat(path);
    if (attr.type !== InodeType.DIR) throw new FsError('ENOTDIR', p);
    const out: DirEntry[] = [];
    let cursor = '';
    for (let page = 0; page < READDIR_PAGES_MAX; page++) {
      const body = { inode: attr.inode, cursor, entriesMax: READDIR_ENTRIES_MAX };
      const r = await this.session.call(CLTOMA_READDIR, body, p);
      for (const e of r.entries) out.push({ name: e.name, attr: e.attr });
      if (r.end !== 0 || r.entries.length === 0) return out;
      if (r.nextCursor === cursor) {
        throw new FsError('EPROTO', `${p}: readdir cursor did not advance`);
      }
      cursor = r.nextCursor;
    }
    throw new FsError('EFBIG', `${p}: more than ${READDIR_PAGES_MAX} readdir pages`);
  }

  async mkdir(path: string, opts?: { mode?: number; recursive?: boolean }): Promise<Attr> {
    const mode = opts?.mode ?? DIR_MODE_DEFAULT;
    checkMode(mode, path);
    if (opts?.recursive) return this.mkdirRecursive(path, mode);
    return this.paths.inParentOf(path, 'mkdir', async ({ parentInode, name, path: p }) => {
      const body = { parent: parentInode, name, mode, ...this.owner };
      const { attr } = await this.session.call(CLTOMA_MKDIR, body, p);
      this.paths.folders.put(p, attr.inode);
      return attr;
    });
  }

  async rmdir(path: string): Promise<void> {
    await this.paths.inParentOf(path, 'rmdir', async ({ parentInode, name, path: p }) => {
      await this.session.call(CLTOMA_RMDIR, { parent: parentInode, name }, p);
      this.paths.folders.dropTree(p);
    });
  }

  async unlink(path: string): Promise<void> {
    await this.paths.inParentOf(path, 'unlink', async ({ parentInode, name, path: p }) => {
      await this.session.call(CLTOMA_UNLINK, { parent: parentInode, name }, p);
      this.paths.folders.dropTree(p); // it may have been a symlink to a folder
    });
  }

  /** POSIX rename; with `noReplace`, EEXIST when `to` exists (checked and renamed at once). */
  async rename(from: string, to: string, opts?: { noReplace?: boolean }): Promise<void> {
    await this.paths.inParentsOf({ from, to }, 'rename', async (src, dst) => {
      await this.session.call(CLTOMA_RENAME, {
        srcParent: src.parentInode, srcName: src.name,
        dstParent: dst.parentInode, dstName: dst.name,
        flags: opts?.noReplace === true ? RenameFlags.NOREPLACE : 0,
      }, `${src.path} -> ${dst.path}`);
      this.paths.folders.dropTree(src.path);
      this.paths.folders.dropTree(dst.path);
    });
  }

  async symlink(target: string, path: string): Promise<Attr> {
    if (target === '' || target.includes('\0')) {
      throw new FsError('EINVAL', `${path}: symlink target`);
    }
    if (Buffer.byteLength(target) > SYMLINK_MAX_BYTES) {
      throw new FsError('ENAMETOOLONG', `${path}: symlink target`);
    }
    return this.paths.inParentOf(path, 'symlink', async ({ parentInode, name, path: p }) => {
      const body = { parent: parentInode, name, target, ...this.owner };
      return (await this.session.call(CLTOMA_SYMLINK, body, p)).attr;
    });
  }

  async readlink(path: string): Promise<string> {
    const p = normalizePath(path);
    const attr = await this.paths.lstat(p);
    if (attr.type !== InodeType.SYMLINK) throw new FsError('EINVAL', `${p}: not a symlink`);
    return this.paths.readlinkInode(attr.inode, p);
  }

  /** A hard link `newPath` to the file `existing` (a final symlink is not followed). */
  async link(existing: string, newPath: string): Promise<Attr> {
    const src = await this.paths.lstat(existing);
    return this.paths.inParentOf(newPath, 'link', async ({ parentInode, name, path: p }) => {
      const body = { inode: src.inode, parent: parentInode, name };
      return (await this.session.call(CLTOMA_LINK, body, p)).attr;
    });
  }

  // ---- Cluster -----------------------------------------------------------------------------

  async fileInfo(path: string): Promise<FileInfo> {
    const { attr, path: p } = await this.paths.stat(path);
    const chunks: FileChunk[] = [];
    const count = attr.type === InodeType.FILE ? Math.ceil(attr.length / CHUNK_SIZE_BYTES) : 0;
    for (let first = 0; first < count; first += FILE_INFO_BATCH_CHUNKS) {
      const r = await this.session.call(CLTOMA_READ_CHUNKS, {
        inode: attr.inode, firstIndex: first,
        count: Math.min(FILE_INFO_BATCH_CHUNKS, count - first),
      }, p);
      for (const c of r.chunks) {
        chunks.push({
          index: c.index, chunkId: c.chunkId, version: c.version,
          locations: c.locations.map(({ csId, host, port }) => ({ csId, host, port })),
        });
      }
    }
    return { inode: attr.inode, length: attr.length, goal: attr.goal, chunks };
  }

  async statfs(): Promise<StatfsInfo> {
    return this.session.call(CLTOMA_STATFS, {}, 'statfs');
  }

  async chunkservers(): Promise<ChunkserverInfo[]> {
    return (await this.session.call(CLTOMA_LIST_CHUNKSERVERS, {}, 'list chunkservers')).servers;
  }

  /** The master's health document: chunk matrix, replication and deletion queues, servers. */
  async health(): Promise<HealthReport> {
    const { json } = await this.session.call(CLTOMA_HEALTH, {}, 'health');
    return JSON.parse(json) as HealthReport;
  }

  /** Marks a chunkserver for removal (its chunks are copied elsewhere first), or clears it. */
  async drainChunkserver(csId: number, drain: boolean): Promise<void> {
    await this.session.call(CLTOMA_CHUNKSERVER_DRAIN, { csId, drain: drain ? 1 : 0 },
      `drain chunkserver ${csId}`);
  }

  /** The master's metadata version and each metalogger's progress behind it. */
  async metaloggers(): Promise<MetaloggerList> {
    return this.session.call(CLTOMA_LIST_METALOGGERS, {}, 'list metaloggers');
  }

  // ---- Files -------------------------------------------------------------------------------

  /** Opens a file: r, r+ (no create), w (create + truncate), wx (exclusive create), a, a+. */
  async open(path: string, flags: OpenFlags, opts?: OpenOptions): Promise<FileHandle> {
    if (!OPEN_FLAGS.includes(flags)) {
      throw new FsError('EINVAL', `${path}: open flags ${String(flags)}`);
    }
    const mode = opts?.mode ?? FILE_MODE_DEFAULT;
    checkMode(mode, path);
    if (flags === 'r') return (await this.openForReading(path)).handle;
    if (flags === 'r+') {
      const { attr, path: p } = await this.paths.stat(path);
      return this.handleFor(attr, flags, p);
    }
    let current = path;
    // A chunk made ahead, promised for the new file's first write (not when the goal changes).
    const promise = opts?.goal === undefined ? 1 : 0;
    for (let hop = 0; hop <= SYMLINK_HOPS_MAX; hop++) {
      const p = normalizePath(current);
      let attr: Attr;
      let promised: PromisedChunk | null;
      try {
        ({ attr, promised } = await this.paths.inParentOf(current, 'open', async (where) => {
          const r = await this.session.call(CLTOMA_CREATE, {
            parent: where.parentInode, name: where.name, mode, ...this.owner,
            exclusive: flags === 'wx' ? 1 : 0, promise,
          }, p);
          return { attr: r.attr, promised: promisedOf(r) };
        }));
      } catch (err) {
        if (flags === 'wx' || statusOf(err) !== 'EEXIST') throw err;
        // Not a regular file: open follows a symlink, and a directory is EISDIR.
        const existing = await this.paths.lstat(p);
        if (existing.type === InodeType.DIR) throw new FsError('EISDIR', p);
        if (existing.type !== InodeType.SYMLINK) throw err;
        current = (await this.paths.stat(p)).path;
        continue;
      }
      if (opts?.goal !== undefined) attr = await this.setGoalOfInode(attr, opts.goal, p);
      if (flags === 'w' && attr.length > 0) attr = await this.truncateInode(attr.inode, p);
      return this.handleFor(attr, flags, p, null, promised);
    }
    throw new FsError('ELOOP', path);
  }

  /**
   * Opens a file by inode (the FUSE layer): any flag but 'wx'. With `attr` (what the master
   * said of the file just now, e.g. at CREATE) no GETATTR is sent; `located`: the chunk
   * locations that came with those attributes (CLTOMA_GETATTR_CHUNKS), for a read-only open;
   * `promised`: the chunk the CREATE that gave `attr` promised.
   */
  async openInode(
    inode: number, flags: OpenFlags,
    opts?: { attr?: Attr; located?: Located | null; promised?: PromisedChunk | null },
  ): Promise<FileHandle> {
    const label = `inode ${inode}`;
    if (!OPEN_FLAGS.includes(flags) || flags === 'wx') {
      throw new FsError('EINVAL', `${label}: open flags ${flags}`);
    }
    if (opts?.attr !== undefined && opts.attr.inode !== inode) {
      throw new FsError('EINVAL', `${label}: attributes of inode ${opts.attr.inode}`);
    }
    let attr = opts?.attr ?? (await this.session.call(CLTOMA_GETATTR, { inode }, label)).attr;
    if (flags === 'w' && attr.length > 0) attr = await this.truncateInode(inode, label);
    // Locations are only of use with the attributes they came with.
    const located = flags === 'r' && opts?.attr !== undefined ? opts.located ?? null : null;
    const promised = flags !== 'r' && attr.length === 0 ? opts?.promised ?? null : null;
    return this.handleFor(attr, flags, label, located, promised);
  }

  /**
   * Writes a whole file atomically: the data goes to a hidden name in the same directory that
   * is renamed over `path` at the end. On any failure that file is removed and the error thrown.
   */
  async writeFile(path: string, data: WriteFileData, opts?: WriteFileOptions): Promise<void> {
    const mode = opts?.mode ?? FILE_MODE_DEFAULT;
    checkMode(mode, path);
    const tmpRandom = crypto.randomBytes(6).toString('hex');
    const created = await this.paths.inParentOf(path, 'writeFile', async (where) => {
      const tmpName = temporaryName(where.name, tmpRandom);
      const r = await this.session.call(CLTOMA_CREATE, {
        parent: where.parentInode, name: tmpName, mode, ...this.owner, exclusive: 1,
        promise: opts?.goal === undefined ? 1 : 0,
      }, joinPath(where.parentPath, tmpName));
      return { attr: r.attr, promised: promisedOf(r), where, tmpName };
    });
    const { where: { parentInode, name, path: p }, tmpName } = created;
    const parent = { inode: parentInode };
    let attr = created.attr;
    let handle: FileHandle | null = null;
    try {
      if (opts?.goal !== undefined) attr = await this.setGoalOfInode(attr, opts.goal, p);
      handle = this.handleFor(attr, 'w', p, null, created.promised);
      await writeAll(handle, data, p);
      await handle.close();
      await this.session.call(CLTOMA_RENAME, {
        srcParent: parent.inode, srcName: tmpName, dstParent: parent.inode, dstName: name,
        flags: 0,
      }, p);
    } catch (err) {
      const error = toFsError(err, p);
      await handle?.abort(error);
      await this.discard(attr.inode, parent.inode, tmpName);
      throw error;
    }
  }

  /**
   * The whole file, as long as it was when its path was looked up (a shorter file if it shrank
   * meanwhile). Three round trips for a small file: the path, the locations, the data; the
   * length comes with the path's attributes, so no GETATTR.
   */
  async readFile(path: string): Promise<Buffer> {
    const { handle, lengthBytes } = await this.openForReading(path);
    try {
      if (lengthBytes === 0) return Buffer.alloc(0);
      const buffer = Buffer.allocUnsafe(lengthBytes);
      const n = await handle.read(buffer, 0, lengthBytes, 0);
      return n === lengthBytes ? buffer : buffer.subarray(0, n);
    } finally {
      await handle.close();
    }
  }

  /** A Readable of the file's bytes from `start` to `end` (inclusive, as in node:fs). */
  createReadStream(path: string, opts?: ReadStreamOptions): ReadStream {
    return new ReadStream(() => this.openForReading(path), opts ?? {},
      this.tuning.readsInflightMax);
  }

  /** A Writable into the file (opened with `flags`, default 'w'), written in place. */
  createWriteStream(path: string, opts?: WriteStreamOptions): WriteStream {
    return new WriteStream(() => this.open(path, opts?.flags ?? 'w', opts), opts ?? {});
  }

  // ---- Internals ---------------------------------------------------------------------------

  /**
   * open(path, 'r') plus the length the lookup gave (no GETATTR needed after it); the chunk
   * locations come with the lookup, so a small file's data is one more round trip away.
   */
  private async openForReading(path: string): Promise<{ handle: FileHandle; lengthBytes: number }> {
    const count = this.tuning.locateBatchChunks;
    const { attr, path: p, chunks } = await this.paths.statWithChunks(path, count);
    const located = chunks === null ? null : { count, chunks };
    return { handle: this.handleFor(attr, 'r', p, located), lengthBytes: attr.length };
  }

  private handleFor(
    attr: Attr, flags: OpenFlags, label: string, located: Located | null = null,
    promised: PromisedChunk | null = null,
  ): FileHandle {
    if (attr.type === InodeType.DIR) throw new FsError('EISDIR', label);
    if (attr.type !== InodeType.FILE) throw new FsError('EINVAL', `${label}: not a regular file`);
    return new FileHandle({
      session: this.session, agent: this.agent, tuning: this.tuning, log: this.log,
      inode: attr.inode, flags, label, lengthBytes: attr.length, located, promised,
    });
  }

  private async mkdirRecursive(path: string, mode: number): Promise<Attr> {
    const parts = pathComponents(path);
    let dir = await this.stat('/');
    let dirPath = '/';
    for (const name of parts) {
      const p = joinPath(dirPath, name);
      try {
        const body = { parent: dir.inode, name, mode, ...this.owner };
        dir = (await this.session.call(CLTOMA_MKDIR, body, p)).attr;
        this.paths.folders.put(p, dir.inode);
      } catch (err) {
        if (statusOf(err) !== 'EEXIST') throw err;
        dir = await this.stat(p);
        if (dir.type !== InodeType.DIR) throw new FsError('ENOTDIR', p);
      }
      dirPath = p;
    }
    return dir;
  }

  private async setattr(path: string, fields: SetattrFields): Promise<Attr> {
    const { attr, path: p } = await this.paths.stat(path);
    return this.setattrInode(attr.inode, fields, p);
  }

  private async setattrInode(inode: number, f: SetattrFields, context: string): Promise<Attr> {
    const r = await this.session.call(CLTOMA_SETATTR, {
      inode, setMask: f.setMask, mode: f.mode ?? 0, uid: f.uid ?? 0, gid: f.gid ?? 0,
      atimeMs: f.atimeMs ?? 0, mtimeMs: f.mtimeMs ?? 0, length: f.length ?? 0,
    }, context);
    return r.attr;
  }

  private truncateInode(inode: number, context: string): Promise<Attr> {
    return this.setattrInode(inode, { setMask: SetAttr.LENGTH, length: 0 }, context);
  }

  private async setGoalOfInode(attr: Attr, goal: number, context: string): Promise<Attr> {
    if (!Number.isInteger(goal) || goal < 1 || goal > GOAL_MAX) {
      throw new FsError('EINVAL', `${context}: goal ${goal} (1..${GOAL_MAX})`);
    }
    await this.session.call(CLTOMA_SETGOAL, { inode: attr.inode, goal, recursive: 0 }, context);
    return { ...attr, goal };
  }

  /** Removes a half-written temporary file, skipping the trash. Best effort: see below. */
  private async discard(inode: number, parent: number, name: string): Promise<void> {
    try {
      await this.session.call(CLTOMA_SETTRASHTIME, { inode, trashtimeS: 0, recursive: 0 }, name);
      await this.session.call(CLTOMA_UNLINK, { parent, name }, name);
    } catch (err) {
      // The caller gets the original error; a leftover hidden file is logged for the operator.
      const error = withContext(err, name).message;
      this.log.warn('could not remove temporary file', { name, parent, error });
    }
  }
}

function folderCacheOf(options: ClientOptions): FolderCache {
  const ttlMs = options.folderCacheTtlMs ?? FOLDER_CACHE_TTL_MS;
  const entriesMax = options.folderCacheEntriesMax ?? FOLDER_CACHE_ENTRIES_MAX;
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 0) {
    throw new FsError('EINVAL', `folderCacheTtlMs ${ttlMs} (an integer >= 0)`);
  }
  if (!Number.isSafeInteger(entriesMax) || entriesMax < 1) {
    throw new FsError('EINVAL', `folderCacheEntriesMax ${entriesMax} (an integer >= 1)`);
  }
  return new FolderCache({ ttlMs, entriesMax });
}

function checkMode(mode: number, path: string): void {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new FsError('EINVAL', `${path}: mode ${mode} (0..07777)`);
  }
}

/** Streams `data` into a fresh handle at position 0 onwards, without copying buffers it owns. */
async function writeAll(handle: FileHandle, data: WriteFileData, label: string): Promise<void> {
  if (Buffer.isBuffer(data) || data instanceof Uint8Array) {
    await handle.write(data, 0);
    return;
  }
  if (!(Symbol.asyncIterator in data)) {
    throw new FsError('EINVAL', `${label}: data is not a Buffer or a stream`);
  }
  // Each chunk is handed over, as a node stream hands over what it pushes: the handle keeps it
  // until written, without a copy, so many are in flight at once.
  let position = 0;
  for await (const chunk of data as AsyncIterable<Buffer | Uint8Array | string>) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    await handle.write(buffer, position, { transfer: true });
    position += buffer.length;
  }
}

