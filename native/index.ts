// Loads the optional N-API addon (system calls Node lacks). Everything in antlerfs works without
// it: callers check `native.available` and fall back to slower pure-Node paths.
import { createRequire } from 'node:module';

export interface NativeAddon {
  /** posix_fadvise(fd, offset, len, advice); advice per <fcntl.h>. */
  fadvise(fd: number, offset: number, length: number, advice: number): number;
  /**
   * A connected AF_UNIX stream socket pair [keep, give], both close-on-exec. Absent from
   * builds older than it: callers treat that as unavailable.
   */
  socketpair?(): [number, number];
  /**
   * Blocks until a message comes on socket `fd`; returns the descriptor it carries
   * (SCM_RIGHTS, close-on-exec) or -errno (-ECONNRESET: the peer closed without sending one).
   */
  recvFd?(fd: number): number;
}

const require = createRequire(import.meta.url);

function load(): NativeAddon | null {
  try {
    return require('./build/Release/antler_native.node') as NativeAddon;
  } catch {
    return null;
  }
}

export const addon: NativeAddon | null = load();
export const available = addon !== null;
export const FADV_SEQUENTIAL = 2;
export const FADV_DONTNEED = 4;
