// FUSE operations on names and attributes: LOOKUP, FORGET, GETATTR, SETATTR, READLINK, SYMLINK,
// MKNOD, MKDIR, UNLINK, RMDIR, RENAME(2), LINK, ACCESS, STATFS and the xattr calls (the master
// keeps no xattrs). Each is one or two master requests by inode. A file unlinked (or renamed
// over) while this mount has it open is renamed to a hidden name instead, like NFS does, and
// removed at its last close: the master drops a file's data with its last name.
import crypto from 'node:crypto';
import {
  FsError, InodeType, NAME_MAX_BYTES, READDIR_ENTRIES_MAX, RenameFlags, SetAttr,
} from '@antlerfs/protocol';
import type { Attr, DirPage } from '../index.ts';
import { LISTING_NAMES_MAX } from './dir-cache.ts';
import { ERRNO } from './errno.ts';
import type { SetattrFields } from '../index.ts';
import { RenameFlag, S_IFMT, S_IFREG, SetattrValid } from './kernel-abi.ts';
import { toMs } from './kernel-attr.ts';
import {
  attrReply, EMPTY_REPLY, entryReply, field, nameOf, ownerOf, requireWritable,
  type Handler, type MountContext, type Reply,
} from './mount-context.ts';
import { entryOut, getxattrOut, statfsOut } from './reply.ts';
import type { FuseRequest } from './request.ts';

/** statfs block size: a checksum block, so `df` shows what the chunkservers count. */
const STATFS_BLOCK_BYTES = 64 * 1024;
/** Inode numbers are u32: what `df -i` shows as the total. */
const INODES_MAX = 0xffffffff;
const PERMISSION_BITS = 0o7777;

const lookup: Handler = async (req, ctx) => {
  const parent = req.header.nodeid;
  const name = nameOf(req, 0, false);
  const here = knownEntry(ctx, parent, name) ?? await refreshedEntry(ctx, parent, name);
  if (here !== null) return here;
  if (await knownAbsent(ctx, parent, name)) return notFound(ctx);
  if (await listedAbsent(ctx, parent, name)) return notFound(ctx);
  const since = ctx.fileAttrs.since();
  let attr: Attr;
  try {
    attr = await ctx.calls.lookup(parent, name);
  } catch (err) {
    if (!(err instanceof FsError) || err.code !== 'ENOENT') throw err;
    ctx.dirCache.looked(parent, name, null);
    return notFound(ctx);
  }
  ctx.dirCache.looked(parent, name, attr.inode);
  ctx.dirCache.fetched(attr, { parent, name });
  fetchedFile(ctx, attr, since);
  return entryReply(ctx, attr);
};

/**
 * A LOOKUP answered here: a trusted listing of `parent` maps `name` to a file whose attributes
 * are known and which is not open here. The kernel keeps the entry and the attributes only for
 * what is left of their timeouts. Null when the master must answer.
 */
function knownEntry(ctx: MountContext, parent: number, name: string): Reply | null {
  const entry = ctx.dirCache.entryOf(parent, name);
  if (entry === null || ctx.files.isOpen(entry.inode)) return null;
  const known = ctx.fileAttrs.get(entry.inode);
  if (known === null) return null;
  ctx.dirCache.hits++;
  const { entryMs, attrMs } = ctx.settings.timeouts;
  return entryReply(ctx, known.attr, {
    entryMs: Math.min(entryMs, entry.remainingMs), attrMs: Math.min(attrMs, known.remainingMs),
  });
}

/**
 * A LOOKUP of a name the listing of `parent` maps to an inode whose attributes expired: the
 * folder is read again whole with its entries' attributes (one READDIR page, at the listing's
 * names version) so this LOOKUP and those that follow (a run of stats, renames or unlinks) are
 * answered here. Null when the read is not worth it, fails, or shows a change.
 */
async function refreshedEntry(
  ctx: MountContext, parent: number, name: string,
): Promise<Reply | null> {
  const ticket = ctx.dirCache.refreshTicket(parent, name, READDIR_ENTRIES_MAX);
  if (ticket === null) return null;
  const since = ctx.fileAttrs.since();
  let page: DirPage | null = null;
  try {
    page = await ctx.calls.readdir(parent, '', READDIR_ENTRIES_MAX);
  } catch (err) {
    ctx.log.debug('folder read for its attributes failed: the LOOKUP asks the master', {
      inode: parent, error: (err as Error).message,
    });
  }
  if (page === null || !ctx.dirCache.refreshed(ticket, page)) return null;
  for (const e of page.entries) fetchedFile(ctx, e.attr, since);
  return knownEntry(ctx, parent, name);
}

/**
 * The master gave `attr` just now, asked for at mark `since` (FileAttrs.since): kept for
 * LOOKUPs unless the file is open here or was changed here after the mark.
 */
function fetchedFile(ctx: MountContext, attr: Attr, since: number): void {
  if (!ctx.files.isOpen(attr.inode)) ctx.fileAttrs.fetched(attr, since);
}

/**
 * True when this mount's listing of `parent` lacks `name` and is trusted; an expired listing is
 * confirmed with one GETATTR_FOLDER of the directory (what the LOOKUP would cost anyway) and
 * renewed if nobody else changed the directory's names.
 */
async function knownAbsent(ctx: MountContext, parent: number, name: string): Promise<boolean> {
  const absence = ctx.dirCache.absence(parent, name);
  if (absence !== 'confirm') return absence === 'absent';
  const folder = await ctx.calls.getattrFolder(parent);
  ctx.dirCache.confirmed(folder.attr, folder.namesVersion);
  return ctx.dirCache.knownAbsent(parent, name);
}

/**
 * True when `name` is absent from the names of `parent` fetched now: a folder where the master
 * just answered a LOOKUP with ENOENT (creates are under way, most likely) gets its whole listing
 * once, so the LOOKUPs of the creates that follow need no master request. The fetch takes the
 * place of this LOOKUP when the name is absent; a failed fetch is left to the LOOKUP.
 */
async function listedAbsent(ctx: MountContext, parent: number, name: string): Promise<boolean> {
  const ticket = ctx.dirCache.wantsListing(parent);
  if (ticket === null) return false;
  let got: { names: string[] | null; namesVersion: number } | null = null;
  try {
    got = await ctx.calls.listNames(parent, LISTING_NAMES_MAX);
  } catch (err) {
    ctx.log.debug('folder listing failed: the LOOKUP asks the master', {
      inode: parent, error: (err as Error).message,
    });
  } finally {
    ctx.dirCache.listed(ticket, got);
  }
  return ctx.dirCache.knownAbsent(parent, name);
}

const NOT_FOUND_REPLY: Reply = { parts: [], errno: ERRNO.ENOENT };

/** LOOKUP of a name that does not exist. */
function notFound(ctx: MountContext): Reply {
  const negativeMs = ctx.settings.negativeTimeoutMs;
  if (negativeMs <= 0) return NOT_FOUND_REPLY;
  // A cached "no such name": nodeid 0 with an entry timeout.
  return { parts: [entryOut(null, { entryMs: negativeMs, attrMs: 0 })] };
}

const forget: Handler = async (req, ctx) => {
  forgetOne(ctx, req.header.nodeid, field(req, 'nlookup'));
  return null;
};

const batchForget: Handler = async (req, ctx) => {
  for (const f of req.forgets) forgetOne(ctx, f.nodeid, f.nlookup);
  return null;
};

function forgetOne(ctx: MountContext, nodeid: number, count: number): void {
  if (!ctx.nodes.forget(nodeid, count)) {
    ctx.log.warn('forget of more lookups than the kernel was given', { nodeid, count });
  }
}

const getattr: Handler = async (req, ctx) => {
  const inode = req.header.nodeid;
  const known = ctx.dirCache.attrOf(inode);
  if (known !== null) return attrReply(ctx, known.attr, known.remainingMs);
  const since = ctx.fileAttrs.since();
  const attr = await ctx.calls.getattr(inode);
  ctx.dirCache.fetched(attr);
  fetchedFile(ctx, attr, since);
  return attrReply(ctx, attr, ctx.settings.timeouts.attrMs);
};

const setattr: Handler = async (req, ctx) => {
  requireWritable(ctx);
  const inode = req.header.nodeid;
  const valid = field(req, 'valid');
  const f: SetattrFields = { setMask: 0 };
  if (valid & SetattrValid.MODE) {
    f.setMask |= SetAttr.MODE;
    f.mode = field(req, 'mode') & PERMISSION_BITS;
  }
  if (valid & SetattrValid.UID) { f.setMask |= SetAttr.UID; f.uid = field(req, 'uid'); }
  if (valid & SetattrValid.GID) { f.setMask |= SetAttr.GID; f.gid = field(req, 'gid'); }
  if (valid & SetattrValid.ATIME_NOW) f.setMask |= SetAttr.ATIME_NOW;
  else if (valid & SetattrValid.ATIME) {
    f.setMask |= SetAttr.ATIME;
    f.atimeMs = toMs(field(req, 'atime'), field(req, 'atimensec'));
  }
  if (valid & SetattrValid.MTIME_NOW) f.setMask |= SetAttr.MTIME_NOW;
  else if (valid & SetattrValid.MTIME) {
    f.setMask |= SetAttr.MTIME;
    f.mtimeMs = toMs(field(req, 'mtime'), field(req, 'mtimensec'));
  }
  const times = SetattrValid.ATIME | SetattrValid.MTIME | SetattrValid.ATIME_NOW |
    SetattrValid.MTIME_NOW;
  if ((valid & times) !== 0 && (valid & SetattrValid.SIZE) === 0) {
    // The end of a write sets mtime at the master: writes made before these times (cp -a sets
    // them on the open file before closing it) must end first, or they would overwrite them.
    await ctx.files.endWrites(inode);
  }
  if (valid & SetattrValid.SIZE) {
    f.setMask |= SetAttr.LENGTH;
    f.length = field(req, 'size');
    if (!Number.isSafeInteger(f.length)) throw new FsError('EFBIG', `length ${f.length}`);
    // Writes before the truncate land before it, and no handle keeps a write lease the
    // master would refuse the truncate for (CHUNK_BUSY).
    await ctx.files.reset(inode);
    ctx.nodes.dataChanged(inode);
  }
  ctx.dirCache.forget(inode);
  ctx.fileAttrs.changed(inode);
  const since = ctx.fileAttrs.since();
  const attr = f.setMask === 0 ? await ctx.calls.getattr(inode) : await ctx.calls.setattr(inode, f);
  ctx.dirCache.fetched(attr);
  fetchedFile(ctx, attr, since);
  return attrReply(ctx, attr, ctx.settings.timeouts.attrMs);
};

const readlink: Handler = async (req, ctx) => {
  const target = await ctx.calls.readlink(req.header.nodeid);
  return { parts: [Buffer.from(target, 'utf8')] };
};

const symlink: Handler = async (req, ctx) => {
  requireWritable(ctx);
  const name = nameOf(req, 0, true);
  const target = nameOf(req, 1, true);
  const parent = req.header.nodeid;
  const since = ctx.fileAttrs.since();
  const made = await changing(ctx, parent, ctx.calls.symlink(parent, name, target, ownerOf(req)));
  ctx.dirCache.created(parent, name, made.attr, made.folder);
  fetchedFile(ctx, made.attr, since);
  return entryReply(ctx, made.attr);
};

const mknod: Handler = async (req, ctx) => {
  requireWritable(ctx);
  const mode = field(req, 'mode');
  const type = mode & S_IFMT;
  // Only regular files: the master keeps no device nodes, FIFOs or sockets.
  if (type !== 0 && type !== S_IFREG) {
    throw new FsError('EPERM', `mknod of type ${type.toString(8)}`);
  }
  const name = nameOf(req, 0, true);
  const owner = ownerOf(req);
  const parent = req.header.nodeid;
  const since = ctx.fileAttrs.since();
  const made = await changing(ctx, parent,
    ctx.calls.create(parent, name, mode & PERMISSION_BITS, owner, true));
  ctx.dirCache.created(parent, name, made.attr, made.folder);
  fetchedFile(ctx, made.attr, since);
  return entryReply(ctx, made.attr);
};

const mkdir: Handler = async (req, ctx) => {
  requireWritable(ctx);
  const mode = field(req, 'mode') & PERMISSION_BITS;
  const name = nameOf(req, 0, true);
  const parent = req.header.nodeid;
  const made = await changing(ctx, parent, ctx.calls.mkdir(parent, name, mode, ownerOf(req)));
  ctx.dirCache.made(parent, name, made.attr, made.folder);
  return entryReply(ctx, made.attr);
};

const unlink: Handler = async (req, ctx) => {
  requireWritable(ctx);
  const parent = req.header.nodeid;
  const name = nameOf(req, 0, false);
  if (await hideIfOpen(ctx, parent, name)) return EMPTY_REPLY;
  const r = await changing(ctx, parent, ctx.calls.unlink(parent, name));
  // Its link count fell (other names of it may stay).
  ctx.fileAttrs.changed(ctx.dirCache.removed(parent, name, r.parentAttr, r.folder));
  return EMPTY_REPLY;
};

const rmdir: Handler = async (req, ctx) => {
  requireWritable(ctx);
  const parent = req.header.nodeid;
  const name = nameOf(req, 0, false);
  const r = await changing(ctx, parent, ctx.calls.rmdir(parent, name));
  ctx.dirCache.removed(parent, name, r.parentAttr, r.folder);
  return EMPTY_REPLY;
};

const rename: Handler = async (req, ctx) => renameWith(req, ctx, 0);
const rename2: Handler = async (req, ctx) => renameWith(req, ctx, field(req, 'flags'));

async function renameWith(req: FuseRequest, ctx: MountContext, flags: number): Promise<Reply> {
  requireWritable(ctx);
  // One of NOREPLACE and EXCHANGE at most; whiteouts are for overlay mounts.
  const wire = flags === RenameFlag.NOREPLACE ? RenameFlags.NOREPLACE
    : flags === RenameFlag.EXCHANGE ? RenameFlags.EXCHANGE : flags === 0 ? 0 : null;
  if (wire === null) throw new FsError('EINVAL', `rename flags ${flags}`);
  const from = { parent: req.header.nodeid, name: nameOf(req, 0, false) };
  const to = { parent: field(req, 'newdir'), name: nameOf(req, 1, true) };
  // The master checks NOREPLACE and renames in one step, and an exchange removes nothing;
  // otherwise an open file about to be replaced is kept under a hidden name first.
  if (wire === 0) await hideIfOpen(ctx, to.parent, to.name);
  const inodes = [from, to].map((n) => ctx.dirCache.entryOf(n.parent, n.name)?.inode ?? 0);
  const renamed = ctx.calls.rename(from, to, wire);
  let r;
  try {
    r = await changing(ctx, from.parent, changing(ctx, to.parent, renamed));
  } catch (err) {
    for (const inode of inodes) ctx.fileAttrs.changed(inode);
    throw err;
  }
  const attrs = { src: r.srcParentAttr, dst: r.dstParentAttr };
  if (wire === RenameFlags.EXCHANGE) {
    ctx.dirCache.exchanged(from, to, attrs, r);
    for (const inode of inodes) ctx.fileAttrs.changed(inode);
    return EMPTY_REPLY;
  }
  const { moved, replaced } = ctx.dirCache.renamed(from, to, attrs, r);
  // The master stamps the inode moved with the folders' ctime; the one replaced lost a link.
  ctx.fileAttrs.renamed(moved, r.dstParentAttr?.ctimeMs ?? null);
  if (inodes[0]! !== moved) ctx.fileAttrs.changed(inodes[0]!);
  ctx.fileAttrs.changed(replaced);
  return EMPTY_REPLY;
}

/**
 * Runs a change in directory `parent`. If it fails, what this mount knew about the directory
 * is forgotten: the failure may say its listing was wrong (EEXIST, ENOENT).
 */
async function changing<T>(ctx: MountContext, parent: number, change: Promise<T>): Promise<T> {
  try {
    return await change;
  } catch (err) {
    ctx.dirCache.forget(parent);
    throw err;
  }
}

/**
 * If `name` is the last name of a file this mount has open, renames it to a hidden name in the
 * same directory (removed at the file's last close) and returns true.
 */
async function hideIfOpen(ctx: MountContext, parent: number, name: string): Promise<boolean> {
  if (ctx.files.size === 0) return false;
  let attr: Attr;
  try {
    attr = await ctx.calls.lookup(parent, name);
  } catch {
    return false; // the master answers the unlink or rename itself
  }
  const lastName = attr.type === InodeType.FILE && attr.nlink <= 1;
  if (!lastName || !ctx.files.isOpen(attr.inode) || ctx.hidden.has(attr.inode)) return false;
  const hidden = hiddenName(attr.inode);
  const renamed = ctx.calls.rename({ parent, name }, { parent, name: hidden });
  const r = await changing(ctx, parent, renamed);
  ctx.dirCache.renamed({ parent, name }, { parent, name: hidden },
    { src: r.srcParentAttr, dst: r.dstParentAttr }, r);
  ctx.fileAttrs.changed(attr.inode);
  ctx.hidden.set(attr.inode, { parent, name: hidden });
  ctx.log.debug('open file unlinked: kept under a hidden name until closed', {
    inode: attr.inode, name: hidden,
  });
  return true;
}

function hiddenName(inode: number): string {
  const name = `.antler-unlinked-${inode}-${crypto.randomBytes(4).toString('hex')}`;
  return Buffer.byteLength(name) <= NAME_MAX_BYTES ? name : name.slice(0, NAME_MAX_BYTES);
}

/** Removes the hidden name of a file unlinked while open, once nothing here has it open. */
export async function dropHidden(ctx: MountContext, inode: number): Promise<void> {
  const hidden = ctx.hidden.get(inode);
  if (hidden === undefined || ctx.files.isOpen(inode)) return;
  ctx.hidden.delete(inode);
  try {
    const r = await changing(ctx, hidden.parent, ctx.calls.unlink(hidden.parent, hidden.name));
    ctx.dirCache.removed(hidden.parent, hidden.name, r.parentAttr, r.folder);
    ctx.fileAttrs.changed(inode);
  } catch (err) {
    ctx.log.warn('could not remove an unlinked file kept while open', {
      inode, name: hidden.name, error: (err as Error).message,
    });
  }
}

const link: Handler = async (req, ctx) => {
  requireWritable(ctx);
  const name = nameOf(req, 0, true);
  const parent = req.header.nodeid;
  const since = ctx.fileAttrs.since();
  const made = await changing(ctx, parent, ctx.calls.link(field(req, 'oldnodeid'), parent, name));
  ctx.dirCache.renamed(null, { parent, name }, { src: null, dst: null },
    { src: null, dst: made.folder }, made.attr.inode);
  fetchedFile(ctx, made.attr, since); // with its new link count
  return entryReply(ctx, made.attr);
};

const statfs: Handler = async (_req, ctx) => {
  const s = await ctx.client.statfs();
  const blocks = Math.floor(s.totalBytes / STATFS_BLOCK_BYTES);
  const free = Math.floor(s.availBytes / STATFS_BLOCK_BYTES);
  return {
    parts: [statfsOut({
      blocks, bfree: free, bavail: free, files: INODES_MAX,
      ffree: Math.max(0, INODES_MAX - s.inodes), bsize: STATFS_BLOCK_BYTES,
      frsize: STATFS_BLOCK_BYTES, namelen: NAME_MAX_BYTES,
    })],
  };
};

const access: Handler = async (req, ctx) => {
  const mask = field(req, 'mask') & 7;
  const attr = await ctx.calls.getattr(req.header.nodeid);
  if (!permits(attr, req.header.uid, req.header.gid, mask)) {
    throw new FsError('EACCES', `inode ${attr.inode} mask ${mask}`);
  }
  return EMPTY_REPLY;
};

/** POSIX permission check (supplementary groups are not known to FUSE). */
export function permits(attr: Attr, uid: number, gid: number, mask: number): boolean {
  if (mask === 0) return true;
  if (uid === 0) {
    // Root may do anything but execute a file nobody may execute.
    return (mask & 1) === 0 || attr.type === InodeType.DIR || (attr.mode & 0o111) !== 0;
  }
  const shift = uid === attr.uid ? 6 : gid === attr.gid ? 3 : 0;
  return (((attr.mode >> shift) & 7) & mask) === mask;
}

// The master keeps no extended attributes: none exist, none can be set. GETXATTR has no
// handler: its ENOSYS tells the kernel to stop asking (it asks for security.capability before
// every write otherwise) and to answer EOPNOTSUPP itself.
const removexattr: Handler = async () => {
  throw new FsError('ENODATA', 'no extended attributes');
};
const listxattr: Handler = async (req) => {
  return { parts: [field(req, 'size') === 0 ? getxattrOut(0) : Buffer.alloc(0)] };
};
const setxattr: Handler = async () => {
  throw new FsError('ENOTSUP', 'no extended attributes');
};

export const ENTRY_HANDLERS = {
  LOOKUP: lookup, FORGET: forget, BATCH_FORGET: batchForget, GETATTR: getattr,
  SETATTR: setattr, READLINK: readlink, SYMLINK: symlink, MKNOD: mknod, MKDIR: mkdir,
  UNLINK: unlink, RMDIR: rmdir, RENAME: rename, RENAME2: rename2, LINK: link, STATFS: statfs,
  ACCESS: access, LISTXATTR: listxattr, SETXATTR: setxattr, REMOVEXATTR: removexattr,
} as const;
