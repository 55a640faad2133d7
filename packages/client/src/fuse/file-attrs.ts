// Attributes of files and symlinks as the master last gave them (LOOKUP, GETATTR, SETATTR,
// MKNOD, SYMLINK), for the attribute timeout, so a LOOKUP of a name whose inode this mount's
// folder listing knows needs no master round trip (a rename's or an unlink's LOOKUP, a stat's
// after the kernel's own entry expired). What they may miss is what the kernel's own attribute
// cache would miss: changes made elsewhere within the timeout, so the kernel is only given
// what is left of it. Changes made here drop them: an OPEN (writes may follow; nothing is kept
// of a file open here), a CREATE, LINK, UNLINK, RENAME or EXCHANGE of the inode; a rename keeps
// them with the new ctime the master gave it (its folders' ctime). Directories are DirCache's.
import { assert, InodeType } from '@antlerfs/protocol';
import type { Attr } from '../index.ts';

/** Inodes remembered at once; the oldest is dropped past it. */
export const FILE_ATTRS_MAX = 65_536;

export interface FileAttrsOptions {
  /** How long attributes are trusted after the master gave them (0: never kept). */
  attrMs: number;
  /** Monotonic ms (tests inject their own). */
  nowMs?: () => number;
}

interface Entry {
  attr: Attr;
  untilMs: number;
}

export class FileAttrs {
  private readonly attrMs: number;
  private readonly nowMs: () => number;
  private readonly entries = new Map<number, Entry>();

  constructor(opts: FileAttrsOptions) {
    assert(opts.attrMs >= 0, 'the attribute timeout is >= 0');
    this.attrMs = opts.attrMs;
    this.nowMs = opts.nowMs ?? (() => performance.now());
  }

  get size(): number {
    return this.entries.size;
  }

  /** The master gave `attr` just now; directories are not kept here. */
  fetched(attr: Attr): void {
    if (this.attrMs === 0 || attr.type === InodeType.DIR) return;
    this.entries.delete(attr.inode); // re-inserted last: the oldest stays first
    this.entries.set(attr.inode, { attr, untilMs: this.nowMs() + this.attrMs });
    if (this.entries.size > FILE_ATTRS_MAX) {
      const oldest = this.entries.keys().next().value;
      assert(oldest !== undefined, 'a full cache has an oldest entry');
      this.entries.delete(oldest);
    }
  }

  /** Trusted attributes of `inode` and for how much longer, or null. */
  get(inode: number): { attr: Attr; remainingMs: number } | null {
    const e = this.entries.get(inode);
    if (e === undefined) return null;
    const remainingMs = Math.floor(e.untilMs - this.nowMs());
    if (remainingMs <= 0) {
      this.entries.delete(inode);
      return null;
    }
    return { attr: e.attr, remainingMs };
  }

  /** This mount changed `inode` (or may: it opened it): its attributes are no longer known. */
  changed(inode: number): void {
    this.entries.delete(inode);
  }

  /** This mount renamed `inode`; the master set its ctime to `ctimeMs` (null: not known). */
  renamed(inode: number, ctimeMs: number | null): void {
    const e = this.entries.get(inode);
    if (e === undefined) return;
    if (ctimeMs === null || ctimeMs < e.attr.ctimeMs) {
      this.entries.delete(inode);
      return;
    }
    e.attr = { ...e.attr, ctimeMs };
  }
}
