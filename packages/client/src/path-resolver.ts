// Turns paths into inodes by asking the master. A whole path is resolved with one
// CLTOMA_LOOKUP_PATH (lstat semantics); when that fails, the path is walked one name at a time
// with CLTOMA_LOOKUP so that symlinks in the middle of it are followed as POSIX says. A final
// symlink is followed only on request; at most SYMLINK_HOPS_MAX links per resolution (ELOOP).
// The folder of a change by path comes from a FolderCache when it knows it; a change that fails
// on a remembered folder with ENOENT or ENOTDIR is tried once more on a fresh lookup.
import {
  CLTOMA_LOOKUP, CLTOMA_LOOKUP_PATH, CLTOMA_LOOKUP_PATH_CHUNKS, CLTOMA_READLINK, FsError,
  InodeType, ROOT_INODE,
} from '@antlerfs/protocol';
import type { Attr } from './attr.ts';
import type { ChunkInfo } from './chunk-reader.ts';
import { statusOf, withContext } from './errors.ts';
import type { FolderCache } from './folder-cache.ts';
import type { MasterSession } from './master-session.ts';
import {
  joinPath, normalizePath, pathComponents, resolveSymlinkTarget, splitParent,
} from './path.ts';

/** Symlinks followed in one resolution before ELOOP (Linux's limit). */
export const SYMLINK_HOPS_MAX = 40;

export interface ResolvedParent {
  /** The directory that holds (or will hold) the entry. */
  parentInode: number;
  /** Normalised path of that directory, as the caller named it (symlinks not resolved). */
  parentPath: string;
  name: string;
  /** Normalised path of the entry, for error messages. */
  path: string;
  /** True when parentInode came from the folder cache (it may be out of date). */
  cached: boolean;
}

/** What a change on a remembered folder fails with when the folder is no longer there. */
function maybeStale(err: unknown): boolean {
  const status = statusOf(err);
  return status === 'ENOENT' || status === 'ENOTDIR';
}

export class PathResolver {
  private readonly session: MasterSession;
  readonly folders: FolderCache;

  constructor(session: MasterSession, folders: FolderCache) {
    this.session = session;
    this.folders = folders;
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

  /**
   * Like stat(), and for a regular file reached without a symlink also the locations of its
   * first `count` chunks, from the same round trip (null when they did not come with it).
   */
  async statWithChunks(
    path: string, count: number,
  ): Promise<{ attr: Attr; path: string; chunks: ChunkInfo[] | null }> {
    const normalized = normalizePath(path);
    let r;
    try {
      r = await this.session.call(CLTOMA_LOOKUP_PATH_CHUNKS, { path: normalized, count },
        normalized);
    } catch (err) {
      if (!(err instanceof FsError) || (err.code !== 'ENOENT' && err.code !== 'ENOTDIR')) throw err;
      return { ...(await this.stat(path)), chunks: null }; // maybe a symlink on the way
    }
    if (r.attr.type === InodeType.SYMLINK) return { ...(await this.stat(path)), chunks: null };
    if (r.attr.type === InodeType.DIR) this.folders.put(normalized, r.attr.inode);
    return { attr: r.attr, path: normalized, chunks: r.chunks };
  }

  /** Attributes of what `path` names, following symlinks; also returns the final path. */
  async stat(path: string): Promise<{ attr: Attr; path: string }> {
    let current = normalizePath(path);
    for (let hop = 0; hop <= SYMLINK_HOPS_MAX; hop++) {
      const attr = await this.lstat(current);
      if (attr.type !== InodeType.SYMLINK) {
        if (attr.type === InodeType.DIR && hop === 0) this.folders.put(current, attr.inode);
        return { attr, path: current };
      }
      current = resolveSymlinkTarget(current, await this.readlinkInode(attr.inode, current));
    }
    throw new FsError('ELOOP', normalizePath(path));
  }

  async readlinkInode(inode: number, path: string): Promise<string> {
    return (await this.session.call(CLTOMA_READLINK, { inode }, path)).target;
  }

  /**
   * The directory that holds `path` (symlinks followed) and the entry's name; from the folder
   * cache unless `fresh`. The root needs no lookup: it is always inode 1.
   */
  async parentOf(path: string, operation: string, fresh = false): Promise<ResolvedParent> {
    const split = splitParent(path, operation);
    const { parentPath, name } = split;
    if (parentPath === '/') {
      return { parentInode: ROOT_INODE, parentPath, name, path: split.path, cached: false };
    }
    if (!fresh) {
      const inode = this.folders.get(parentPath);
      if (inode !== null) {
        return { parentInode: inode, parentPath, name, path: split.path, cached: true };
      }
    }
    const { attr } = await this.stat(parentPath);
    if (attr.type !== InodeType.DIR) throw new FsError('ENOTDIR', parentPath);
    return { parentInode: attr.inode, parentPath, name, path: split.path, cached: false };
  }

  /**
   * Runs `change` in the folder of `path`. If it fails as if a remembered folder were gone or
   * moved (ENOENT, ENOTDIR), the entry is dropped and the change runs once more on a fresh
   * lookup: a failed change changed nothing, so running it again is safe.
   */
  async inParentOf<T>(
    path: string, operation: string, change: (p: ResolvedParent) => Promise<T>,
  ): Promise<T> {
    const first = await this.parentOf(path, operation);
    try {
      return await change(first);
    } catch (err) {
      if (!first.cached || !maybeStale(err)) throw err;
      this.folders.drop(first.parentPath);
    }
    return change(await this.parentOf(path, operation, true));
  }

  /** inParentOf for two paths at once (rename): both fresh on the second try. */
  async inParentsOf<T>(
    paths: { from: string; to: string }, operation: string,
    change: (src: ResolvedParent, dst: ResolvedParent) => Promise<T>,
  ): Promise<T> {
    const src = await this.parentOf(paths.from, operation);
    const dst = await this.parentOf(paths.to, operation);
    try {
      return await change(src, dst);
    } catch (err) {
      if (!(src.cached || dst.cached) || !maybeStale(err)) throw err;
      if (src.cached) this.folders.drop(src.parentPath);
      if (dst.cached) this.folders.drop(dst.parentPath);
    }
    const freshSrc = await this.parentOf(paths.from, operation, true);
    return change(freshSrc, await this.parentOf(paths.to, operation, true));
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
