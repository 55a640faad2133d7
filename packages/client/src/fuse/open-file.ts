// The files the kernel has open (OPEN/CREATE .. RELEASE), each with its own library FileHandle,
// opened lazily on first use. Close-to-open: FLUSH ends the handle's writes (close = flush +
// WRITE_END at the master) so another client that opens the file next sees all of it, and the
// next use here opens a fresh handle. Within this mount, a read first ends the writes of the
// other opens of the same inode, and attributes include their lengths not yet at the master.
import { assert, FsError } from '@antlerfs/protocol';
import type { Attr, FileHandle, Located, OpenFlags, PromisedChunk } from '../index.ts';

/** Files open at once through one mount; past it OPEN and CREATE fail with EAGAIN. */
export const OPEN_FILES_MAX = 65_536;

/** How an open file's handle is opened: read-only, read-write, or appending. */
export type OpenMode = Extract<OpenFlags, 'r' | 'r+' | 'a+'>;

/**
 * Opens a library handle. `attr`: the file's attributes the master gave just now (OPEN, CREATE),
 * so the handle needs no request of its own; null: it asks the master.
 */
export type HandleOpener = (
  inode: number, mode: OpenMode, attr: Attr | null, located: Located | null,
  promised: PromisedChunk | null,
) => Promise<FileHandle>;

export class OpenFile {
  readonly fh: number;
  readonly inode: number;
  readonly mode: OpenMode;
  private readonly opener: HandleOpener;
  private handle: FileHandle | null = null;
  private opening: Promise<FileHandle> | null = null;
  /**
   * The attributes the master gave when the kernel opened the file, for the first handle; gone
   * at the first end of writes or reset (they may be old then). Appending handles never use
   * them: they write at the length they are opened with.
   */
  private openedAttr: Attr | null;
  /** The chunk locations that came with openedAttr (a read-only open), gone with it. */
  private openedLocated: Located | null;
  /** The chunk promised with openedAttr (a CREATE for writing), gone with it. */
  private openedPromised: PromisedChunk | null;
  /** Writes through the current handle that the master has not seen ended (no WRITE_END). */
  private dirty = false;
  /** End of the furthest write through the current handle (its file length, at least). */
  private writtenEndBytes = 0;
  /** Operations using the handle right now. */
  private active = 0;
  private idleWaiters: (() => void)[] = [];
  /** An end of writes (or the close) in progress: new operations wait for it. */
  private exclusive: Promise<void> | null = null;
  closed = false;

  constructor(
    fh: number, inode: number, mode: OpenMode, opener: HandleOpener, attr: Attr | null = null,
    located: Located | null = null, promised: PromisedChunk | null = null,
  ) {
    if (attr !== null && attr.inode !== inode) assert(false, `attributes of inode ${inode}`);
    this.fh = fh;
    this.inode = inode;
    this.mode = mode;
    this.opener = opener;
    this.openedAttr = mode === 'a+' ? null : attr;
    this.openedLocated = this.openedAttr === null ? null : located;
    this.openedPromised = this.openedAttr === null ? null : promised;
  }

  /** Length this open knows the file has, if it wrote something the master has not seen yet. */
  get unendedLengthBytes(): number {
    return this.dirty ? this.writtenEndBytes : 0;
  }

  get hasUnendedWrites(): boolean {
    return this.dirty;
  }

  /** Runs `fn` with the handle (opened if needed), never while the handle is being closed. */
  async use<T>(fn: (handle: FileHandle) => Promise<T>): Promise<T> {
    // Bounded: each pass waits for one exclusive operation to finish.
    for (let pass = 0; this.exclusive !== null; pass++) {
      assert(pass < 1_000_000, 'exclusive operations end');
      await this.exclusive.catch(() => undefined);
    }
    if (this.closed) throw new FsError('EBADF', `fh ${this.fh}: used after release`);
    this.active++;
    try {
      return await fn(await this.ensureHandle());
    } finally {
      this.active--;
      if (this.active === 0) this.wakeIdle();
    }
  }

  /** Drops what this open's reads fetched ahead: another open of the file wrote. */
  forgetReads(): void {
    this.handle?.forgetReads();
  }

  /** Records a write of `sizeBytes` at `offset` through this open. */
  noteWrite(offset: number, sizeBytes: number): void {
    this.dirty = true;
    this.writtenEndBytes = Math.max(this.writtenEndBytes, offset + sizeBytes);
  }

  /** Ends the handle's writes (flush + WRITE_END) by closing it; the next use reopens. */
  endWrites(): Promise<void> {
    return this.runExclusive('end-writes');
  }

  /** Closes the handle even without writes (the file was truncated): the next use reopens. */
  reset(): Promise<void> {
    return this.runExclusive('reset');
  }

  /** RELEASE: ends the writes and closes for good. */
  close(): Promise<void> {
    return this.runExclusive('close');
  }

  private runExclusive(kind: 'end-writes' | 'reset' | 'close'): Promise<void> {
    const previous = this.exclusive ?? Promise.resolve();
    this.openedAttr = null;
    this.openedLocated = null;
    this.openedPromised = null;
    const run = previous.catch(() => undefined).then(async () => {
      await this.whenIdle();
      if (kind === 'close') this.closed = true;
      await this.closeHandle(kind !== 'end-writes');
    });
    this.exclusive = run;
    void run.finally(() => {
      if (this.exclusive === run) this.exclusive = null;
    }).catch(() => undefined);
    return run;
  }

  /** Closes the handle if it has unended writes, or in any case with `evenClean`. */
  private async closeHandle(evenClean: boolean): Promise<void> {
    const handle = this.opening === null ? this.handle : await this.opening.catch(() => null);
    if (handle === null) return;
    if (!evenClean && !this.dirty) return;
    this.handle = null;
    this.opening = null;
    this.dirty = false;
    this.writtenEndBytes = 0;
    await handle.close();
  }

  private ensureHandle(): Promise<FileHandle> {
    if (this.handle !== null) return Promise.resolve(this.handle);
    if (this.opening === null) {
      const attr = this.openedAttr;
      const located = this.openedLocated;
      const promised = this.openedPromised;
      this.openedAttr = null;
      this.openedLocated = null;
      this.openedPromised = null;
      const opening = this.opener(this.inode, this.mode, attr, located, promised).then((h) => {
        if (this.opening === opening) this.handle = h;
        return h;
      });
      this.opening = opening;
      opening.catch(() => {
        if (this.opening === opening) this.opening = null;
      });
    }
    return this.opening;
  }

  private whenIdle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

/** Every open file by its fh, and by inode for the rules between opens of one file. */
export class OpenFiles {
  private readonly byFh = new Map<number, OpenFile>();
  private readonly byInode = new Map<number, Set<OpenFile>>();
  private nextFh = 1;
  private readonly opener: HandleOpener;

  constructor(opener: HandleOpener) {
    this.opener = opener;
  }

  get size(): number {
    return this.byFh.size;
  }

  /**
   * A new open of `inode`; `attr`: what the master said of it just now, if known, and
   * `located`: the chunk locations it sent with them.
   */
  add(
    inode: number, mode: OpenMode, attr: Attr | null = null, located: Located | null = null,
    promised: PromisedChunk | null = null,
  ): OpenFile {
    if (this.byFh.size >= OPEN_FILES_MAX) {
      throw new FsError('EAGAIN', `${OPEN_FILES_MAX} files open (OPEN_FILES_MAX)`);
    }
    const file = new OpenFile(this.nextFh++, inode, mode, this.opener, attr, located, promised);
    this.byFh.set(file.fh, file);
    let set = this.byInode.get(inode);
    if (set === undefined) this.byInode.set(inode, (set = new Set()));
    set.add(file);
    return file;
  }

  /** The open file `fh`; EBADF for one the kernel should not know. */
  get(fh: number): OpenFile {
    const file = this.byFh.get(fh);
    if (file === undefined) throw new FsError('EBADF', `no open file with fh ${fh}`);
    return file;
  }

  remove(file: OpenFile): void {
    if (this.byFh.get(file.fh) !== file) assert(false, `fh ${file.fh} is open`);
    this.byFh.delete(file.fh);
    const set = this.byInode.get(file.inode);
    if (set === undefined || !set.delete(file)) {
      assert(false, `fh ${file.fh} is listed under its inode`);
    }
    if (set.size === 0) this.byInode.delete(file.inode);
  }

  isOpen(inode: number): boolean {
    return this.byInode.has(inode);
  }

  ofInode(inode: number): OpenFile[] {
    return [...(this.byInode.get(inode) ?? [])];
  }

  /** The longest length opens of `inode` wrote and the master has not seen yet (0: none). */
  unendedLengthBytes(inode: number): number {
    let n = 0;
    for (const f of this.byInode.get(inode) ?? []) n = Math.max(n, f.unendedLengthBytes);
    return n;
  }

  /** True when another open of `file`'s inode has writes the master has not seen ended. */
  othersWrote(file: OpenFile): boolean {
    const set = this.byInode.get(file.inode);
    if (set === undefined || set.size === 1) return false;
    for (const f of set) if (f !== file && f.hasUnendedWrites) return true;
    return false;
  }

  /** `writer` wrote: the other opens of its file drop what they fetched ahead of reads. */
  wroteThrough(writer: OpenFile): void {
    for (const f of this.ofInode(writer.inode)) if (f !== writer) f.forgetReads();
  }

  /** Ends the writes of every open of `inode` (but `except`) that has some. */
  async endWrites(inode: number, except: OpenFile | null = null): Promise<void> {
    const dirty = this.ofInode(inode).filter((f) => f !== except && f.hasUnendedWrites);
    await Promise.all(dirty.map((f) => f.endWrites()));
  }

  /** Closes the handles of every open of `inode`, pushing their writes (before a truncate). */
  async reset(inode: number): Promise<void> {
    await Promise.all(this.ofInode(inode).map((f) => f.reset()));
  }

  all(): OpenFile[] {
    return [...this.byFh.values()];
  }
}
