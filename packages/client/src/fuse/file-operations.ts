// FUSE operations on file data: OPEN, CREATE, READ, WRITE, FLUSH, FSYNC, RELEASE. Data goes
// through the library's FileHandle: reads use its readahead, writes are handed over (the handle
// keeps the buffer, gathers partial blocks and streams whole ones) and the reply goes back at
// once; a failed write shows at the next write, FLUSH (close) or FSYNC. FLUSH ends the writes
// at the master so the next open anywhere sees everything (close-to-open consistency).
import fs from 'node:fs';
import { FsError, InodeType, SetAttr } from '@antlerfs/protocol';
import type { Attr, CreatedFile } from '../index.ts';
import { dropHidden } from './entry-operations.ts';
import { OpenOut } from './kernel-abi.ts';
import {
  dataVersion, EMPTY_REPLY, field, kernelAttrOf, kernelVersion, nameOf, ownerOf, requireWritable,
  type Handler, type MountContext, type Reply,
} from './mount-context.ts';
import type { OpenFile, OpenMode } from './open-file.ts';
import { createOut, openOut, writeOut } from './reply.ts';

const { O_RDONLY, O_APPEND, O_TRUNC, O_EXCL } = fs.constants;
/** Bytes fetched at a read-only OPEN for the first READ (the kernel's first readahead). */
const FIRST_READ_BYTES = 128 * 1024;
/** O_ACCMODE: the access mode bits of open flags (RDONLY 0, WRONLY 1, RDWR 2). */
const O_ACCMODE = 3;
const PERMISSION_BITS = 0o7777;
/** Chunks located with a read-only open: 1 GiB of file, as one CLTOMA_READ_CHUNKS would. */
const READ_LOCATED_CHUNKS = 16;

function modeOf(flags: number): OpenMode {
  if ((flags & O_ACCMODE) === O_RDONLY) return 'r';
  return (flags & O_APPEND) !== 0 ? 'a+' : 'r+';
}

function writes(mode: OpenMode): boolean {
  return mode !== 'r';
}

/** A file has data, at the master or in writes this mount has not ended yet. */
function hasData(ctx: MountContext, attr: Attr): boolean {
  return attr.length > 0 || ctx.files.unendedLengthBytes(attr.inode) > 0;
}

/** open(O_TRUNC) of a file with data: the other opens push their writes first. */
async function truncateForOpen(ctx: MountContext, attr: Attr): Promise<Attr> {
  await ctx.files.reset(attr.inode);
  ctx.nodes.dataChanged(attr.inode);
  return ctx.calls.setattr(attr.inode, { setMask: SetAttr.LENGTH, length: 0 });
}

/** An open reply; if the kernel never gets it, it will never RELEASE, so we close here. */
function openReply(ctx: MountContext, file: OpenFile, body: Buffer): Reply {
  return { parts: [body], lost: () => void releaseFile(ctx, file) };
}

const open: Handler = async (req, ctx) => {
  const flags = field(req, 'flags');
  const mode = modeOf(flags);
  if (writes(mode)) requireWritable(ctx);
  const inode = req.header.nodeid;
  ctx.fileAttrs.changed(inode); // nothing is kept of a file open here (see FileAttrs)
  // A read-only open gets the chunk locations with the attributes: its first READ needs no
  // master round trip of its own.
  const opened = writes(mode) ? { attr: await ctx.calls.getattr(inode), located: null }
    : await ctx.calls.getattrWithChunks(inode, READ_LOCATED_CHUNKS);
  let attr = opened.attr;
  if (attr.type === InodeType.DIR) throw new FsError('EISDIR', `inode ${inode}`);
  if (attr.type !== InodeType.FILE) throw new FsError('EINVAL', `inode ${inode} is no file`);
  if (writes(mode) && (flags & O_TRUNC) !== 0 && hasData(ctx, attr)) {
    attr = await truncateForOpen(ctx, attr);
  }
  const file = ctx.files.add(inode, mode, attr, opened.located);
  // The first READ, from the start, usually follows at once: its bytes are on their way by then.
  if (!writes(mode) && attr.length > 0) {
    void file.use(async (h) => h.prefetchStart(FIRST_READ_BYTES)).catch(() => undefined);
  }
  // Pages the kernel cached at an earlier open stay if the file has not changed since.
  // Otherwise its cached size may be old too (a stat less than attr_timeout ago): it must ask
  // again before the first read, or it would stop reading at the old end. It need not when
  // the attributes it was last given are these (the LOOKUP just before this OPEN).
  const cached = ctx.nodes.noteCachedVersion(inode, dataVersion(attr));
  const kernelCurrent = ctx.nodes.kernelHas(inode, kernelVersion(kernelAttrOf(ctx, attr)));
  if (cached !== 'same' && !kernelCurrent) ctx.invalidateAttrs(inode);
  // A read-only open has nothing to push at close: the kernel need not send FLUSH.
  const openFlags = (cached === 'same' ? OpenOut.KEEP_CACHE : 0) |
    (writes(mode) ? 0 : OpenOut.NOFLUSH);
  return openReply(ctx, file, openOut(file.fh, openFlags));
};

const create: Handler = async (req, ctx) => {
  requireWritable(ctx);
  const flags = field(req, 'flags');
  const parent = req.header.nodeid;
  const name = nameOf(req, 0, true);
  const exclusive = (flags & O_EXCL) !== 0;
  const modeBits = field(req, 'mode') & PERMISSION_BITS;
  let made: CreatedFile;
  try {
    made = await ctx.calls.create(parent, name, modeBits, ownerOf(req), exclusive,
      writes(modeOf(flags)));
  } catch (err) {
    ctx.dirCache.forget(parent); // EEXIST: its listing here was wrong
    throw err;
  }
  let attr = made.attr;
  if (!exclusive && (flags & O_TRUNC) !== 0 && hasData(ctx, attr)) {
    attr = await truncateForOpen(ctx, attr);
  }
  ctx.dirCache.created(parent, name, made.attr, made.folder);
  const file = ctx.files.add(attr.inode, modeOf(flags), attr, null, made.promised);
  const kattr = kernelAttrOf(ctx, attr);
  const body = createOut(kattr, ctx.settings.timeouts, file.fh, 0);
  const inode = attr.inode;
  const version = dataVersion(attr);
  return {
    parts: [body],
    delivered: () => {
      ctx.nodes.remember(inode);
      ctx.nodes.noteCachedVersion(inode, version);
      ctx.nodes.noteKernelAttr(inode, kernelVersion(kattr));
    },
    lost: () => void releaseFile(ctx, file),
  };
};

const read: Handler = async (req, ctx) => {
  const file = ctx.files.get(field(req, 'fh'));
  const size = field(req, 'size');
  const offset = field(req, 'offset');
  // What other opens here wrote is read back too (their writes end at the master first, and
  // nothing this open fetched before is used).
  if (ctx.files.othersWrote(file)) {
    await ctx.files.endWrites(file.inode, file);
    await file.use(async (h) => h.forgetReads());
  }
  const buffer = ctx.readBuffers.take(size);
  const n = await file.use((h) => h.read(buffer, 0, size, offset));
  const back = (): void => ctx.readBuffers.give(buffer);
  return { parts: n === 0 ? [] : [buffer.subarray(0, n)], delivered: back, lost: back };
};

const write: Handler = async (req, ctx) => {
  requireWritable(ctx);
  const file = ctx.files.get(field(req, 'fh'));
  if (!writes(file.mode)) throw new FsError('EBADF', `fh ${file.fh} is open read-only`);
  const offset = field(req, 'offset');
  const data = req.data;
  const released = req.giveBack;
  await file.use(async (h) => {
    // Handed over: the handle keeps this buffer (the request's own, or a copy of a small one)
    // until every copy acknowledged it; the request's own goes back to the device then.
    await h.write(data, offset, { transfer: true, released });
    file.noteWrite(offset, data.length);
  });
  ctx.files.wroteThrough(file);
  ctx.nodes.dataChanged(file.inode);
  return { parts: [writeOut(data.length)] };
};

const flush: Handler = async (req, ctx) => {
  await ctx.files.get(field(req, 'fh')).endWrites();
  return EMPTY_REPLY;
};

const fsync: Handler = async (req, ctx) => {
  const file = ctx.files.get(field(req, 'fh'));
  // The handle's fsync: blocks on every copy's disk, then the length at the master.
  await file.use((h) => h.fsync());
  return EMPTY_REPLY;
};

const release: Handler = async (req, ctx) => {
  await releaseFile(ctx, ctx.files.get(field(req, 'fh')));
  return EMPTY_REPLY;
};

/** Closes an open file (pushing what it wrote) and forgets it; errors are only logged. */
export async function releaseFile(ctx: MountContext, file: OpenFile): Promise<void> {
  try {
    await file.close();
  } catch (err) {
    ctx.log.warn('writes of a released file failed', {
      inode: file.inode, fh: file.fh, error: (err as Error).message,
    });
  } finally {
    ctx.files.remove(file);
  }
  await dropHidden(ctx, file.inode);
}

export const FILE_HANDLERS = {
  OPEN: open, CREATE: create, READ: read, WRITE: write, FLUSH: flush, FSYNC: fsync,
  RELEASE: release,
} as const;
