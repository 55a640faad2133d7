// Metadata calls by inode, as the kernel asks them (parent inode + name, never a path). The
// library's public Client speaks paths only, so these go through the Client's own master
// session: the same link, the same reconnects after a master restart, the same failover. That
// session is reached by name at runtime (it is not part of the public API yet); connect() fails
// with a clear message if a later library no longer has it. Nothing here caches anything.
import {
  CLTOMA_CREATE, CLTOMA_GETATTR, CLTOMA_LINK, CLTOMA_LOOKUP, CLTOMA_MKDIR, CLTOMA_READDIR,
  CLTOMA_READLINK, CLTOMA_RENAME, CLTOMA_RMDIR, CLTOMA_SETATTR, CLTOMA_SYMLINK, CLTOMA_UNLINK,
  type Fields, type RequestDef, type Struct,
} from '@antlerfs/protocol';
import type { Attr, Client, FileHandle, OpenFlags } from '../index.ts';

/** A master request with a status check: what the library's session offers. */
export interface MasterCaller {
  call<F extends Fields, R extends Fields>(
    def: RequestDef<F, R>, body: Struct<F>, context: string,
  ): Promise<Struct<R>>;
}

/** The owner of what a request creates: the caller's ids from the FUSE header. */
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
  entries: { name: string; attr: Attr }[];
  nextCursor: string;
  end: boolean;
}

/** The Client's master session, which speaks every CLTOMA_* request. */
export function masterCallerOf(client: Client): MasterCaller {
  const session: unknown = Reflect.get(client, 'session');
  const call: unknown = typeof session === 'object' && session !== null
    ? Reflect.get(session, 'call')
    : undefined;
  if (typeof call !== 'function') {
    throw new Error('this client library has no master session with call(def, body, context): ' +
      'the mount needs inode-level metadata calls');
  }
  return session as MasterCaller;
}

type HandleFor = (attr: Attr, flags: OpenFlags, label: string) => FileHandle;

/**
 * A library handle of `inode`. With `attr` (what the master said of the file just now, at OPEN
 * or CREATE) the handle is made from it, through the Client's own handle factory reached like
 * its session, saving the GETATTR openInode() would send; without, or if a later library no
 * longer has that factory, openInode() asks the master.
 */
export async function openHandle(
  client: Client, inode: number, flags: OpenFlags, attr: Attr | null,
): Promise<FileHandle> {
  const handleFor: unknown = Reflect.get(client, 'handleFor');
  if (attr === null || typeof handleFor !== 'function') return client.openInode(inode, flags);
  return (handleFor as HandleFor).call(client, attr, flags, `inode ${inode}`);
}

function where(parent: number, name: string): string {
  return `${JSON.stringify(name)} in inode ${parent}`;
}

export class InodeCalls {
  private readonly master: MasterCaller;

  constructor(master: MasterCaller) {
    this.master = master;
  }

  async lookup(parent: number, name: string): Promise<Attr> {
    return (await this.master.call(CLTOMA_LOOKUP, { parent, name }, where(parent, name))).attr;
  }

  async getattr(inode: number): Promise<Attr> {
    return (await this.master.call(CLTOMA_GETATTR, { inode }, `inode ${inode}`)).attr;
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

  async unlink(parent: number, name: string): Promise<void> {
    await this.master.call(CLTOMA_UNLINK, { parent, name }, where(parent, name));
  }

  async rmdir(parent: number, name: string): Promise<void> {
    await this.master.call(CLTOMA_RMDIR, { parent, name }, where(parent, name));
  }

  async rename(
    from: { parent: number; name: string }, to: { parent: number; name: string },
  ): Promise<void> {
    await this.master.call(CLTOMA_RENAME, {
      srcParent: from.parent, srcName: from.name, dstParent: to.parent, dstName: to.name,
    }, `${where(from.parent, from.name)} -> ${where(to.parent, to.name)}`);
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
