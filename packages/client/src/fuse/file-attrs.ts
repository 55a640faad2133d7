// Attributes of files and symlinks as the master last gave them (LOOKUP, GETATTR, SETATTR,
// MKNOD, SYMLINK), for the attribute timeout, so a LOOKUP of a name whose inode this mount's
// folder listing knows needs no master round trip (a rename's or an unlink's LOOKUP, a stat's
// after the kernel's own entry expired). What they may miss is what the kernel's own attribute
// cache would miss: changes made elsewhere within the timeout, so the kernel is only given
// what is left of it. Changes made here drop them: an OPEN (writes may follow; nothing is kept
// of a file open here), a CREATE, LINK, UNLINK, RENAME or EXCHANGE of the inode; a rename keeps
// them with the new ctime the master gave it (its folders' ctime). Attributes asked for before
// a change here and answered after it are not kept (`since`). Directories are DirCache's.
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
  /** Changes made here so far, and the number of the last one of each inode (bounded). */
  private changes = 0;
  private readonly lastChange = new Map<number, number>();
  /** The newest change whose inode was dropped from lastChange (past the bound). */
  private forgottenChange = 0;

  constructor(opts: FileAttrsOptions) {
    assert(opts.attrMs >= 0, 'the attribute timeout is >= 0');
    this.attrMs = opts.attrMs;
    this.nowMs = opts.nowMs ?? (() => performance.now());
  }

  get size(): number {
    return this.entries.size;
  }

  /** A mark to pass to fetched() with attributes asked for from now on. */
  since(): number {
    return this.changes;
  }

  /**
   * The master gave `attr` just now, asked for at mark `since`: kept unless this mount changed
   * the inode after the mark (the answer may predate it). Directories are not kept here.
   */
  fetched(attr: Attr, since: number): void {
    if (this.attrMs === 0 || attr.type === InodeType.DIR) return;
    const last = this.lastChange.get(attr.inode) ?? this.forgottenChange;
    if (last > since) return;
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

  /**
   * This mount changed `inode` (or may: it opened it): its attributes are no longer known.
   * Inode 0 (not known to the caller) changes nothing.
   */
  changed(inode: number): void {
    if (inode === 0) return;
    this.entries.delete(inode);
    this.noteChange(inode);
  }

  /** This mount renamed `inode`; the master set its ctime to `ctimeMs` (null: not known). */
  renamed(inode: number, ctimeMs: number | null): void {
    const e = this.entries.get(inode);
    if (e === undefined || ctimeMs === null || ctimeMs < e.attr.ctimeMs) {
      this.changed(inode);
      return;
    }
    e.attr = { ...e.attr, ctimeMs };
    this.noteChange(inode); // an answer asked for before the rename has the old ctime
  }

  private noteChange(inode: number): void {
    this.changes++;
    this.lastChange.delete(inode); // re-inserted last: the oldest stays first
    this.lastChange.set(inode, this.changes);
    if (this.lastChange.size > FILE_ATTRS_MAX) {
      const [oldest, n] = this.lastChange.entries().next().value!;
      this.lastChange.delete(oldest);
      this.forgottenChange = n;
    }
  }
}
