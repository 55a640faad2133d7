// What this mount knows about directories between master requests, so the requests the kernel
// sends around every change need no master round trip:
// - attributes: as the master last gave them, plus this mount's own creations in the directory
//   since (the master stamps the directory's mtime and ctime with the new entry's ctime). They
//   answer GETATTR (the kernel asks after each change, for its permission check) for the
//   attribute timeout after the master's answer, as the kernel's own cache would.
// - names: the whole listing of a directory made through this mount, read whole by READDIR
//   (pages of one names version), or fetched (LIST_NAMES) once the master answered a LOOKUP
//   there with ENOENT (a create is likely to follow, and more after it), kept up to date with
//   this mount's changes, at the folder's names version (FolderStamp: it moves with every
//   change of the folder's entries, by anybody). A LOOKUP of a name not in it is answered
//   ENOENT here (a create's LOOKUP) for the entry timeout after the master last confirmed it.
//   A change of this mount whose stamp starts at the listing's version confirms it (nobody
//   else changed the folder in between) and moves it to the stamp's end; any other stamp stops
//   confirmations until the listing expires. An expired listing is confirmed by one
//   GETATTR_FOLDER (no dearer than the LOOKUP) when the folder's names version is still the
//   listing's. Unlink, rmdir and rename take the folder's attributes from the master's reply
//   (no GETATTR after them).
// - inodes: a trusted listing knows the inode of the names made, renamed or looked up here,
//   so a LOOKUP of one may be answered here too when its attributes are known (FileAttrs); a
//   folder whose names are listed is read again whole with every entry's attributes (one
//   READDIR page at the listing's names version) when such a LOOKUP finds them expired.
// Every doubt (an error, a change elsewhere, a limit) drops what is known; nothing is guessed.
import { assert, InodeType } from '@antlerfs/protocol';
import { FUSE_ROOT_ID as ROOT_INODE } from './kernel-abi.ts';
import type { Attr, DirPage, FolderStamp } from '../index.ts';

/** Directories remembered at once; the oldest is dropped past it. */
export const DIRS_MAX = 4096;
/** Names a remembered listing may hold; a larger directory is not listed here. */
export const LISTING_NAMES_MAX = 65_536;
/** Names of all listings together; past it, a listing that grows is dropped. */
export const NAMES_TOTAL_MAX = 1_048_576;
/** A folder too large to list (or past the total) is not asked for its names again this long. */
export const UNLISTABLE_MS = 60_000;
/** A listing is read again with its attributes (refreshTicket) at most once in this long. */
export const REFRESH_GAP_MS = 100;

export interface DirCacheOptions {
  /** How long attributes are trusted after the master gave them (0: never). */
  attrMs: number;
  /** How long a listing is trusted after the master last confirmed it (0: never). */
  namesMs: number;
  /** Monotonic ms (tests inject their own). */
  nowMs?: () => number;
}

interface DirState {
  /** The master's attributes plus this mount's own creations since; null: unknown. */
  attr: Attr | null;
  attrUntilMs: number;
  /** Every name in the directory with its inode (0: not known here), or null when not known. */
  names: Map<string, number> | null;
  namesUntilMs: number;
  /**
   * The folder's names version the listing is exact at; null after a change of unknown stamp
   * or one that shows another change in between: the listing is not renewed any more.
   */
  namesVersion: number | null;
  /** `parent/name` it was found under (a rename of it must forget its ctime); root: ''. */
  key: string;
  /** When the master last answered a LOOKUP here with ENOENT (-Infinity: never). */
  negativeAtMs: number;
  /** Not listed before this (it was too large). */
  unlistableUntilMs: number;
  /** True while its names are being fetched, or read again with attributes (refreshTicket). */
  listing: boolean;
  /** Changes of this mount here (a listing fetched across one of them is not taken). */
  changes: number;
  /** When the listing was last read again with its attributes (refreshTicket). */
  refreshedAtMs: number;
}

/** A listing being fetched: what it is checked against when it arrives. */
export interface ListingTicket {
  inode: number;
  st: DirState;
  changes: number;
  startedAtMs: number;
  /** A LIST_NAMES fetch or a read again (refreshTicket), holding `listing` till it ends. */
  fetching: boolean;
}

/** A remembered folder's listing fields before any listing. */
const NO_LISTING_YET = {
  negativeAtMs: -Infinity, unlistableUntilMs: 0, listing: false, changes: 0,
  refreshedAtMs: -Infinity,
};

function keyOf(parent: number, name: string): string {
  return `${parent}/${name}`;
}

export class DirCache {
  private readonly opts: DirCacheOptions;
  private readonly nowMs: () => number;
  private readonly dirs = new Map<number, DirState>();
  /** `parent/name` -> inode of the directories remembered. */
  private readonly byName = new Map<string, number>();
  /** Lookups and getattrs answered here (for the request counters). */
  hits = 0;
  /** Names in all listings. */
  private namesTotal = 0;

  constructor(opts: DirCacheOptions) {
    assert(opts.attrMs >= 0 && opts.namesMs >= 0, 'cache durations are >= 0');
    this.opts = opts;
    this.nowMs = opts.nowMs ?? (() => performance.now());
  }

  get size(): number {
    return this.dirs.size;
  }

  /**
   * The master answered with `attr` just now (GETATTR, LOOKUP, SETATTR). A directory is only
   * remembered from a LOOKUP (`where`: a rename must find it) or when it is the root. Other
   * times than this mount knows drop the listing early (a change elsewhere, most likely).
   */
  fetched(attr: Attr, where: { parent: number; name: string } | null = null): void {
    if (attr.type !== InodeType.DIR || this.opts.attrMs === 0) return;
    const now = this.nowMs();
    const st = this.dirs.get(attr.inode);
    if (st === undefined) {
      const isRoot = attr.inode === ROOT_INODE;
      if (where === null && !isRoot) return;
      if (where !== null && (where.name === '.' || where.name === '..')) return;
      this.put(attr.inode, {
        attr, attrUntilMs: now + this.opts.attrMs, names: null, namesUntilMs: 0,
        namesVersion: null, key: where === null ? '' : keyOf(where.parent, where.name),
        ...NO_LISTING_YET,
      });
      return;
    }
    const unchanged = st.attr !== null && st.attr.mtimeMs === attr.mtimeMs &&
      st.attr.ctimeMs === attr.ctimeMs;
    if (st.names !== null && st.attr !== null && !unchanged) this.dropNames(st);
    st.attr = attr;
    st.attrUntilMs = now + this.opts.attrMs;
    const named = where !== null && where.name !== '.' && where.name !== '..';
    if (named) this.rekey(attr.inode, st, where);
  }

  /** The directory was found under another name (renamed elsewhere): index it by that one. */
  private rekey(inode: number, st: DirState, where: { parent: number; name: string }): void {
    const key = keyOf(where.parent, where.name);
    if (st.key === key) return;
    if (this.byName.get(st.key) === inode) this.byName.delete(st.key);
    const other = this.byName.get(key);
    if (other !== undefined && other !== inode) this.forget(other);
    st.key = key;
    this.byName.set(key, inode);
  }

  /**
   * The master confirmed directory `attr` with its names version just now (GETATTR_FOLDER):
   * the listing is renewed when it is at that version, else dropped.
   */
  confirmed(attr: Attr, namesVersion: number): void {
    const st = this.dirs.get(attr.inode);
    if (st === undefined || attr.type !== InodeType.DIR) return;
    if (st.names !== null) {
      if (st.namesVersion === namesVersion) st.namesUntilMs = this.nowMs() + this.opts.namesMs;
      else this.dropNames(st);
    }
    st.attr = attr;
    st.attrUntilMs = this.nowMs() + this.opts.attrMs;
  }

  /**
   * This mount made directory `attr` (MKDIR) with `stamp` in its parent: it is empty, and its
   * listing is known at the stamp's end (its names version is its creation's).
   */
  made(parent: number, name: string, attr: Attr, stamp: FolderStamp | null): void {
    this.created(parent, name, attr, stamp);
    if (this.opts.attrMs === 0 || this.opts.namesMs === 0) return;
    const now = this.nowMs();
    this.put(attr.inode, {
      attr, attrUntilMs: now + this.opts.attrMs, names: new Map(),
      namesUntilMs: now + this.opts.namesMs, namesVersion: stamp?.after ?? null,
      key: keyOf(parent, name), ...NO_LISTING_YET,
    });
  }

  /**
   * A ticket to fetch the names of `inode` when they are worth it: it is remembered, its names
   * are not known, the master just answered a LOOKUP there with ENOENT, and it is not known to
   * be too large. Null otherwise.
   */
  wantsListing(inode: number): ListingTicket | null {
    const st = this.dirs.get(inode);
    if (st === undefined || st.names !== null || st.listing || this.opts.namesMs === 0) return null;
    const now = this.nowMs();
    if (now - st.negativeAtMs >= this.opts.namesMs) return null;
    if (now < st.unlistableUntilMs) return null;
    st.listing = true;
    return { inode, st, changes: st.changes, startedAtMs: now, fetching: true };
  }

  /**
   * A ticket for a listing read whole through READDIR, when the names of remembered folder
   * `inode` are not known; null otherwise.
   */
  readdirTicket(inode: number): ListingTicket | null {
    const st = this.dirs.get(inode);
    if (st === undefined || st.names !== null || this.opts.namesMs === 0) return null;
    return { inode, st, changes: st.changes, startedAtMs: this.nowMs(), fetching: false };
  }

  /**
   * The names of a folder fetched or read whole with `ticket` (null: the fetch failed or the
   * pages disagreed; names null: too many). Taken unless the folder was forgotten or changed
   * here meanwhile; trusted from when the listing started.
   */
  listed(
    ticket: ListingTicket, got: { names: string[] | null; namesVersion: number } | null,
  ): void {
    const st = ticket.st;
    if (ticket.fetching) st.listing = false;
    if (got === null || this.dirs.get(ticket.inode) !== st) return;
    const { names } = got;
    const tooMany = names === null || names.length > LISTING_NAMES_MAX ||
      this.namesTotal + names.length > NAMES_TOTAL_MAX;
    if (tooMany) {
      st.unlistableUntilMs = this.nowMs() + UNLISTABLE_MS;
      return;
    }
    if (st.names !== null || st.changes !== ticket.changes) return;
    st.names = new Map(names.map((n) => [n, 0]));
    this.namesTotal += st.names.size;
    st.namesVersion = got.namesVersion;
    st.namesUntilMs = ticket.startedAtMs + this.opts.namesMs;
  }

  /**
   * A ticket to read the listing of `parent` again with every entry's attributes (one READDIR
   * page), when `name` is in it with a known inode and the listing has a names version to be
   * confirmed against: a LOOKUP whose file attributes expired renews them all at once. At most
   * one at a time per folder and one per REFRESH_GAP_MS; null otherwise.
   */
  refreshTicket(parent: number, name: string, entriesMax: number): ListingTicket | null {
    const st = this.dirs.get(parent);
    if (st === undefined || st.names === null || st.namesVersion === null) return null;
    if (!st.names.get(name) || st.listing || st.names.size > entriesMax) return null;
    const now = this.nowMs();
    if (now - st.refreshedAtMs < REFRESH_GAP_MS) return null;
    st.listing = true;
    st.refreshedAtMs = now;
    return { inode: parent, st, changes: st.changes, startedAtMs: now, fetching: true };
  }

  /**
   * The listing of `ticket` read again (null: the read failed): taken when it is whole, at
   * the listing's names version, holds the same names and nothing changed here meanwhile; the
   * listing is then trusted again from when the read started and knows every inode. True when
   * taken (the caller keeps the attributes).
   */
  refreshed(ticket: ListingTicket, page: DirPage | null): boolean {
    const st = ticket.st;
    st.listing = false;
    if (page === null || this.dirs.get(ticket.inode) !== st || st.names === null) return false;
    if (st.changes !== ticket.changes) return false; // read across a change of this mount
    const same = page.end && page.namesVersion === st.namesVersion &&
      page.entries.length === st.names.size && page.entries.every((e) => st.names!.has(e.name));
    if (!same) {
      this.dropNames(st);
      return false;
    }
    for (const e of page.entries) st.names.set(e.name, e.attr.inode);
    st.namesUntilMs = ticket.startedAtMs + this.opts.namesMs;
    return true;
  }

  /**
   * Attributes of directory `inode` still trusted and for how much longer (the kernel may keep
   * them that long, not a full timeout more), or null.
   */
  attrOf(inode: number): { attr: Attr; remainingMs: number } | null {
    const st = this.dirs.get(inode);
    if (st === undefined || st.attr === null) return null;
    const remainingMs = Math.floor(st.attrUntilMs - this.nowMs());
    if (remainingMs <= 0) return null;
    this.hits++;
    return { attr: st.attr, remainingMs };
  }

  /**
   * Whether `name` is known not to exist in `parent`: 'absent' (a trusted listing lacks it),
   * 'unknown', or 'confirm': a listing lacks it but has expired, and one GETATTR_FOLDER of the
   * directory (confirmed()) may renew it.
   */
  absence(parent: number, name: string): 'absent' | 'unknown' | 'confirm' {
    const st = this.dirs.get(parent);
    if (st === undefined || st.names === null || st.names.has(name)) return 'unknown';
    if (this.nowMs() >= st.namesUntilMs) {
      if (st.namesVersion !== null) return 'confirm';
      this.dropNames(st);
      return 'unknown';
    }
    this.hits++;
    return 'absent';
  }

  /** True when `name` is known not to exist in `parent` (a trusted listing lacks it). */
  knownAbsent(parent: number, name: string): boolean {
    return this.absence(parent, name) === 'absent';
  }

  /** The master said `name` in `parent` is `inode` (null: it does not exist). */
  looked(parent: number, name: string, inode: number | null): void {
    const st = this.dirs.get(parent);
    if (st === undefined) return;
    const exists = inode !== null;
    if (!exists) st.negativeAtMs = this.nowMs();
    if (st.names === null) return;
    if (st.names.has(name) !== exists) this.dropNames(st);
    else if (exists) st.names.set(name, inode);
  }

  /**
   * The inode `name` in `parent` refers to, while a trusted listing says so (a LOOKUP may be
   * answered here when its attributes are known too), and for how much longer; else null.
   */
  entryOf(parent: number, name: string): { inode: number; remainingMs: number } | null {
    const st = this.dirs.get(parent);
    const inode = st?.names?.get(name);
    if (st === undefined || inode === undefined || inode === 0) return null;
    const remainingMs = Math.floor(st.namesUntilMs - this.nowMs());
    return remainingMs > 0 ? { inode, remainingMs } : null;
  }

  /** This mount created `attr` under `name` (CREATE, MKNOD, MKDIR, SYMLINK) with `stamp`. */
  created(parent: number, name: string, attr: Attr, stamp: FolderStamp | null): void {
    const st = this.dirs.get(parent);
    if (st === undefined) return;
    this.stamped(st, stamp);
    const unchanged = stamp !== null && stamp.before === stamp.after; // it was there already
    if (st.attr !== null && !unchanged) {
      // The master stamps the directory with the new entry's ctime.
      const nlink = st.attr.nlink + (attr.type === InodeType.DIR ? 1 : 0);
      st.attr = { ...st.attr, mtimeMs: attr.ctimeMs, ctimeMs: attr.ctimeMs, nlink };
    }
    this.addName(st, name, attr.inode);
  }

  /**
   * This mount removed (or renamed away) `name` in `parent`; `parentAttr` is the folder just
   * after, as the master's reply said, and `stamp` the folder's (null: not known). Returns the
   * inode the name referred to as far as the listing knew (0: not known).
   */
  removed(
    parent: number, name: string, parentAttr: Attr | null, stamp: FolderStamp | null,
  ): number {
    const child = this.byName.get(keyOf(parent, name));
    if (child !== undefined) this.forget(child);
    const st = this.dirs.get(parent);
    if (st === undefined) return child ?? 0;
    this.changedHere(parent, st, parentAttr, stamp);
    const inode = st.names?.get(name) ?? child ?? 0;
    if (st.names?.delete(name) === true) this.namesTotal--;
    return inode;
  }

  /**
   * This mount renamed `from` to `to` (LINK is a rename that keeps `from`, of inode `linked`);
   * `attrs`: both folders just after, `stamps` theirs, as the master's reply said (null: not
   * known). Returns the inodes of the name moved and of the one it replaced (0: not known).
   */
  renamed(
    from: { parent: number; name: string } | null, to: { parent: number; name: string },
    attrs: { src: Attr | null; dst: Attr | null },
    stamps: { src: FolderStamp | null; dst: FolderStamp | null }, linked = 0,
  ): { moved: number; replaced: number } {
    const moved = from !== null ? this.removed(from.parent, from.name, attrs.src, stamps.src)
      : linked;
    const replacedDir = this.byName.get(keyOf(to.parent, to.name));
    if (replacedDir !== undefined) this.forget(replacedDir);
    const st = this.dirs.get(to.parent);
    const replaced = st?.names?.get(to.name) ?? replacedDir ?? 0;
    if (st === undefined) return { moved, replaced };
    this.changedHere(to.parent, st, attrs.dst, stamps.dst);
    this.addName(st, to.name, moved);
    return { moved, replaced };
  }

  /**
   * This mount swapped what names `a` and `b` refer to (RENAME_EXCHANGE): both names stay, a
   * folder known under either is forgotten; `attrs` and `stamps` as in renamed().
   */
  exchanged(
    a: { parent: number; name: string }, b: { parent: number; name: string },
    attrs: { src: Attr | null; dst: Attr | null },
    stamps: { src: FolderStamp | null; dst: FolderStamp | null },
  ): void {
    for (const key of [keyOf(a.parent, a.name), keyOf(b.parent, b.name)]) {
      const inode = this.byName.get(key);
      if (inode !== undefined) this.forget(inode);
    }
    // Both names stay; which inode each now refers to is left to the master.
    for (const { parent, name } of [a, b]) {
      const names = this.dirs.get(parent)?.names;
      if (names?.has(name) === true) names.set(name, 0);
    }
    const src = this.dirs.get(a.parent);
    if (src !== undefined) this.changedHere(a.parent, src, attrs.src, stamps.src);
    const dst = this.dirs.get(b.parent);
    if (dst !== undefined && b.parent !== a.parent) {
      this.changedHere(b.parent, dst, attrs.dst, stamps.dst);
    }
  }

  /**
   * A change of this mount in the folder of `st` with `stamp`: a stamp starting at the
   * listing's version confirms the listing and moves it on; one ending there is the same change
   * seen again (a rename within one folder); anything else ends renewals.
   */
  private stamped(st: DirState, stamp: FolderStamp | null): void {
    st.changes++;
    if (st.names === null) return;
    const v = st.namesVersion;
    if (stamp !== null && v !== null && stamp.before === v) {
      st.namesVersion = stamp.after;
      st.namesUntilMs = this.nowMs() + this.opts.namesMs;
    } else if (stamp === null || stamp.after !== v) {
      st.namesVersion = null;
    }
  }

  /**
   * A change of this mount in a folder, with the folder's attributes after it. Of two replies
   * of changes made at once, the later change wins, whichever reply comes first; two in the
   * same ms that disagree leave the attributes unknown.
   */
  private changedHere(
    inode: number, st: DirState, after: Attr | null, stamp: FolderStamp | null,
  ): void {
    this.stamped(st, stamp);
    const before = st.attr;
    // What the master tells of another inode, or of no folder, is not taken (peer input).
    const fits = after !== null && after.inode === inode && after.type === InodeType.DIR;
    if (!fits || this.opts.attrMs === 0) {
      st.attr = null;
      return;
    }
    if (before !== null) {
      if (after.ctimeMs < before.ctimeMs) return; // an older change's reply: keep the newer
      const same = after.nlink === before.nlink && after.mtimeMs === before.mtimeMs;
      if (after.ctimeMs === before.ctimeMs && !same) {
        st.attr = null;
        return;
      }
    }
    st.attr = after;
    st.attrUntilMs = this.nowMs() + this.opts.attrMs;
  }

  /** Something about `inode` (a directory or not) is no longer known: forget it all. */
  forget(inode: number): void {
    const st = this.dirs.get(inode);
    if (st === undefined) return;
    this.dropNames(st);
    this.dirs.delete(inode);
    if (this.byName.get(st.key) === inode) this.byName.delete(st.key);
  }

  private addName(st: DirState, name: string, inode: number): void {
    if (st.names === null) return;
    const had = st.names.has(name);
    st.names.set(name, inode);
    if (had) return;
    this.namesTotal++;
    if (st.names.size > LISTING_NAMES_MAX || this.namesTotal > NAMES_TOTAL_MAX) {
      this.dropNames(st);
    }
  }

  private dropNames(st: DirState): void {
    this.namesTotal -= st.names?.size ?? 0;
    assert(this.namesTotal >= 0, 'the names count covers every listing');
    st.names = null;
    st.namesUntilMs = 0;
    st.namesVersion = null;
  }

  private put(inode: number, st: DirState): void {
    this.forget(inode); // re-inserted last: the oldest stays first
    const other = this.byName.get(st.key);
    if (other !== undefined) this.forget(other);
    this.dirs.set(inode, st);
    if (st.key !== '') this.byName.set(st.key, inode);
    if (this.dirs.size > DIRS_MAX) {
      const oldest = this.dirs.keys().next().value;
      assert(oldest !== undefined, 'a full cache has an oldest entry');
      this.forget(oldest);
    }
    assert(this.byName.size <= this.dirs.size, 'every name maps to a remembered directory');
  }
}
