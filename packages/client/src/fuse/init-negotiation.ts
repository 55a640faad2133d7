// FUSE_INIT: what this file system asks of the kernel. Pure: the kernel's offer in, our answer
// out, so the choice is unit-tested without a mount. Why each flag:
// - ASYNC_READ, MAX_PAGES + max_write 1 MiB: large and concurrent reads and writes (one 1 MiB
//   request is one chunkserver read, and one write fills 16 blocks).
// - ATOMIC_O_TRUNC: open(O_TRUNC) arrives as a flag of OPEN, not as a separate SETATTR.
// - EXPORT_SUPPORT: the master answers lookups of "." and ".."; inode numbers are never reused.
// - DO_READDIRPLUS + READDIRPLUS_AUTO: `ls -l` gets names and attributes in one master request.
// - PARALLEL_DIROPS: lookups and listings of one directory run at once.
// - AUTO_INVAL_DATA: cached pages of a file go when its size or mtime changes (other clients).
// - CACHE_SYMLINKS: symlink targets never change (a new target is a new inode).
// Not asked: WRITEBACK_CACHE (the kernel would then trust its own size and mtime of a cached
// file and never see another client's writes: close-to-open between mounts would break),
// POSIX_LOCKS/FLOCK_LOCKS (locks stay local to this machine), HANDLE_KILLPRIV (the kernel clears
// set-id bits itself), DONT_MASK (the kernel applies the umask).
import {
  FUSE_KERNEL_MINOR_MIN, FUSE_KERNEL_MINOR_VERSION, FUSE_KERNEL_VERSION, InitFlag,
} from './kernel-abi.ts';
import type { InitOutValue } from './reply.ts';

/** Largest request payload (write data, read reply): 256 pages, the kernel's default limit. */
export const MAX_WRITE_BYTES_MAX = 1024 * 1024;
const PAGE_BYTES = 4096;
/** Background requests (readahead, releases) the kernel keeps in flight. */
export const MAX_BACKGROUND = 64;
/** Above this many background requests the kernel slows its writers down. */
export const CONGESTION_THRESHOLD = 48;
/** Timestamps are kept in ms: the kernel rounds its own to that. */
export const TIME_GRANULARITY_NS = 1_000_000;

export const WANTED_FLAGS = InitFlag.ASYNC_READ | InitFlag.ATOMIC_O_TRUNC |
  InitFlag.EXPORT_SUPPORT | InitFlag.BIG_WRITES | InitFlag.DO_READDIRPLUS |
  InitFlag.READDIRPLUS_AUTO | InitFlag.PARALLEL_DIROPS | InitFlag.MAX_PAGES |
  InitFlag.AUTO_INVAL_DATA | InitFlag.CACHE_SYMLINKS | InitFlag.ASYNC_DIO;

export interface KernelOffer {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: number;
}

export interface InitWishes {
  /** Bytes of write data per request we ask for (the kernel's page limit may lower it). */
  maxWriteBytes: number;
}

export type InitAnswer =
  | { kind: 'accept'; reply: InitOutValue; minor: number; flags: number; maxWriteBytes: number }
  /** A kernel with a newer major: answer with our major only; it sends INIT again. */
  | { kind: 'major-only'; reply: InitOutValue }
  | { kind: 'refuse'; reason: string };

export function negotiateInit(offer: KernelOffer, wishes: InitWishes): InitAnswer {
  if (offer.major > FUSE_KERNEL_VERSION) {
    return { kind: 'major-only', reply: { major: FUSE_KERNEL_VERSION } };
  }
  if (offer.major < FUSE_KERNEL_VERSION || offer.minor < FUSE_KERNEL_MINOR_MIN) {
    return {
      kind: 'refuse',
      reason: `kernel FUSE ${offer.major}.${offer.minor} is older than ` +
        `${FUSE_KERNEL_VERSION}.${FUSE_KERNEL_MINOR_MIN}`,
    };
  }
  const minor = Math.min(offer.minor, FUSE_KERNEL_MINOR_VERSION);
  // Only bits the kernel offered may be answered.
  const flags = (WANTED_FLAGS & offer.flags) >>> 0;
  const pageAligned = Math.floor(wishes.maxWriteBytes / PAGE_BYTES) * PAGE_BYTES;
  const maxWriteBytes = Math.max(PAGE_BYTES, Math.min(pageAligned, MAX_WRITE_BYTES_MAX));
  const maxPages = (flags & InitFlag.MAX_PAGES) !== 0 ? maxWriteBytes / PAGE_BYTES : 0;
  return {
    kind: 'accept', minor, flags, maxWriteBytes,
    reply: {
      major: FUSE_KERNEL_VERSION, minor, maxReadahead: offer.maxReadahead, flags,
      maxBackground: MAX_BACKGROUND, congestionThreshold: CONGESTION_THRESHOLD,
      maxWrite: maxWriteBytes, timeGran: TIME_GRANULARITY_NS, maxPages,
    },
  };
}

/** Bytes a /dev/fuse read buffer needs: the largest WRITE plus its headers, page-rounded. */
export function readBufferBytes(maxWriteBytes: number): number {
  return maxWriteBytes + PAGE_BYTES;
}
