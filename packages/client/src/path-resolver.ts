// Turns paths into inodes by asking the master. A whole path is resolved with one
// CLTOMA_LOOKUP_PATH (lstat semantics); when that fails, the path is walked one name at a time
// with CLTOMA_LOOKUP so that symlinks in the middle of it are followed as POSIX says. A final
// symlink is followed only on request; at most SYMLINK_HOPS_MAX links per resolution (ELOOP).
import {
  CLTOMA_LOOKUP, CLTOMA_LOOKUP_PATH, CLTOMA_READLINK, FsError, InodeType, ROOT_INODE,
} from '@antlerfs/protocol';
import type { Attr } from './attr.ts';
import { withContext } from './errors.ts';
import type { MasterSession } from './master-session.ts';
import {
  joinPath, normalizePath, pathComponents, resolveSymlinkTarget, splitParent,
} from './path.ts';

/** Symlinks followed in one resolution before ELOOP (Linux's limit). */
export const SYMLINK_HOPS_MAX = 40;

export interface ResolvedParent {
  /** The directory that holds (or will hold) the entry. */
  parent: Attr;
  name: string;
  /** Normalised path of the entry, for error messages. */
  path: string;
}

export class PathResolver {
  private readonly session: MasterSession;

  constructor(session: MasterSession) {
    this.session = session;
  }

  /** Attributes of `path` itself (a final symlink is not followed). */
  async lstat(path: string): Promise<Attr> {
    const normalized = normalizePath(path);
    try {
      return (await this.session.call(CLTOMA_LOOKUP_PATH, { path: normalized }, normalized)).attr;
    } catch (err) {
      if (!(err instanceof FsError) || (err.code !== 'ENOENT' && err.code !== 'ENOTDIR')) throw err;
      // Maybe a symlink in the middle: walk it name by name. An error names the whole path, as
      // POSIX calls do, not the component where the walk stopped.
      try {
        return (await this.walk(normalized, false)).attr;
      } catch (walkErr) {
        throw withContext(walkErr, normalized);
      }
    }
  }

  /** Attributes of what `path` names, following symlinks; also returns the final path. */
  async stat(path: string): Promise<{ attr: Attr; path: string }> {
    let current = normalizePath(path);
    for (let hop = 0; hop <= SYMLINK_HOPS_MAX; hop++) {
      const attr = await this.lstat(current);
      if (attr.type !== InodeType.SYMLINK) return { attr, path: current };
      current = resolveSymlinkTarget(current, await this.readlinkInode(attr.inode, current));
    }
    throw new FsError('ELOOP', normalizePath(path));
  }

  async readlinkInode(inode: number, path: string): Promise<string> {
    return (await this.session.call(CLTOMA_READLINK, { inode }, path)).target;
  }

  /** The directory that holds `path` (symlinks followed) and the entry's name. */
  async parentOf(path: string, operation: string): Promise<ResolvedParent> {
    const split = splitParent(path, operation);
    const { attr } = await this.stat(split.parentPath);
    if (attr.type !== InodeType.DIR) throw new FsError('ENOTDIR', split.parentPath);
    return { parent: attr, name: split.name, path: split.path };
  }

  /** A walk from the root, following symlinks in the middle (and at the end if asked). */
  private async walk(path: string, followLast: boolean): Promise<{ attr: Attr; path: string }> {
    let remaining = pathComponents(path);
    let dirPath = '/';
    let dirInode = ROOT_INODE;
    let hops = 0;
    let attr: Attr | null = null;
    // Each step consumes one name or follows one symlink (bounded by SYMLINK_HOPS_MAX).
    while (remaining.length > 0) {
      const name = remaining[0]!;
      const here = joinPath(dirPath, name);
      attr = (await this.session.call(CLTOMA_LOOKUP, { parent: dirInode, name }, here)).attr;
      const last = remaining.length === 1;
      if (attr.type === InodeType.SYMLINK && (!last || followLast)) {
        if (++hops > SYMLINK_HOPS_MAX) throw new FsError('ELOOP', path);
        const target = resolveSymlinkTarget(here, await this.readlinkInode(attr.inode, here));
        remaining = pathComponents(target).concat(remaining.slice(1));
        dirPath = '/';
        dirInode = ROOT_INODE;
        attr = null;
        continue;
      }
      if (!last && attr.type !== InodeType.DIR) throw new FsError('ENOTDIR', here);
      remaining = remaining.slice(1);
      dirPath = here;
      dirInode = attr.inode;
    }
    if (attr === null) {
      attr = (await this.session.call(CLTOMA_LOOKUP_PATH, { path: '/' }, '/')).attr;
    }
    return { attr, path: dirPath };
  }
}
