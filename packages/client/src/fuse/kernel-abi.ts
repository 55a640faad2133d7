// The kernel FUSE protocol as <linux/fuse.h> defines it (interface 7.38, which every kernel
// since 7.38 also speaks when we answer INIT with that minor): opcodes, flag bits and the struct
// layouts. Every size is asserted against the header's at load. No I/O and no policy here:
// request.ts decodes with these structs, reply.ts encodes, init-negotiation.ts picks the flags.
import { defineStruct } from './struct-codec.ts';

export const FUSE_KERNEL_VERSION = 7;
/** The minor version we speak; a newer kernel falls back to it. */
export const FUSE_KERNEL_MINOR_VERSION = 38;
/** Oldest kernel minor we accept: 7.28 brought max_pages (1 MiB requests). */
export const FUSE_KERNEL_MINOR_MIN = 28;
export const FUSE_ROOT_ID = 1;
/** The kernel refuses reads of /dev/fuse into buffers smaller than this. */
export const FUSE_MIN_READ_BUFFER = 8192;
/** Bit set in the unique id of an INTERRUPT request (its body names the original). */
export const FUSE_INT_REQ_BIT = 1;

export const Opcode = {
  LOOKUP: 1, FORGET: 2, GETATTR: 3, SETATTR: 4, READLINK: 5, SYMLINK: 6, MKNOD: 8, MKDIR: 9,
  UNLINK: 10, RMDIR: 11, RENAME: 12, LINK: 13, OPEN: 14, READ: 15, WRITE: 16, STATFS: 17,
  RELEASE: 18, FSYNC: 20, SETXATTR: 21, GETXATTR: 22, LISTXATTR: 23, REMOVEXATTR: 24, FLUSH: 25,
  INIT: 26, OPENDIR: 27, READDIR: 28, RELEASEDIR: 29, FSYNCDIR: 30, GETLK: 31, SETLK: 32,
  SETLKW: 33, ACCESS: 34, CREATE: 35, INTERRUPT: 36, BMAP: 37, DESTROY: 38, IOCTL: 39, POLL: 40,
  NOTIFY_REPLY: 41, BATCH_FORGET: 42, FALLOCATE: 43, READDIRPLUS: 44, RENAME2: 45, LSEEK: 46,
  COPY_FILE_RANGE: 47, SETUPMAPPING: 48, REMOVEMAPPING: 49, SYNCFS: 50, TMPFILE: 51, STATX: 52,
} as const;

export type OpcodeName = keyof typeof Opcode;

const OPCODE_NAMES = new Map<number, OpcodeName>(
  Object.entries(Opcode).map(([name, code]) => [code, name as OpcodeName]),
);

/** The opcode's name for logs, or `opcode N` for one this table does not know. */
export function opcodeName(opcode: number): string {
  return OPCODE_NAMES.get(opcode) ?? `opcode ${opcode}`;
}

/** fuse_init_in.flags / fuse_init_out.flags bits. */
export const InitFlag = {
  ASYNC_READ: 1 << 0, POSIX_LOCKS: 1 << 1, FILE_OPS: 1 << 2, ATOMIC_O_TRUNC: 1 << 3,
  EXPORT_SUPPORT: 1 << 4, BIG_WRITES: 1 << 5, DONT_MASK: 1 << 6, SPLICE_WRITE: 1 << 7,
  SPLICE_MOVE: 1 << 8, SPLICE_READ: 1 << 9, FLOCK_LOCKS: 1 << 10, HAS_IOCTL_DIR: 1 << 11,
  AUTO_INVAL_DATA: 1 << 12, DO_READDIRPLUS: 1 << 13, READDIRPLUS_AUTO: 1 << 14,
  ASYNC_DIO: 1 << 15, WRITEBACK_CACHE: 1 << 16, NO_OPEN_SUPPORT: 1 << 17,
  PARALLEL_DIROPS: 1 << 18, HANDLE_KILLPRIV: 1 << 19, POSIX_ACL: 1 << 20, ABORT_ERROR: 1 << 21,
  MAX_PAGES: 1 << 22, CACHE_SYMLINKS: 1 << 23, NO_OPENDIR_SUPPORT: 1 << 24,
  EXPLICIT_INVAL_DATA: 1 << 25, MAP_ALIGNMENT: 1 << 26, SUBMOUNTS: 1 << 27,
  HANDLE_KILLPRIV_V2: 1 << 28, SETXATTR_EXT: 1 << 29, INIT_EXT: 1 << 30,
} as const;

/** fuse_setattr_in.valid bits. */
export const SetattrValid = {
  MODE: 1 << 0, UID: 1 << 1, GID: 1 << 2, SIZE: 1 << 3, ATIME: 1 << 4, MTIME: 1 << 5,
  FH: 1 << 6, ATIME_NOW: 1 << 7, MTIME_NOW: 1 << 8, LOCKOWNER: 1 << 9, CTIME: 1 << 10,
  KILL_SUIDGID: 1 << 11,
} as const;

/** fuse_open_out.open_flags bits. */
export const OpenOut = {
  DIRECT_IO: 1 << 0, KEEP_CACHE: 1 << 1, NONSEEKABLE: 1 << 2, CACHE_DIR: 1 << 3,
  /** 7.35: no FLUSH at close (older kernels ignore the bit and send it). */
  NOFLUSH: 1 << 5,
} as const;

export const GETATTR_FH = 1 << 0;
export const FSYNC_FDATASYNC = 1 << 0;
/** renameat2 flags (RENAME2 only). */
export const RenameFlag = { NOREPLACE: 1 << 0, EXCHANGE: 1 << 1, WHITEOUT: 1 << 2 } as const;

/** Notifications the file system writes unasked (fuse_out_header.error holds the code). */
export const NotifyCode = { INVAL_INODE: 2, INVAL_ENTRY: 3, DELETE: 6 } as const;

/** File type bits of st_mode and the d_type values of directory entries. */
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const DirentType = { DIR: 4, REG: 8, LNK: 10 } as const;

export const IN_HEADER = defineStruct('fuse_in_header', 40, [
  ['len', 'u32'], ['opcode', 'u32'], ['unique', 'u64'], ['nodeid', 'u64'], ['uid', 'u32'],
  ['gid', 'u32'], ['pid', 'u32'], ['totalExtlen', 'u16'], ['padding', 'u16'],
]);

export const OUT_HEADER = defineStruct('fuse_out_header', 16, [
  ['len', 'u32'], ['error', 'i32'], ['unique', 'u64'],
]);

export const ATTR = defineStruct('fuse_attr', 88, [
  ['ino', 'u64'], ['size', 'u64'], ['blocks', 'u64'], ['atime', 'u64'], ['mtime', 'u64'],
  ['ctime', 'u64'], ['atimensec', 'u32'], ['mtimensec', 'u32'], ['ctimensec', 'u32'],
  ['mode', 'u32'], ['nlink', 'u32'], ['uid', 'u32'], ['gid', 'u32'], ['rdev', 'u32'],
  ['blksize', 'u32'], ['flags', 'u32'],
]);

/** fuse_entry_out without its trailing fuse_attr. */
export const ENTRY_OUT_HEAD = defineStruct('fuse_entry_out head', 40, [
  ['nodeid', 'u64'], ['generation', 'u64'], ['entryValid', 'u64'], ['attrValid', 'u64'],
  ['entryValidNsec', 'u32'], ['attrValidNsec', 'u32'],
]);
export const ENTRY_OUT_BYTES = ENTRY_OUT_HEAD.sizeBytes + ATTR.sizeBytes;

/** fuse_attr_out without its trailing fuse_attr. */
export const ATTR_OUT_HEAD = defineStruct('fuse_attr_out head', 16, [
  ['attrValid', 'u64'], ['attrValidNsec', 'u32'], ['dummy', 'u32'],
]);
export const ATTR_OUT_BYTES = ATTR_OUT_HEAD.sizeBytes + ATTR.sizeBytes;

export const FORGET_IN = defineStruct('fuse_forget_in', 8, [['nlookup', 'u64']]);
export const FORGET_ONE = defineStruct('fuse_forget_one', 16, [
  ['nodeid', 'u64'], ['nlookup', 'u64'],
]);
export const BATCH_FORGET_IN = defineStruct('fuse_batch_forget_in', 8, [
  ['count', 'u32'], ['dummy', 'u32'],
]);
export const GETATTR_IN = defineStruct('fuse_getattr_in', 16, [
  ['getattrFlags', 'u32'], ['dummy', 'u32'], ['fh', 'u64'],
]);
export const SETATTR_IN = defineStruct('fuse_setattr_in', 88, [
  ['valid', 'u32'], ['padding', 'u32'], ['fh', 'u64'], ['size', 'u64'], ['lockOwner', 'u64'],
  ['atime', 'u64'], ['mtime', 'u64'], ['ctime', 'u64'], ['atimensec', 'u32'],
  ['mtimensec', 'u32'], ['ctimensec', 'u32'], ['mode', 'u32'], ['unused4', 'u32'],
  ['uid', 'u32'], ['gid', 'u32'], ['unused5', 'u32'],
]);
export const MKNOD_IN = defineStruct('fuse_mknod_in', 16, [
  ['mode', 'u32'], ['rdev', 'u32'], ['umask', 'u32'], ['padding', 'u32'],
]);
export const MKDIR_IN = defineStruct('fuse_mkdir_in', 8, [['mode', 'u32'], ['umask', 'u32']]);
export const RENAME_IN = defineStruct('fuse_rename_in', 8, [['newdir', 'u64']]);
export const RENAME2_IN = defineStruct('fuse_rename2_in', 16, [
  ['newdir', 'u64'], ['flags', 'u32'], ['padding', 'u32'],
]);
export const LINK_IN = defineStruct('fuse_link_in', 8, [['oldnodeid', 'u64']]);
export const OPEN_IN = defineStruct('fuse_open_in', 8, [['flags', 'u32'], ['openFlags', 'u32']]);
export const CREATE_IN = defineStruct('fuse_create_in', 16, [
  ['flags', 'u32'], ['mode', 'u32'], ['umask', 'u32'], ['openFlags', 'u32'],
]);
export const OPEN_OUT = defineStruct('fuse_open_out', 16, [
  ['fh', 'u64'], ['openFlags', 'u32'], ['padding', 'u32'],
]);
export const RELEASE_IN = defineStruct('fuse_release_in', 24, [
  ['fh', 'u64'], ['flags', 'u32'], ['releaseFlags', 'u32'], ['lockOwner', 'u64'],
]);
export const FLUSH_IN = defineStruct('fuse_flush_in', 24, [
  ['fh', 'u64'], ['unused', 'u32'], ['padding', 'u32'], ['lockOwner', 'u64'],
]);
export const READ_IN = defineStruct('fuse_read_in', 40, [
  ['fh', 'u64'], ['offset', 'u64'], ['size', 'u32'], ['readFlags', 'u32'], ['lockOwner', 'u64'],
  ['flags', 'u32'], ['padding', 'u32'],
]);
export const WRITE_IN = defineStruct('fuse_write_in', 40, [
  ['fh', 'u64'], ['offset', 'u64'], ['size', 'u32'], ['writeFlags', 'u32'], ['lockOwner', 'u64'],
  ['flags', 'u32'], ['padding', 'u32'],
]);
export const WRITE_OUT = defineStruct('fuse_write_out', 8, [['size', 'u32'], ['padding', 'u32']]);
export const STATFS_OUT = defineStruct('fuse_statfs_out', 80, [
  ['blocks', 'u64'], ['bfree', 'u64'], ['bavail', 'u64'], ['files', 'u64'], ['ffree', 'u64'],
  ['bsize', 'u32'], ['namelen', 'u32'], ['frsize', 'u32'], ['padding', 'u32'],
  ['spare0', 'u32'], ['spare1', 'u32'], ['spare2', 'u32'], ['spare3', 'u32'], ['spare4', 'u32'],
  ['spare5', 'u32'],
]);
export const FSYNC_IN = defineStruct('fuse_fsync_in', 16, [
  ['fh', 'u64'], ['fsyncFlags', 'u32'], ['padding', 'u32'],
]);
export const GETXATTR_IN = defineStruct('fuse_getxattr_in', 8, [
  ['size', 'u32'], ['padding', 'u32'],
]);
export const GETXATTR_OUT = defineStruct('fuse_getxattr_out', 8, [
  ['size', 'u32'], ['padding', 'u32'],
]);
export const ACCESS_IN = defineStruct('fuse_access_in', 8, [['mask', 'u32'], ['padding', 'u32']]);
/** The first 16 bytes of fuse_init_in, which every kernel sends. */
export const INIT_IN = defineStruct('fuse_init_in (7.6)', 16, [
  ['major', 'u32'], ['minor', 'u32'], ['maxReadahead', 'u32'], ['flags', 'u32'],
]);
export const INIT_OUT = defineStruct('fuse_init_out', 64, [
  ['major', 'u32'], ['minor', 'u32'], ['maxReadahead', 'u32'], ['flags', 'u32'],
  ['maxBackground', 'u16'], ['congestionThreshold', 'u16'], ['maxWrite', 'u32'],
  ['timeGran', 'u32'], ['maxPages', 'u16'], ['mapAlignment', 'u16'], ['flags2', 'u32'],
  ['unused0', 'u32'], ['unused1', 'u32'], ['unused2', 'u32'], ['unused3', 'u32'],
  ['unused4', 'u32'], ['unused5', 'u32'], ['unused6', 'u32'],
]);
export const INTERRUPT_IN = defineStruct('fuse_interrupt_in', 8, [['unique', 'u64']]);
/** fuse_dirent without its name; the record is padded to 8 bytes. */
export const DIRENT_HEAD = defineStruct('fuse_dirent head', 24, [
  ['ino', 'u64'], ['off', 'u64'], ['namelen', 'u32'], ['type', 'u32'],
]);
export const NOTIFY_INVAL_INODE_OUT = defineStruct('fuse_notify_inval_inode_out', 24, [
  ['ino', 'u64'], ['off', 'i64'], ['len', 'i64'],
]);

/** Bytes of a directory record: `head` (dirent or direntplus) + name, padded to 8. */
export function direntRecordBytes(headBytes: number, nameBytes: number): number {
  return (headBytes + nameBytes + 7) & ~7;
}
