// The errno a FUSE reply carries for each status of the cluster. Looked up by name in
// os.constants.errno because numbers differ between platforms (ENOTEMPTY is 39 on Linux and 66
// on macOS). The table is a Record over every StatusName, so a new status that is not mapped here
// fails to compile. Anything that is not an FsError is a bug in our code: EIO.
import os from 'node:os';
import { assert, FsError, type StatusName } from '@antlerfs/protocol';

export type ErrnoName = keyof typeof os.constants.errno;

/** What programs see for each status; statuses that only exist in a DFS say what they mean. */
export const ERRNO_BY_STATUS: Record<Exclude<StatusName, 'OK'>, ErrnoName> = {
  EPERM: 'EPERM',
  ENOENT: 'ENOENT',
  EIO: 'EIO',
  EACCES: 'EACCES',
  EEXIST: 'EEXIST',
  ENOTDIR: 'ENOTDIR',
  EISDIR: 'EISDIR',
  EINVAL: 'EINVAL',
  ENOSPC: 'ENOSPC',
  ENOTEMPTY: 'ENOTEMPTY',
  ENAMETOOLONG: 'ENAMETOOLONG',
  EFBIG: 'EFBIG',
  EAGAIN: 'EAGAIN',
  ENOTSUP: 'ENOTSUP',
  ETIMEDOUT: 'ETIMEDOUT',
  ENOTCONN: 'ENOTCONN',
  ELOOP: 'ELOOP',
  EROFS: 'EROFS',
  ENOSYS: 'ENOSYS',
  ERANGE: 'ERANGE',
  ENODATA: 'ENODATA',
  EBADF: 'EBADF',
  EPROTO: 'EPROTO',
  // No valid copy of a chunk, or the copies disagree: the data cannot be read now.
  CHUNK_LOST: 'EIO',
  WRONG_VERSION: 'EIO',
  CHECKSUM_MISMATCH: 'EIO',
  NO_SUCH_CHUNK: 'EIO',
  // Nowhere to put new data.
  NO_CHUNKSERVERS: 'ENOSPC',
  // Another client holds the chunk's write lease: try again.
  CHUNK_BUSY: 'EAGAIN',
  // The master we reached is a follower; the client moves on, the caller may retry.
  NOT_ACTIVE_MASTER: 'ENOTCONN',
};

/** The positive errno number of `name` on this platform. */
export function errnoNumber(name: ErrnoName): number {
  const n = os.constants.errno[name];
  assert(Number.isInteger(n) && n > 0, `errno ${name} exists on this platform`);
  return n;
}

const NUMBERS = new Map<string, number>(
  Object.entries(ERRNO_BY_STATUS).map(([status, name]) => [status, errnoNumber(name)]),
);

/** The positive errno number for a status name (never OK). */
export function errnoOfStatus(status: Exclude<StatusName, 'OK'>): number {
  const n = NUMBERS.get(status);
  if (n === undefined) assert(false, `status ${status} has an errno`);
  return n;
}

/** What a failed operation returns to the kernel, and whether it was a bug of ours. */
export function errnoOf(err: unknown): { errno: number; bug: boolean } {
  if (err instanceof FsError && err.code !== 'OK') {
    return { errno: errnoOfStatus(err.code), bug: false };
  }
  return { errno: errnoNumber('EIO'), bug: true };
}

export const ERRNO = {
  ENOENT: errnoNumber('ENOENT'),
  EINVAL: errnoNumber('EINVAL'),
  ENOSYS: errnoNumber('ENOSYS'),
  EIO: errnoNumber('EIO'),
  EINTR: errnoNumber('EINTR'),
  EAGAIN: errnoNumber('EAGAIN'),
  EACCES: errnoNumber('EACCES'),
  EPERM: errnoNumber('EPERM'),
  EEXIST: errnoNumber('EEXIST'),
  EBADF: errnoNumber('EBADF'),
  ENODATA: errnoNumber('ENODATA'),
  ENOTSUP: errnoNumber('ENOTSUP'),
  EROFS: errnoNumber('EROFS'),
  ERANGE: errnoNumber('ERANGE'),
  EPROTO: errnoNumber('EPROTO'),
  ENODEV: errnoNumber('ENODEV'),
} as const;
