// Loads the optional N-API addon (system calls Node lacks). Everything in antlerfs works without
// it: callers check `native.available` and fall back to slower pure-Node paths, or call the
// wrappers here, which fall back themselves. ANTLER_NO_NATIVE=1 skips loading (tests compare).
import { createRequire } from 'node:module';
import os from 'node:os';
import util from 'node:util';

export interface NativeAddon {
  /** posix_fadvise(fd, offset, len, advice); advice per <fcntl.h>. */
  fadvise(fd: number, offset: number, length: number, advice: number): number;
  /**
   * posix_fadvise in the libuv thread pool: a promise of its result (0 or an errno). Absent
   * from builds older than it.
   */
  fadviseAsync?(fd: number, offset: number, length: number, advice: number): Promise<number>;
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
  /**
   * preadv2(RWF_NOWAIT) into buffer[offset..offset+length) at file `position`: the bytes the
   * page cache held (fewer than asked when only part is cached, 0 at end of file), -EAGAIN when
   * it would wait for the disk, or -errno. Absent from builds older than it.
   */
  preadNoWait?(
    fd: number, buffer: Uint8Array, offset: number, length: number, position: number,
  ): number;
  /** read(2) into buffer[offset..offset+length): bytes read or -errno. Absent from older builds. */
  readNoThrow?(fd: number, buffer: Uint8Array, offset: number, length: number): number;
  /** Sets or clears O_NONBLOCK: 0 or -errno. Absent from older builds. */
  setNonBlocking?(fd: number, on: boolean): number;
  /**
   * Watches `fd` on the event loop: `callback(0)` on the main thread each turn while it is
   * readable; `callback(status < 0)` once when the poll fails (POLLERR), which ends the watch
   * (unwatch() is still to be called). Absent from older builds.
   */
  watchReadable?(fd: number, callback: (status: number) => void): object;
  /** Ends a watch; true the first time. */
  unwatch?(handle: object): boolean;
}

const require = createRequire(import.meta.url);

function load(): NativeAddon | null {
  if (process.env['ANTLER_NO_NATIVE'] === '1') return null;
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

const fadviseAsyncNative = addon?.fadviseAsync?.bind(addon) ?? null;

/** Whether dropCached can drop anything (false: it does nothing). */
export const dropCachedAvailable = fadviseAsyncNative !== null;

/**
 * Asks the kernel, from the thread pool, to drop the page cache of bytes [offset, offset +
 * length) of `fd` (length 0: to the end of the file): dirty pages start their writeback and
 * stay, clean ones are freed. Advice only, so it never throws: the errno (0 when taken), and
 * 0 without the addon, which leaves the cache alone.
 */
export async function dropCached(fd: number, offset: number, length: number): Promise<number> {
  if (fadviseAsyncNative === null) return 0;
  return fadviseAsyncNative(fd, offset, length, FADV_DONTNEED);
}

/** What preadNoWait gives when the bytes are not all in the page cache (or no addon). */
export const PREAD_WOULD_BLOCK = -1;
const EAGAIN = os.constants.errno.EAGAIN;

const preadNative = addon?.preadNoWait?.bind(addon) ?? null;

/** Whether preadNoWait can ever return bytes (false: it always says PREAD_WOULD_BLOCK). */
export const preadNoWaitAvailable = preadNative !== null;

/**
 * Reads from the page cache only, on the calling thread, never waiting for the disk: the bytes
 * read (fewer than `length` when only part is cached or at end of file) or PREAD_WOULD_BLOCK,
 * always without the addon. Any other failure throws an Error with `code` and `errno` (as
 * node:fs errors), so callers map it like an fs error.
 */
export function preadNoWait(
  fd: number, buffer: Uint8Array, offset: number, length: number, position: number,
): number {
  if (preadNative === null) return PREAD_WOULD_BLOCK;
  const n = preadNative(fd, buffer, offset, length, position);
  if (n >= 0) return n;
  if (n === -EAGAIN) return PREAD_WOULD_BLOCK;
  throw systemError(-n, 'preadv2');
}

/** Reads a device on the event loop, as the addon allows: see readableWatcher(). */
export interface ReadableWatcher {
  /** Starts watching; `onReadable(0)` while readable, `onReadable(status < 0)` on a failure. */
  watch(onReadable: (status: number) => void): void;
  /** Stops watching (no more calls); safe to call twice. */
  unwatch(): void;
  /** read(2): bytes read, or -errno (-EAGAIN: nothing to read now). */
  read(buffer: Uint8Array, offset: number, length: number): number;
}

/**
 * A non-blocking reader of device `fd` driven by the event loop (uv_poll), or null without
 * the addon (callers then read in threads of their own). Sets O_NONBLOCK on the descriptor.
 */
export function readableWatcher(fd: number): ReadableWatcher | null {
  const a = addon;
  if (a?.readNoThrow === undefined || a.setNonBlocking === undefined ||
    a.watchReadable === undefined || a.unwatch === undefined) return null;
  const rc = a.setNonBlocking(fd, true);
  if (rc !== 0) throw systemError(-rc, 'fcntl');
  let handle: object | null = null;
  return {
    watch(onReadable) {
      if (handle !== null) throw new Error('readableWatcher: already watching');
      handle = a.watchReadable!(fd, onReadable);
    },
    unwatch() {
      if (handle === null) return;
      a.unwatch!(handle);
      handle = null;
    },
    read: (buffer, offset, length) => a.readNoThrow!(fd, buffer, offset, length),
  };
}

function systemError(errno: number, syscall: string): NodeJS.ErrnoException {
  const code = util.getSystemErrorName(-errno);
  const err: NodeJS.ErrnoException = new Error(`${code}: ${syscall} failed (errno ${errno})`);
  err.code = code;
  err.errno = -errno;
  err.syscall = syscall;
  return err;
}
