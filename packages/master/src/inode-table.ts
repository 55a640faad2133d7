// The inodes of the namespace: their shapes (directory, regular file, symlink), the table that
// owns them by number, and their wire attributes. No tree rules live here (namespace.ts has
// them). Invariant: every inode in the table is reachable from the root by at least one name.
import {
  ATTR, InodeType, ROOT_INODE, assert, assertNever, type InodeTypeCode, type Struct,
} from '@antlerfs/protocol';

export type Attr = Struct<typeof ATTR>;

/** Largest inode number: inodes are u32 on the wire. */
export const INODE_MAX = 0xffffffff;
/** Permission bits (and setuid/setgid/sticky) a mode may hold. */
export const MODE_MASK = 0o7777;

export interface NodeInit {
  inode: number;
  mode: number;
  uid: number;
  gid: number;
  timeMs: number;
  goal: number;
  trashtimeS: number;
}

// Classes rather than object literals: one hidden class per type keeps the hot loops
// (dumps, listings) monomorphic.
abstract class NodeBase {
  readonly inode: number;
  mode: number;
  uid: number;
  gid: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  /** Names pointing here; for a directory 2 + its subdirectories. */
  nlink = 1;
  goal: number;
  trashtimeS: number;

  constructor(init: NodeInit) {
    this.inode = init.inode;
    this.mode = init.mode & MODE_MASK;
    this.uid = init.uid;
    this.gid = init.gid;
    this.atimeMs = init.timeMs;
    this.mtimeMs = init.timeMs;
    this.ctimeMs = init.timeMs;
    this.goal = init.goal;
    this.trashtimeS = init.trashtimeS;
  }
}

export class DirNode extends NodeBase {
  readonly type = InodeType.DIR;
  /** The one directory holding this one (the root is its own parent). */
  parent: number;
  readonly children = new Map<string, number>();
  /** Names in sorted order for paged listing: built by the first listing, then kept current. */
  sortedNames: string[] | null = null;

  constructor(init: NodeInit, parent: number) {
    super(init);
    this.nlink = 2;
    this.parent = parent;
  }
}

export class FileNode extends NodeBase {
  readonly type = InodeType.FILE;
  lengthBytes = 0;
  /** Chunk id by chunk index; a missing index is a hole (a map, so sparse files stay small). */
  readonly chunks = new Map<number, number>();
}

export class SymlinkNode extends NodeBase {
  readonly type = InodeType.SYMLINK;
  readonly target: string;

  constructor(init: NodeInit, target: string) {
    super({ ...init, mode: 0o777 });
    this.target = target;
  }
}

export type Node = DirNode | FileNode | SymlinkNode;

export function newDir(init: NodeInit, parent: number): DirNode {
  return new DirNode(init, parent);
}

export function newFile(init: NodeInit): FileNode {
  return new FileNode(init);
}

export function newSymlink(init: NodeInit, target: string): SymlinkNode {
  return new SymlinkNode(init, target);
}

/** The inode table: number -> node, with counts by type for statfs and the monitor. */
export class InodeTable {
  private readonly nodes = new Map<number, Node>();
  private readonly countByType = {
    [InodeType.FILE]: 0, [InodeType.DIR]: 0, [InodeType.SYMLINK]: 0,
  };

  get size(): number {
    return this.nodes.size;
  }

  count(type: InodeTypeCode): number {
    return this.countByType[type];
  }

  get(inode: number): Node | undefined {
    return this.nodes.get(inode);
  }

  has(inode: number): boolean {
    return this.nodes.has(inode);
  }

  add(node: Node): void {
    assert(!this.nodes.has(node.inode), `inode ${node.inode} added twice`);
    assert(node.inode >= ROOT_INODE && node.inode <= INODE_MAX, `inode ${node.inode} in range`);
    this.nodes.set(node.inode, node);
    this.countByType[node.type]++;
  }

  remove(node: Node): void {
    assert(this.nodes.get(node.inode) === node, `inode ${node.inode} removed twice`);
    assert(node.inode !== ROOT_INODE, 'the root is never removed');
    this.nodes.delete(node.inode);
    this.countByType[node.type]--;
  }

  values(): IterableIterator<Node> {
    return this.nodes.values();
  }
}

/** Bytes a listing shows for a node: file length, symlink target length, directory entries. */
export function nodeLengthBytes(node: Node): number {
  switch (node.type) {
    case InodeType.FILE: return node.lengthBytes;
    case InodeType.SYMLINK: return Buffer.byteLength(node.target);
    case InodeType.DIR: return node.children.size;
    default: return assertNever(node, 'inode type');
  }
}

export function attrOf(node: Node): Attr {
  return {
    inode: node.inode, type: node.type, mode: node.mode, uid: node.uid, gid: node.gid,
    atimeMs: node.atimeMs, mtimeMs: node.mtimeMs, ctimeMs: node.ctimeMs, nlink: node.nlink,
    length: nodeLengthBytes(node), goal: node.goal, trashtimeS: node.trashtimeS,
  };
}
