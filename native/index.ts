// Loads the optional N-API addon (system calls Node lacks). Everything in antlerfs works without
// it: callers check `native.available` and fall back to slower pure-Node paths.
import { createRequire } from 'node:module';

export interface NativeAddon {
  /** posix_fadvise(fd, offset, len, advice); advice per <fcntl.h>. */
  fadvise(fd: number, offset: number, length: number, advice: number): number;
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
