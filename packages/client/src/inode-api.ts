// Metadata calls by inode, as a FUSE kernel asks them (parent inode + name, never a path): the
// public `client.inodes` of the library. They go through the Client's own master session (the
// same link, reconnects and failover as every path call). Nothing here caches anything; a
// removal or rename returns the folders' attributes the master sent with its reply, so a
// caller that caches attributes needs no GETATTR after it.
import {
  CLTOMA_CREATE, CLTOMA_GETATTR, CLTOMA_GETATTR_CHUNKS, CLTOMA_LINK, CLTOMA_LOOKUP, CLTOMA_MKDIR,
  CLTOMA_READDIR, CLTOMA_READLINK, CLTOMA_RENAME, CLTOMA_RMDIR, CLTOMA_SETATTR, CLTOMA_SYMLINK,
  CLTOMA_UNLINK,
} from '@antlerfs/protocol';
import type { Attr, DirEntry } from './attr.ts';
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
}

/** A name in a folder. */
export interface InodeName {
  parent: number;
  name: string;
}

/** The folders of a rename just after it (the same attributes twice when they are one). */
export interface RenameResult {
  /** null when the master could not tell (a repeat answered after the folder went). */
  srcParentAttr: Attr | null;
  dstParentAttr: Attr | null;
}

function where(parent: number, name: string): string {
  return `${JSON.stringify(name)} in inode ${parent}`;
}

/** The master's "not known" attributes (inode 0) as null. */
function known(attr: Attr): Attr | null {
  return attr.inode === 0 ? null : attr;
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

  async mkdir(parent: number, name: string, mode: number, owner: Owner): Promise<Attr> {
    const body = { parent, name, mode, uid: owner.uid, gid: owner.gid };
    return (await this.master.call(CLTOMA_MKDIR, body, where(parent, name))).attr;
  }

  /** A regular file; without `exclusive` an existing regular file is returned as it is. */
  async create(
    parent: number, name: string, mode: number, owner: Owner, exclusive: boolean,
  ): Promise<Attr> {
    const body = {
      parent, name, mode, uid: owner.uid, gid: owner.gid, exclusive: exclusive ? 1 : 0,
    };
    return (await this.master.call(CLTOMA_CREATE, body, where(parent, name))).attr;
  }

  async symlink(parent: number, name: string, target: string, owner: Owner): Promise<Attr> {
    const body = { parent, name, target, uid: owner.uid, gid: owner.gid };
    return (await this.master.call(CLTOMA_SYMLINK, body, where(parent, name))).attr;
  }

  async readlink(inode: number): Promise<string> {
    return (await this.master.call(CLTOMA_READLINK, { inode }, `inode ${inode}`)).target;
  }

  /** Removes a name that is no folder; returns the folder's attributes after (null: unknown). */
  async unlink(parent: number, name: string): Promise<Attr | null> {
    const r = await this.master.call(CLTOMA_UNLINK, { parent, name }, where(parent, name));
    return known(r.parentAttr);
  }

  /** Removes an empty folder; returns its parent's attributes after (null: unknown). */
  async rmdir(parent: number, name: string): Promise<Attr | null> {
    const r = await this.master.call(CLTOMA_RMDIR, { parent, name }, where(parent, name));
    return known(r.parentAttr);
  }

  async rename(from: InodeName, to: InodeName): Promise<RenameResult> {
    const r = await this.master.call(CLTOMA_RENAME, {
      srcParent: from.parent, srcName: from.name, dstParent: to.parent, dstName: to.name,
    }, `${where(from.parent, from.name)} -> ${where(to.parent, to.name)}`);
    return { srcParentAttr: known(r.srcParentAttr), dstParentAttr: known(r.dstParentAttr) };
  }

  async link(inode: number, parent: number, name: string): Promise<Attr> {
    return (await this.master.call(CLTOMA_LINK, { inode, parent, name }, where(parent, name))).attr;
  }

  /** One page of a listing: names after `cursor` in name order. */
  async readdir(inode: number, cursor: string, entriesMax: number): Promise<DirPage> {
    const body = { inode, cursor, entriesMax };
    const r = await this.master.call(CLTOMA_READDIR, body, `inode ${inode}`);
    return { entries: r.entries, nextCursor: r.nextCursor, end: r.end !== 0 };
  }
}
