// Open directories (OPENDIR .. RELEASEDIR). The master lists a directory in pages after a name
// cursor; the kernel asks by offset. A handle keeps the entries fetched so far, so offset i is
// always the same entry (telldir/seekdir work); offset 0 starts a fresh listing (rewinddir).
// Pages are fetched only when the kernel reads past what is loaded. Entry i has offset i + 1.
import { assert, FsError, InodeType } from '@antlerfs/protocol';
import type { Attr } from '../index.ts';
import type { DirPage } from '../index.ts';

/** Entries asked of the master per page. */
export const DIR_PAGE_ENTRIES = 1024;
/** Directories open at once through one mount; past it OPENDIR fails with EAGAIN. */
export const OPEN_DIRS_MAX = 16_384;
/** Pages one listing may take (a directory of 64 M entries), so a listing always ends. */
const LISTING_PAGES_MAX = 65_536;

export interface DirEntryOut {
  name: string;
  /** null for "." and "..": READDIRPLUS then tells the kernel nothing about them. */
  attr: Attr | null;
  ino: number;
  type: number;
}

export interface DirSource {
  page(inode: number, cursor: string, entriesMax: number): Promise<DirPage>;
  /** The inode of the directory's parent (for ".."). */
  parentOf(inode: number): Promise<number>;
  /** Taken before a listing's first page is asked; null: the whole listing is not wanted. */
  ticketFor?(inode: number): unknown;
  /**
   * A listing read from its start to its end, every page at one names version (null when the
   * pages disagreed): the mount may keep its names.
   */
  wholeListing?(ticket: unknown, got: { names: string[]; namesVersion: number } | null): void;
}

export class DirHandle {
  readonly fh: number;
  readonly inode: number;
  private entries: DirEntryOut[] = [];
  private cursor = '';
  private end = false;
  private pages = 0;
  /** A fetch in progress; concurrent READDIRs of one handle share it. */
  private loading: Promise<void> | null = null;
  /** The names version of every page of this listing so far; null once two disagreed. */
  private namesVersion: number | null = null;
  /** From the source when the first page was asked (see DirSource.wholeListing). */
  private ticket: unknown = null;

  constructor(fh: number, inode: number) {
    this.fh = fh;
    this.inode = inode;
  }

  /** Entries from `offset` on, loading pages until `wanted` are there or the listing ends. */
  async entriesFrom(offset: number, wanted: number, source: DirSource): Promise<DirEntryOut[]> {
    assert(Number.isSafeInteger(offset) && offset >= 0, `readdir offset ${offset}`);
    if (offset === 0) this.restart();
    if (this.entries.length === 0) await this.loadDots(source);
    while (!this.end && this.entries.length < offset + wanted) {
      this.loading ??= this.loadPage(source).finally(() => { this.loading = null; });
      await this.loading;
    }
    return this.entries.slice(offset, offset + wanted);
  }

  /** Hands a listing read whole to the source (once per listing). */
  private handOver(source: DirSource): void {
    const ticket = this.ticket;
    this.ticket = null;
    if (this.namesVersion === null) {
      source.wholeListing?.(ticket, null);
      return;
    }
    const names = this.entries.slice(2).map((e) => e.name); // after "." and ".."
    source.wholeListing?.(ticket, { names, namesVersion: this.namesVersion });
  }

  private restart(): void {
    this.entries = [];
    this.cursor = '';
    this.end = false;
    this.pages = 0;
    this.namesVersion = null;
  }

  private async loadDots(source: DirSource): Promise<void> {
    const parent = await source.parentOf(this.inode);
    if (this.entries.length > 0) return; // another READDIR loaded them meanwhile
    const dir = InodeType.DIR;
    this.entries.push({ name: '.', attr: null, ino: this.inode, type: dir });
    this.entries.push({ name: '..', attr: null, ino: parent, type: dir });
  }

  private async loadPage(source: DirSource): Promise<void> {
    if (++this.pages > LISTING_PAGES_MAX) {
      throw new FsError('EFBIG', `inode ${this.inode}: more than ${LISTING_PAGES_MAX} pages`);
    }
    const first = this.cursor === '';
    const ticket = first ? source.ticketFor?.(this.inode) ?? null : this.ticket;
    const page = await source.page(this.inode, this.cursor, DIR_PAGE_ENTRIES);
    for (const e of page.entries) {
      this.entries.push({ name: e.name, attr: e.attr, ino: e.attr.inode, type: e.attr.type });
    }
    if (first) {
      this.ticket = ticket;
      this.namesVersion = page.namesVersion;
    } else if (this.namesVersion !== page.namesVersion) {
      this.namesVersion = null;
    }
    if (page.end || page.entries.length === 0) {
      this.end = true;
      if (this.ticket !== null) this.handOver(source);
      return;
    }
    if (page.nextCursor === this.cursor) {
      throw new FsError('EPROTO', `inode ${this.inode}: readdir cursor did not advance`);
    }
    this.cursor = page.nextCursor;
  }
}

export class DirHandles {
  private readonly byFh = new Map<number, DirHandle>();
  private nextFh = 1;

  get size(): number {
    return this.byFh.size;
  }

  open(inode: number): DirHandle {
    if (this.byFh.size >= OPEN_DIRS_MAX) {
      throw new FsError('EAGAIN', `${OPEN_DIRS_MAX} directories open (OPEN_DIRS_MAX)`);
    }
    const handle = new DirHandle(this.nextFh++, inode);
    this.byFh.set(handle.fh, handle);
    return handle;
  }

  get(fh: number): DirHandle {
    const handle = this.byFh.get(fh);
    if (handle === undefined) throw new FsError('EBADF', `no open directory with fh ${fh}`);
    return handle;
  }

  release(fh: number): void {
    this.byFh.delete(fh);
  }
}
