// FUSE operations on open directories: OPENDIR, READDIR, READDIRPLUS, RELEASEDIR, FSYNCDIR.
// A listing is read from the master in pages (dir-handle.ts) and packed into the size the
// kernel asks for. READDIRPLUS also hands over each entry's attributes, which counts one
// lookup per entry (except "." and "..", which the kernel does not take).
import type { ListingTicket } from './dir-cache.ts';
import type { DirSource } from './dir-handle.ts';
import { ENTRY_OUT_BYTES, DIRENT_HEAD, direntRecordBytes } from './kernel-abi.ts';
import { direntType } from './kernel-attr.ts';
import {
  EMPTY_REPLY, field, kernelAttrOf, type Handler, type MountContext,
} from './mount-context.ts';
import { DirentPacker, openOut } from './reply.ts';
import type { FuseRequest } from './request.ts';

function sourceOf(ctx: MountContext): DirSource {
  return {
    page: (inode, cursor, entriesMax) => ctx.calls.readdir(inode, cursor, entriesMax),
    parentOf: async (inode) => (await ctx.calls.lookup(inode, '..')).inode,
    // A folder listed whole (an `ls`) answers the LOOKUPs of absent names after it.
    ticketFor: (inode) => ctx.dirCache.readdirTicket(inode),
    wholeListing: (ticket, got) => ctx.dirCache.listed(ticket as ListingTicket, got),
  };
}

const opendir: Handler = async (req, ctx) => {
  const handle = ctx.dirs.open(req.header.nodeid);
  return {
    parts: [openOut(handle.fh, 0)],
    lost: () => ctx.dirs.release(handle.fh),
  };
};

async function list(req: FuseRequest, ctx: MountContext, plus: boolean) {
  const handle = ctx.dirs.get(field(req, 'fh'));
  const offset = field(req, 'offset');
  const size = field(req, 'size');
  // Records are at least this big, so no more entries than this can fit.
  const smallest = direntRecordBytes((plus ? ENTRY_OUT_BYTES : 0) + DIRENT_HEAD.sizeBytes, 1);
  const wanted = Math.max(1, Math.floor(size / smallest));
  const entries = await handle.entriesFrom(offset, wanted, sourceOf(ctx));
  const packer = new DirentPacker(size, plus, ctx.settings.timeouts);
  const given: number[] = [];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const attr = plus && e.attr !== null ? kernelAttrOf(ctx, e.attr) : null;
    const type = direntType(e.type);
    if (!packer.add({ name: e.name, ino: e.ino, type, nextOffset: offset + i + 1, attr })) break;
    if (attr !== null) given.push(e.ino);
  }
  return {
    parts: [packer.result()],
    delivered: plus ? () => { for (const ino of given) ctx.nodes.remember(ino); } : undefined,
  };
}

const readdir: Handler = (req, ctx) => list(req, ctx, false);
const readdirplus: Handler = (req, ctx) => list(req, ctx, true);

const releasedir: Handler = async (req, ctx) => {
  ctx.dirs.release(field(req, 'fh'));
  return EMPTY_REPLY;
};

// Every change is on the master's disk before it answers: nothing is left to sync.
const fsyncdir: Handler = async () => EMPTY_REPLY;

export const DIR_HANDLERS = {
  OPENDIR: opendir, READDIR: readdir, READDIRPLUS: readdirplus, RELEASEDIR: releasedir,
  FSYNCDIR: fsyncdir,
} as const;
