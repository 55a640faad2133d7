// The file tree in memory and its POSIX rules: lookup, create, unlink, rmdir, rename, exchange,
// link, setattr, truncate, goals, paged listing. No I/O and no clock: every time and every new
// inode number arrives as an argument, so the same call gives the same tree live and in replay.
// An operation either throws FsError before touching anything or completes.
import {
  CHUNK_SIZE_BYTES, FILE_LENGTH_MAX_BYTES, FsError, GOAL_MAX, InodeType, NAME_MAX_BYTES,
  PATH_MAX_BYTES, ROOT_INODE, SYMLINK_MAX_BYTES, SetAttr, assert,
} from '@antlerfs/protocol';
import {
  InodeTable, MODE_MASK, newDir, newFile, newSymlink, type DirNode, type FileNode, type Node,
} from './inode-table.ts';

export interface CreateParams {
  parent: number;
  name: string;
  inode: number;
  /** An InodeType; anything else is EINVAL. */
  type: number;
  mode: number;
  uid: number;
  gid: number;
  timeMs: number;
  /** Symlinks only. */
  target: string;
}

export interface RenameParams {
  srcParent: number;
  srcName: string;
  dstParent: number;
  dstName: string;
  timeMs: number;
}

export interface SetattrParams {
  inode: number;
  /** SetAttr bits; LENGTH goes through truncate(), the *_NOW bits are resolved by the caller. */
  setMask: number;
  mode: number;
  uid: number;
  gid: number;
  atimeMs: number;
  mtimeMs: number;
  timeMs: number;
}

export interface ReaddirPage {
  entries: { name: string; node: Node }[];
  nextCursor: string;
  end: boolean;
}

const SETATTR_PLAIN_MASK = SetAttr.MODE | SetAttr.UID | SetAttr.GID | SetAttr.ATIME | SetAttr.MTIME;

/** Throws unless `name` can be a directory entry: 1..255 bytes, no '/' and no NUL. */
export function checkName(name: string): void {
  if (name.length === 0) throw new FsError('EINVAL', 'empty name');
  if (Buffer.byteLength(name) > NAME_MAX_BYTES) {
    throw new FsError('ENAMETOOLONG', `name of ${Buffer.byteLength(name)} bytes`);
  }
  if (name.includes('/') || name.includes('\0')) {
    throw new FsError('EINVAL', `name ${JSON.stringify(name)} holds '/' or NUL`);
  }
}

/** Index of the first name in sorted `names` that sorts after `name`. */
function firstAfter(names: string[], name: string): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (names[mid]! <= name) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** An entry for messages: "name" in parent. */
function where(name: string, parent: number): string {
  return `${JSON.stringify(name)} in ${parent}`;
}

function isDotName(name: string): boolean {
  return name === '.' || name === '..';
}

/** Chunk ids of a file's chunks at index >= firstIndex, removed from the file. */
function cutChunks(file: FileNode, firstIndex: number): number[] {
  const freed: number[] = [];
  for (const [index, chunkId] of file.chunks) {
    if (index < firstIndex) continue;
    freed.push(chunkId);
    file.deleteChunk(index);
  }
  return freed;
}

export class Namespace {
  readonly inodes = new InodeTable();

  /** A new file system: only the root directory. */
  static fresh(opts: { timeMs: number; goal: number; trashtimeS: number }): Namespace {
    const ns = new Namespace();
    ns.inodes.add(newDir({
      inode: ROOT_INODE, mode: 0o755, uid: 0, gid: 0, timeMs: opts.timeMs,
      goal: opts.goal, trashtimeS: opts.trashtimeS,
    }, ROOT_INODE));
    return ns;
  }

  node(inode: number): Node {
    const node = this.inodes.get(inode);
    if (node === undefined) throw new FsError('ENOENT', `inode ${inode}`);
    return node;
  }

  dir(inode: number): DirNode {
    const node = this.node(inode);
    if (node.type !== InodeType.DIR) throw new FsError('ENOTDIR', `inode ${inode}`);
    return node;
  }

  file(inode: number): FileNode {
    const node = this.node(inode);
    if (node.type === InodeType.DIR) throw new FsError('EISDIR', `inode ${inode}`);
    if (node.type !== InodeType.FILE) throw new FsError('EINVAL', `inode ${inode} is no file`);
    return node;
  }

  lookup(parent: number, name: string): Node {
    const dir = this.dir(parent);
    if (name === '.') return dir;
    if (name === '..') return this.node(dir.parent);
    checkName(name);
    const child = dir.children.get(name);
    if (child === undefined) throw new FsError('ENOENT', where(name, parent));
    return this.node(child);
  }

  /** Resolves an absolute path without following symlinks (lstat semantics). */
  lookupPath(path: string): Node {
    if (Buffer.byteLength(path) > PATH_MAX_BYTES) throw new FsError('ENAMETOOLONG', 'path');
    if (!path.startsWith('/')) {
      throw new FsError('EINVAL', `path ${JSON.stringify(path)} is relative`);
    }
    let node: Node = this.node(ROOT_INODE);
    for (const part of path.split('/')) {
      if (part === '' || part === '.') continue;
      if (node.type !== InodeType.DIR) throw new FsError('ENOTDIR', path);
      node = this.lookup(node.inode, part);
    }
    return node;
  }

  create(p: CreateParams): Node {
    const dir = this.dir(p.parent);
    if (isDotName(p.name)) throw new FsError('EEXIST', p.name);
    checkName(p.name);
    if (dir.children.has(p.name)) throw new FsError('EEXIST', where(p.name, p.parent));
    if (p.type === InodeType.SYMLINK) checkSymlinkTarget(p.target);
    assert(!this.inodes.has(p.inode), `new inode ${p.inode} is free`);
    const init = {
      inode: p.inode, mode: p.mode, uid: p.uid, gid: p.gid, timeMs: p.timeMs,
      goal: dir.goal, trashtimeS: dir.trashtimeS,
    };
    let node: Node;
    switch (p.type) {
      case InodeType.DIR: node = newDir(init, dir.inode); dir.nlink++; break;
      case InodeType.FILE: node = newFile(init); break;
      case InodeType.SYMLINK: node = newSymlink(init, p.target); break;
      default: throw new FsError('EINVAL', `inode type ${String(p.type)}`);
    }
    this.inodes.add(node);
    this.addEntry(dir, p.name, node.inode, p.timeMs);
    return node;
  }

  /** Removes a non-directory name; returns the chunk ids freed if its last name went. */
  unlink(parent: number, name: string, timeMs: number): number[] {
    const dir = this.dir(parent);
    if (isDotName(name)) throw new FsError('EISDIR', name);
    const node = this.lookup(parent, name);
    if (node.type === InodeType.DIR) throw new FsError('EISDIR', where(name, parent));
    this.removeEntry(dir, name, timeMs);
    return this.dropLink(node, timeMs);
  }

  rmdir(parent: number, name: string, timeMs: number): void {
    const dir = this.dir(parent);
    if (name === '.') throw new FsError('EINVAL', 'rmdir of "."');
    if (name === '..') throw new FsError('ENOTEMPTY', 'rmdir of ".."');
    const node = this.lookup(parent, name);
    if (node.type !== InodeType.DIR) throw new FsError('ENOTDIR', where(name, parent));
    if (node.children.size > 0) throw new FsError('ENOTEMPTY', where(name, parent));
    this.removeEntry(dir, name, timeMs);
    this.removeDir(dir, node);
  }

  /** POSIX rename; returns the chunk ids freed when it replaced a file's last name. */
  rename(p: RenameParams): number[] {
    const src = this.dir(p.srcParent);
    const dst = this.dir(p.dstParent);
    if (isDotName(p.srcName) || isDotName(p.dstName)) {
      throw new FsError('EINVAL', 'rename of . or ..');
    }
    checkName(p.dstName);
    const node = this.lookup(p.srcParent, p.srcName);
    const targetInode = dst.children.get(p.dstName);
    if (targetInode === node.inode) return []; // the same file under both names: nothing to do
    if (node.type === InodeType.DIR) this.checkNotInSubtree(node, dst);
    const target = targetInode === undefined ? undefined : this.node(targetInode);
    if (target !== undefined) checkReplaceable(node, target);
    // Checks done: from here on nothing throws.
    let freed: number[] = [];
    if (target !== undefined) {
      this.removeEntry(dst, p.dstName, p.timeMs);
      if (target.type === InodeType.DIR) this.removeDir(dst, target);
      else freed = this.dropLink(target, p.timeMs);
    }
    this.removeEntry(src, p.srcName, p.timeMs);
    this.addEntry(dst, p.dstName, node.inode, p.timeMs);
    if (node.type === InodeType.DIR && src !== dst) {
      src.nlink--;
      dst.nlink++;
      node.parent = dst.inode;
    }
    node.ctimeMs = p.timeMs;
    return freed;
  }

  /**
   * renameat2 RENAME_EXCHANGE: the two names swap what they refer to; both must exist. Nothing
   * is freed; a directory moved to the other folder may not land inside itself.
   */
  exchange(p: RenameParams): void {
    const src = this.dir(p.srcParent);
    const dst = this.dir(p.dstParent);
    if (isDotName(p.srcName) || isDotName(p.dstName)) {
      throw new FsError('EINVAL', 'exchange of . or ..');
    }
    const a = this.lookup(p.srcParent, p.srcName);
    const b = this.lookup(p.dstParent, p.dstName);
    if (a.inode === b.inode) return; // the same file under both names: nothing to do
    if (src !== dst) {
      if (a.type === InodeType.DIR) this.checkNotInSubtree(a, dst);
      if (b.type === InodeType.DIR) this.checkNotInSubtree(b, src);
    }
    // Checks done: from here on nothing throws. The names stay; only what they refer to moves.
    src.children.set(p.srcName, b.inode);
    dst.children.set(p.dstName, a.inode);
    for (const dir of [src, dst]) {
      dir.mtimeMs = p.timeMs;
      dir.ctimeMs = p.timeMs;
    }
    if (src !== dst) {
      const moved = (node: Node, from: DirNode, to: DirNode): void => {
        if (node.type !== InodeType.DIR) return;
        from.nlink--;
        to.nlink++;
        node.parent = to.inode;
      };
      moved(a, src, dst);
      moved(b, dst, src);
    }
    a.ctimeMs = p.timeMs;
    b.ctimeMs = p.timeMs;
  }

  link(inode: number, parent: number, name: string, timeMs: number): Node {
    const dir = this.dir(parent);
    const node = this.node(inode);
    if (node.type === InodeType.DIR) throw new FsError('EPERM', 'hard link to a directory');
    if (isDotName(name)) throw new FsError('EEXIST', name);
    checkName(name);
    if (dir.children.has(name)) throw new FsError('EEXIST', where(name, parent));
    this.addEntry(dir, name, inode, timeMs);
    node.nlink++;
    node.ctimeMs = timeMs;
    return node;
  }

  setattr(p: SetattrParams): Node {
    const node = this.node(p.inode);
    if ((p.setMask & ~SETATTR_PLAIN_MASK) !== 0) {
      throw new FsError('EINVAL', `setMask ${p.setMask}`);
    }
    if (p.setMask & SetAttr.MODE) node.mode = p.mode & MODE_MASK;
    if (p.setMask & SetAttr.UID) node.uid = p.uid;
    if (p.setMask & SetAttr.GID) node.gid = p.gid;
    if (p.setMask & SetAttr.ATIME) node.atimeMs = p.atimeMs;
    if (p.setMask & SetAttr.MTIME) node.mtimeMs = p.mtimeMs;
    node.ctimeMs = p.timeMs;
    return node;
  }

  /** Sets a file's length; unless it grows, whole chunks past the new end are released. */
  truncate(inode: number, lengthBytes: number, timeMs: number): number[] {
    const file = this.file(inode);
    if (lengthBytes > FILE_LENGTH_MAX_BYTES) throw new FsError('EFBIG', `length ${lengthBytes}`);
    let freed: number[] = [];
    // Not only a shrink: at the same length, chunks past the end (writes that never reached
    // WRITE_END) go too, so a later grow reads zeros there.
    if (lengthBytes <= file.lengthBytes) {
      freed = cutChunks(file, Math.ceil(lengthBytes / CHUNK_SIZE_BYTES));
    }
    file.lengthBytes = lengthBytes;
    file.mtimeMs = timeMs;
    file.ctimeMs = timeMs;
    return freed;
  }

  /** Puts a new chunk into a hole of a file. */
  setChunk(inode: number, chunkIndex: number, chunkId: number): void {
    const file = this.file(inode);
    assert(chunkId > 0, 'a chunk id is never 0');
    assert(!file.chunks.has(chunkIndex), `chunk index ${chunkIndex} of ${inode} is a hole`);
    assert(chunkIndex < FILE_LENGTH_MAX_BYTES / CHUNK_SIZE_BYTES,
      `chunk index ${chunkIndex} in range`);
    file.setChunk(chunkIndex, chunkId);
  }

  /** The end of a write: the file grows to `lengthBytes` if that is larger; mtime is set. */
  writeEnd(inode: number, lengthBytes: number, timeMs: number): FileNode {
    const file = this.file(inode);
    if (lengthBytes > FILE_LENGTH_MAX_BYTES) throw new FsError('EFBIG', `length ${lengthBytes}`);
    file.lengthBytes = Math.max(file.lengthBytes, lengthBytes);
    file.mtimeMs = timeMs;
    file.ctimeMs = timeMs;
    return file;
  }

  setGoal(inode: number, goal: number, recursive: boolean, timeMs: number): number {
    if (!Number.isInteger(goal) || goal < 1 || goal > GOAL_MAX) {
      throw new FsError('EINVAL', `goal ${goal} outside 1..${GOAL_MAX}`);
    }
    return this.walk(inode, recursive, (node) => {
      if (node.goal === goal) return false;
      node.goal = goal;
      node.ctimeMs = timeMs;
      return true;
    });
  }

  setTrashtime(inode: number, trashtimeS: number, recursive: boolean, timeMs: number): number {
    return this.walk(inode, recursive, (node) => {
      if (node.trashtimeS === trashtimeS) return false;
      node.trashtimeS = trashtimeS;
      node.ctimeMs = timeMs;
      return true;
    });
  }

  /** Up to `entriesMax` entries with names after `cursor`, in name order. */
  readdir(inode: number, cursor: string, entriesMax: number): ReaddirPage {
    const dir = this.dir(inode);
    assert(entriesMax > 0, 'readdir asks for at least one entry');
    if (dir.sortedNames === null) dir.sortedNames = [...dir.children.keys()].sort();
    const names = dir.sortedNames;
    const lo = firstAfter(names, cursor);
    const entries: ReaddirPage['entries'] = [];
    for (let i = lo; i < names.length && entries.length < entriesMax; i++) {
      const name = names[i]!;
      entries.push({ name, node: this.node(dir.children.get(name)!) });
    }
    const end = lo + entries.length >= names.length;
    const nextCursor = entries.length > 0 ? entries[entries.length - 1]!.name : cursor;
    return { entries, nextCursor, end };
  }

  /** Dump loading: adds an entry without times or link counts (checkRestored fixes and checks). */
  restoreEntry(parent: number, name: string, child: number): void {
    const dir = this.dir(parent);
    checkName(name);
    if (dir.children.has(name)) throw new FsError('EEXIST', `restored ${name} twice in ${parent}`);
    const node = this.node(child);
    if (node.type === InodeType.DIR) {
      if (node.parent !== 0) throw new FsError('EINVAL', `directory ${child} under two parents`);
      node.parent = parent;
    }
    dir.children.set(name, child);
  }

  /** Dump loading: every inode reachable, link counts as stored. Returns a reason or null. */
  checkRestored(): string | null {
    const root = this.inodes.get(ROOT_INODE);
    if (root === undefined || root.type !== InodeType.DIR) return 'no root directory';
    root.parent = ROOT_INODE;
    const names = new Map<number, number>();
    const stack: DirNode[] = [root];
    let reached = 1;
    while (stack.length > 0) {
      const dir = stack.pop()!;
      let subdirs = 0;
      for (const child of dir.children.values()) {
        const node = this.node(child);
        const seen = names.get(child) ?? 0;
        names.set(child, seen + 1);
        if (seen === 0) reached++;
        if (node.type === InodeType.DIR) {
          subdirs++;
          if (seen > 0 || node.parent !== dir.inode) return `directory ${child} linked twice`;
          stack.push(node);
        }
      }
      if (dir.nlink !== 2 + subdirs) return `directory ${dir.inode} nlink ${dir.nlink}`;
    }
    if (reached !== this.inodes.size) return `${this.inodes.size - reached} inodes unreachable`;
    for (const node of this.inodes.values()) {
      if (node.type === InodeType.DIR) continue;
      if (node.nlink !== names.get(node.inode)) return `inode ${node.inode} nlink ${node.nlink}`;
    }
    return null;
  }

  private addEntry(dir: DirNode, name: string, inode: number, timeMs: number): void {
    assert(!dir.children.has(name), `entry ${name} is new in ${dir.inode}`);
    dir.children.set(name, inode);
    // A listed directory keeps its sorted names up to date (one binary search and a splice)
    // rather than re-sorting everything on the next page.
    const sorted = dir.sortedNames;
    if (sorted !== null) sorted.splice(firstAfter(sorted, name), 0, name);
    dir.mtimeMs = timeMs;
    dir.ctimeMs = timeMs;
  }

  private removeEntry(dir: DirNode, name: string, timeMs: number): void {
    assert(dir.children.delete(name), `entry ${name} exists in ${dir.inode}`);
    if (dir.sortedNames !== null) {
      const at = firstAfter(dir.sortedNames, name) - 1;
      assert(dir.sortedNames[at] === name, `sorted names of ${dir.inode} hold ${name}`);
      dir.sortedNames.splice(at, 1);
    }
    dir.mtimeMs = timeMs;
    dir.ctimeMs = timeMs;
  }

  /** An empty directory whose entry is gone leaves the table. */
  private removeDir(parent: DirNode, dir: DirNode): void {
    assert(dir.children.size === 0, `directory ${dir.inode} is empty`);
    parent.nlink--;
    this.inodes.remove(dir);
    assert(!this.inodes.has(dir.inode), 'a removed directory is unreachable');
  }

  /** One name of a file or symlink is gone; at zero the inode goes and its chunks are freed. */
  private dropLink(node: Node, timeMs: number): number[] {
    assert(node.type !== InodeType.DIR, 'directories are removed by removeDir');
    assert(node.nlink > 0, `inode ${node.inode} had a link`);
    node.nlink--;
    node.ctimeMs = timeMs;
    if (node.nlink > 0) return [];
    this.inodes.remove(node);
    return node.type === InodeType.FILE ? [...node.chunks.values()] : [];
  }

  /** EINVAL if `dst` is `dir` itself or lies inside it (a directory cannot move into itself). */
  private checkNotInSubtree(dir: DirNode, dst: DirNode): void {
    let at = dst;
    for (let depth = 0; depth <= this.inodes.size; depth++) {
      if (at.inode === dir.inode) {
        throw new FsError('EINVAL', 'a directory cannot move into itself');
      }
      if (at.inode === ROOT_INODE) return;
      at = this.dir(at.parent);
    }
    assert(false, `directory ${dst.inode} has a parent loop`);
  }

  /** Applies `change` to the node (and, if recursive, everything under it); counts changes. */
  private walk(inode: number, recursive: boolean, change: (node: Node) => boolean): number {
    const start = this.node(inode);
    let changed = 0;
    const stack: Node[] = [start];
    while (stack.length > 0) {
      const node = stack.pop()!;
      if (change(node)) changed++;
      if (!recursive || node.type !== InodeType.DIR) continue;
      for (const child of node.children.values()) {
        const c = this.node(child);
        // A file with several names is visited once per name; change() is idempotent.
        stack.push(c);
      }
    }
    return changed;
  }
}

function checkSymlinkTarget(target: string): void {
  if (target.length === 0) throw new FsError('ENOENT', 'empty symlink target');
  if (Buffer.byteLength(target) > SYMLINK_MAX_BYTES) {
    throw new FsError('ENAMETOOLONG', 'symlink target');
  }
  if (target.includes('\0')) throw new FsError('EINVAL', 'NUL in symlink target');
}

/** POSIX rules for a rename that replaces an existing entry. */
function checkReplaceable(node: Node, target: Node): void {
  if (node.type === InodeType.DIR) {
    if (target.type !== InodeType.DIR) {
      throw new FsError('ENOTDIR', 'a directory cannot replace a file');
    }
    if (target.children.size > 0) throw new FsError('ENOTEMPTY', `directory ${target.inode}`);
  } else if (target.type === InodeType.DIR) {
    throw new FsError('EISDIR', 'a file cannot replace a directory');
  }
}
