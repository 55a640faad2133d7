// Metadata calls by inode, as a FUSE kernel asks them (parent inode + name, never a path): the
// public `client.inodes` of the library. They go through the Client's own master session (the
// same link, reconnects and failover as every path call). Nothing here caches anything; a
// removal or rename returns the folders' attributes the master sent with its reply, so a
// caller that caches attributes needs no GETATTR after it, and every change in a folder the
// folder's stamp, so a caller that keeps a listing knows whether it is still exact.
import {
  CLTOMA_CREATE, CLTOMA_GETATTR, CLTOMA_GETATTR_CHUNKS, CLTOMA_GETATTR_FOLDER, CLTOMA_LINK,
  CLTOMA_LIST_NAMES, CLTOMA_LOOKUP, CLTOMA_MKDIR, CLTOMA_READDIR, CLTOMA_READLINK, CLTOMA_RENAME,
  CLTOMA_RMDIR, CLTOMA_SETATTR, CLTOMA_SYMLINK, CLTOMA_UNLINK,
} from '@antlerfs/protocol';
import type { Attr, DirEntry } from './attr.ts';
import type { Location, PromisedChunk } from './chunk-writer.ts';
import type { Located } from './file-handle.ts';
import type { MasterSession } from './master-session.ts';

/** The owner of what a call creates. */
export interface Owner {
  uid: number;
  gid: number;
}

export interface SetattrFields {
  /** protocol SetAttr bits. */
  setMask: number;
  mode?: number;
  uid?: number;
  gid?: number;
  atimeMs?: number;
  mtimeMs?: number;
  length?: number;
}

export interface DirPage {
  entries: DirEntry[];
  nextCursor: string;
  end: boolean;
  /** The folder's names version the page was taken at (see FolderStamp). */
  namesVersion: number;
}

/** A name in a folder. */
export interface InodeName {
  parent: number;
  name: string;
}

/**
 * A folder's names version just before and just after a change in it. The names version moves
 * with every change of the folder's entries, by anybody: a listing kept at version `before`
 * plus this change is exact at version `after`.
 */
export interface FolderStamp {
  before: number;
  after: number;
}

/** What a creation returns: the new entry, and its folder's stamp (null: not known). */
export interface Created {
  attr: Attr;
  folder: FolderStamp | null;
}

/** What CREATE returns: a Created, with the chunk promised for the file's first write if any. */
export interface CreatedFile extends Created {
  promised: PromisedChunk | null;
}

/** What a removal returns: its folder's attributes after it and its stamp (null: unknown). */
export interface Removed {
  parentAttr: Attr | null;
  folder: FolderStamp | null;
}

/** The folders of a rename just after it (the same attributes twice when they are one). */
export interface RenameResult {
  /** null when the master could not tell (a repeat answered after the folder went). */
  srcParentAttr: Attr | null;
  dstParentAttr: Attr | null;
  src: FolderStamp | null;
  dst: FolderStamp | null;
}

function where(parent: number, name: string): string {
  return `${JSON.stringify(name)} in inode ${parent}`;
}

/** The master's "not known" attributes (inode 0) as null. */
function known(attr: Attr): Attr | null {
  return attr.inode === 0 ? null : attr;
}

/** The master's "not known" stamp (0, 0) as null. */
function stampOf(before: number, after: number): FolderStamp | null {
  return before === 0 && after === 0 ? null : { before, after };
}

function created(r: { attr: Attr; parentBefore: number; parentAfter: number }): Created {
  return { attr: r.attr, folder: stampOf(r.parentBefore, r.parentAfter) };
}

/** The chunk a CREATE reply promised, if any. */
export function promisedOf(
  r: { promisedChunkId: number; promisedVersion: number; promisedChain: Location[] },
): PromisedChunk | null {
  if (r.promisedChunkId === 0 || r.promisedChain.length === 0) return null;
  return { chunkId: r.promisedChunkId, version: r.promisedVersion, chain: r.promisedChain };
}

function removed(r: { parentAttr: Attr; parentBefore: number; parentAfter: number }): Removed {
  return { parentAttr: known(r.parentAttr), folder: stampOf(r.parentBefore, r.parentAfter) };
}

export class InodeApi {
  private readonly master: MasterSession;

  constructor(master: MasterSession) {
    this.master = master;
  }

  async lookup(parent: number, name: string): Promise<Attr> {
    return (await this.master.call(CLTOMA_LOOKUP, { parent, name }, where(parent, name))).attr;
  }

  async getattr(inode: number): Promise<Attr> {
    return (await this.master.call(CLTOMA_GETATTR, { inode }, `inode ${inode}`)).attr;
  }

  /** GETATTR and, for a file, the locations of its first `count` chunks, in one round trip. */
  async getattrWithChunks(inode: number, count: number): Promise<{ attr: Attr; located: Located }> {
    const r = await this.master.call(CLTOMA_GETATTR_CHUNKS, { inode, count }, `inode ${inode}`);
    return { attr: r.attr, located: { count, chunks: r.chunks } };
  }

  async setattr(inode: number, f: SetattrFields): Promise<Attr> {
    const r = await this.master.call(CLTOMA_SETATTR, {
      inode, setMask: f.setMask, mode: f.mode ?? 0, uid: f.uid ?? 0, gid: f.gid ?? 0,
      atimeMs: f.atimeMs ?? 0, mtimeMs: f.mtimeMs ?? 0, length: f.length ?? 0,
    }, `inode ${inode}`);
    return r.attr;
  }

  /**
   * A directory's attributes and its names version (see FolderStamp): a listing kept at that
   * version is still exact.
   */
  async getattrFolder(inode: number): Promise<{ attr: Attr; namesVersion: number }> {
    return this.master.call(CLTOMA_GETATTR_FOLDER, { inode }, `inode ${inode}`);
  }

  /**
   * Every name of a folder (no order, no '.' and '..') at its names version; names null when it
   * holds more than `namesMax`.
   */
  async listNames(
    inode: number, namesMax: number,
  ): Promise<{ names: string[] | null; namesVersion: number }> {
    const r = await this.master.call(CLTOMA_LIST_NAMES, { inode, namesMax }, `inode ${inode}`);
    const names = r.complete === 0 ? null : r.names.map((n) => n.name);
    return { names, namesVersion: r.namesVersion };
  }

  async mkdir(parent: number, name: string, mode: number, owner: Owner): Promise<Created> {
    const body = { parent, name, mode, uid: owner.uid, gid: owner.gid };
    return created(await this.master.call(CLTOMA_MKDIR, body, where(parent, name)));
  }

  /**
   * A regular file; without `exclusive` an existing regular file is returned as it is. With
   * `promise` (it is opened for writing) a new file may come with a promised chunk 0.
   */
  async create(
    parent: number, name: string, mode: number, owner: Owner, exclusive: boolean,
    promise = false,
  ): Promise<CreatedFile> {
    const body = {
      parent, name, mode, uid: owner.uid, gid: owner.gid, exclusive: exclusive ? 1 : 0,
      promise: promise ? 1 : 0,
    };
    const r = await this.master.call(CLTOMA_CREATE, body, where(parent, name));
    return { ...created(r), promised: promisedOf(r) };
  }

  async symlink(parent: number, name: string, target: string, owner: Owner): Promise<Created> {
    const body = { parent, name, target, uid: owner.uid, gid: owner.gid };
    return created(await this.master.call(CLTOMA_SYMLINK, body, where(parent, name)));
  }

  async readlink(inode: number): Promise<string> {
    return (await this.master.call(CLTOMA_READLINK, { inode }, `inode ${inode}`)).target;
  }

  /** Removes a name that is no folder. */
  async unlink(parent: number, name: string): Promise<Removed> {
    return removed(await this.master.call(CLTOMA_UNLINK, { parent, name }, where(parent, name)));
  }

  /** Removes an empty folder. */
  async rmdir(parent: number, name: string): Promise<Removed> {
    return removed(await this.master.call(CLTOMA_RMDIR, { parent, name }, where(parent, name)));
  }

  /** POSIX rename; `flags`: RenameFlags (NOREPLACE: EEXIST when `to` exists). */
  async rename(from: InodeName, to: InodeName, flags = 0): Promise<RenameResult> {
    const r = await this.master.call(CLTOMA_RENAME, {
      srcParent: from.parent, srcName: from.name, dstParent: to.parent, dstName: to.name, flags,
    }, `${where(from.parent, from.name)} -> ${where(to.parent, to.name)}`);
    return {
      srcParentAttr: known(r.srcParentAttr), dstParentAttr: known(r.dstParentAttr),
      src: stampOf(r.srcBefore, r.srcAfter), dst: stampOf(r.dstBefore, r.dstAfter),
    };
  }

  async link(inode: number, parent: number, name: string): Promise<Created> {
    const body = { inode, parent, name };
    return created(await this.master.call(CLTOMA_LINK, body, where(parent, name)));
  }

  /** One page of a listing: names after `cursor` in name order. */
  async readdir(inode: number, cursor: string, entriesMax: number): Promise<DirPage> {
    const body = { inode, cursor, entriesMax };
    const r = await this.master.call(CLTOMA_READDIR, body, `inode ${inode}`);
    return {
      entries: r.entries, nextCursor: r.nextCursor, end: r.end !== 0, namesVersion: r.namesVersion,
    };
  }
}
