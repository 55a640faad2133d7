// What every FUSE operation works with: the inode calls to the master, the client (file data,
// statfs), the kernel's nodes, the open files and directories, the cache timeouts; and the
// small rules they share: how an entry reply counts a lookup, how attributes include lengths
// this mount wrote but has not yet ended at the master, who owns what a request creates.
import { assert, FsError, InodeType, type Logger } from '@antlerfs/protocol';
import type { Attr, Client, InodeApi, Owner } from '../index.ts';
import type { DirCache } from './dir-cache.ts';
import type { DirHandles } from './dir-handle.ts';
import type { FileAttrs } from './file-attrs.ts';
import type { ReadBuffers } from './read-buffers.ts';
import { kernelAttr, type KernelAttr } from './kernel-attr.ts';
import type { NodeTable } from './node-table.ts';
import type { OpenFiles } from './open-file.ts';
import { attrOut, entryOut, type CacheTimeouts } from './reply.ts';
import type { FuseRequest } from './request.ts';

export interface MountSettings {
  timeouts: CacheTimeouts;
  /** How long the kernel may remember that a name does not exist (0: not at all). */
  negativeTimeoutMs: number;
  readOnly: boolean;
}

export interface MountContext {
  calls: InodeApi;
  client: Client;
  nodes: NodeTable;
  files: OpenFiles;
  dirs: DirHandles;
  /** Directory attributes and listings known here between master requests. */
  dirCache: DirCache;
  /** Attributes of files and symlinks known here between master requests. */
  fileAttrs: FileAttrs;
  /** Reply buffers of READ, reused. */
  readBuffers: ReadBuffers;
  settings: MountSettings;
  log: Logger;
  /** Names under which files unlinked while open here live on until their last close. */
  hidden: Map<number, { parent: number; name: string }>;
  /** Tells the kernel its cached attributes of `inode` are stale (size, mtime). */
  invalidateAttrs(inode: number): void;
}

/** What a handler answers: the reply body, and what to do once the kernel has it (or not). */
export interface Reply {
  parts: readonly Buffer[];
  /**
   * An error answer (errno number, parts empty) for an outcome that is no failure of ours, such
   * as a LOOKUP of a missing name: cheaper than throwing on a path taken thousands of times.
   */
  errno?: number;
  /** The kernel received the reply (entries: it now holds a lookup). */
  delivered?: () => void;
  /** The kernel no longer waited for it (interrupted): undo what the reply would have given. */
  lost?: () => void;
}

/** null: the request takes no reply (FORGET). */
export type Handler = (req: FuseRequest, ctx: MountContext) => Promise<Reply | null>;

export const EMPTY_REPLY: Reply = { parts: [] };

/** The numeric field `key` of the request's struct (its presence is the decoder's promise). */
export function field(req: FuseRequest, key: string): number {
  const v = req.arg[key];
  if (typeof v !== 'number') assert(false, `request field ${key} was decoded`);
  return v;
}

/** The request's name `i`; a name that is not UTF-8 cannot exist in antlerfs. */
export function nameOf(req: FuseRequest, i: number, forCreate: boolean): string {
  const name = req.names[i];
  if (name === undefined) assert(false, `request name ${i} was decoded`);
  if (req.badName) {
    throw new FsError(forCreate ? 'EINVAL' : 'ENOENT', 'names must be UTF-8');
  }
  return name;
}

export function ownerOf(req: FuseRequest): Owner {
  return { uid: req.header.uid, gid: req.header.gid };
}

export function requireWritable(ctx: MountContext): void {
  if (ctx.settings.readOnly) throw new FsError('EROFS', 'mounted read-only');
}

/** The kernel's view of `attr`: a file's length includes writes this mount has not ended. */
export function kernelAttrOf(ctx: MountContext, attr: Attr): KernelAttr {
  if (attr.type !== InodeType.FILE) return kernelAttr(attr);
  return kernelAttr(attr, Math.max(attr.length, ctx.files.unendedLengthBytes(attr.inode)));
}

/**
 * An entry reply, trusted by the kernel for `timeouts` (default: the mount's); the kernel holds
 * one more lookup of the inode once it has it.
 */
export function entryReply(
  ctx: MountContext, attr: Attr, timeouts: CacheTimeouts = ctx.settings.timeouts,
): Reply {
  const kattr = kernelAttrOf(ctx, attr);
  return {
    parts: [entryOut(kattr, timeouts)],
    delivered: () => {
      ctx.nodes.remember(attr.inode);
      ctx.nodes.noteKernelAttr(attr.inode, kernelVersion(kattr));
    },
  };
}

/** An attr reply for `attr`, trusted by the kernel for `attrMs`. */
export function attrReply(ctx: MountContext, attr: Attr, attrMs: number): Reply {
  const kattr = kernelAttrOf(ctx, attr);
  return {
    parts: [attrOut(kattr, attrMs)],
    delivered: () => ctx.nodes.noteKernelAttr(attr.inode, kernelVersion(kattr)),
  };
}

/** What the kernel's view of a file's data depends on: the size and mtime it was given. */
export function kernelVersion(kattr: KernelAttr): string {
  return `${kattr.size}:${kattr.mtime}:${kattr.mtimensec}`;
}

/** What a file's cached pages are a version of: its length and mtime at the master. */
export function dataVersion(attr: Attr): string {
  return `${attr.length}:${attr.mtimeMs}`;
}
