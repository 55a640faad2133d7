// Folder path -> inode, remembered for a short time so that a change by path (create, unlink,
// rename, ...) needs no LOOKUP_PATH of its folder first. Bounded (least recently used goes
// first) and short-lived, like the kernel's entry cache under a FUSE mount: another client's
// rename of a folder is seen here only when the entry expires, or at once when an operation on
// the remembered inode fails (the caller drops the entry and looks the path up again). This
// client's own renames and removals drop every entry at or below the path they touch.
import { assert } from '@antlerfs/protocol';

/** Folders remembered at once by default. */
export const FOLDER_CACHE_ENTRIES_MAX = 4096;
/** How long a folder's inode is trusted by default: the FUSE mount's entry timeout. */
export const FOLDER_CACHE_TTL_MS = 1000;

export interface FolderCacheOptions {
  /** Entries kept at most; the least recently used goes first. */
  entriesMax: number;
  /** How long an entry is trusted after the master gave it (0: the cache is off). */
  ttlMs: number;
  /** Monotonic ms (tests inject their own). */
  nowMs?: () => number;
}

interface Entry {
  inode: number;
  untilMs: number;
}

export class FolderCache {
  private readonly entriesMax: number;
  private readonly ttlMs: number;
  private readonly nowMs: () => number;
  /** Normalised folder path -> entry; Map order is use order (oldest first). */
  private readonly entries = new Map<string, Entry>();
  /** Lookups answered here, and entries dropped because they were found wrong. */
  hits = 0;
  stale = 0;

  constructor(opts: FolderCacheOptions) {
    assert(Number.isSafeInteger(opts.entriesMax) && opts.entriesMax >= 1,
      `folder cache entriesMax ${opts.entriesMax} >= 1`);
    assert(Number.isSafeInteger(opts.ttlMs) && opts.ttlMs >= 0, `folder cache ttlMs ${opts.ttlMs}`);
    this.entriesMax = opts.entriesMax;
    this.ttlMs = opts.ttlMs;
    this.nowMs = opts.nowMs ?? (() => performance.now());
  }

  get size(): number {
    return this.entries.size;
  }

  get enabled(): boolean {
    return this.ttlMs > 0;
  }

  /** The inode of folder `path` if still trusted, else null. */
  get(path: string): number | null {
    const e = this.entries.get(path);
    if (e === undefined) return null;
    this.entries.delete(path);
    if (this.nowMs() >= e.untilMs) return null;
    this.entries.set(path, e); // most recently used last
    this.hits++;
    return e.inode;
  }

  /** The master said just now that `path` is the folder `inode`. */
  put(path: string, inode: number): void {
    if (this.ttlMs === 0) return;
    assert(path.startsWith('/'), `folder path ${path} is normalised`);
    assert(Number.isInteger(inode) && inode > 0, `folder inode ${inode}`);
    this.entries.delete(path);
    this.entries.set(path, { inode, untilMs: this.nowMs() + this.ttlMs });
    if (this.entries.size > this.entriesMax) {
      const oldest = this.entries.keys().next().value;
      assert(oldest !== undefined, 'a full cache has an oldest entry');
      this.entries.delete(oldest);
    }
    assert(this.entries.size <= this.entriesMax, 'the cache stays within entriesMax');
  }

  /** An operation on the remembered inode of `path` failed as if it were not that folder. */
  drop(path: string): void {
    if (this.entries.delete(path)) this.stale++;
  }

  /** `path` and everything below it may now name other inodes (rename, rmdir, unlink). */
  dropTree(path: string): void {
    if (this.entries.size === 0) return;
    if (path === '/') {
      this.entries.clear();
      return;
    }
    this.entries.delete(path);
    const prefix = `${path}/`;
    for (const key of this.entries.keys()) {
      if (key.startsWith(prefix)) this.entries.delete(key);
    }
  }
}
