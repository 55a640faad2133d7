// Converts the master's attributes (protocol ATTR: type apart from the permission bits, times in
// ms) into the kernel's fuse_attr (st_mode with the type bits, seconds + nanoseconds, 512-byte
// blocks), and kernel times back into ms. Pure functions.
import {
  assertNever, InodeType, READ_SIZE_MAX_BYTES, type InodeTypeCode,
} from '@antlerfs/protocol';
import type { Attr } from '../index.ts';
import { DirentType, S_IFDIR, S_IFLNK, S_IFREG } from './kernel-abi.ts';
import type { StructValue } from './struct-codec.ts';

/**
 * st_blksize: what programs size their buffers by (cp, dd without bs, rsync): the largest
 * request the kernel sends us (1 MiB). At one checksum block (64 KiB) cp wrote 128 KiB at a
 * time, eight requests and handoffs where one does: 364-377 MB/s against 600 through the mount.
 * glibc's stdio only ever takes a smaller st_blksize than its own buffer, so it is not grown.
 */
export const ST_BLKSIZE_BYTES = READ_SIZE_MAX_BYTES;
const PERMISSION_BITS = 0o7777;

export type KernelAttr = StructValue<
  'ino' | 'size' | 'blocks' | 'atime' | 'mtime' | 'ctime' | 'atimensec' | 'mtimensec' |
  'ctimensec' | 'mode' | 'nlink' | 'uid' | 'gid' | 'rdev' | 'blksize' | 'flags'
>;

export function typeBits(type: number): number {
  const t = type as InodeTypeCode;
  switch (t) {
    case InodeType.FILE: return S_IFREG;
    case InodeType.DIR: return S_IFDIR;
    case InodeType.SYMLINK: return S_IFLNK;
    default: return assertNever(t, 'inode type');
  }
}

export function direntType(type: number): number {
  const t = type as InodeTypeCode;
  switch (t) {
    case InodeType.FILE: return DirentType.REG;
    case InodeType.DIR: return DirentType.DIR;
    case InodeType.SYMLINK: return DirentType.LNK;
    default: return assertNever(t, 'inode type');
  }
}

/** fuse_attr of `attr`; `lengthBytes` overrides the length (writes not yet at the master). */
export function kernelAttr(attr: Attr, lengthBytes = attr.length): KernelAttr {
  const a = splitMs(attr.atimeMs);
  const m = splitMs(attr.mtimeMs);
  const c = splitMs(attr.ctimeMs);
  return {
    ino: attr.inode, size: lengthBytes, blocks: Math.ceil(lengthBytes / 512),
    atime: a.seconds, mtime: m.seconds, ctime: c.seconds,
    atimensec: a.nanoseconds, mtimensec: m.nanoseconds, ctimensec: c.nanoseconds,
    mode: typeBits(attr.type) | (attr.mode & PERMISSION_BITS), nlink: attr.nlink,
    uid: attr.uid, gid: attr.gid, rdev: 0, blksize: ST_BLKSIZE_BYTES, flags: 0,
  };
}

/** A duration or time in ms as whole seconds and nanoseconds (what the kernel structs hold). */
export function splitMs(ms: number): { seconds: number; nanoseconds: number } {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanoseconds: Math.round((ms - seconds * 1000) * 1_000_000) };
}

/** A kernel time (seconds + nanoseconds) in whole ms, as the master keeps times. */
export function toMs(seconds: number, nanoseconds: number): number {
  return seconds * 1000 + Math.floor(nanoseconds / 1_000_000);
}
