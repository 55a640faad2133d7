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
  declare readonly type: typeof InodeType.DIR;
  /** The one directory holding this one (the root is its own parent). */
  parent: number;
  readonly children = new Map<string, number>();
  /** Names in sorted order for paged listing: built by the first listing, then kept current. */
  sortedNames: string[] | null = null;
  /**
   * Metadata version of the last change of its names (set by Metadata.apply; 0 until then: the
   * version loaded stands in for it).
   */
  namesVersion = 0;

  constructor(init: NodeInit, parent: number) {
    super(init);
    this.nlink = 2;
    this.parent = parent;
  }
}

/** The chunks of a file without any: one shared empty map, never written. */
const NO_CHUNKS: ReadonlyMap<number, number> = new Map();

export class FileNode extends NodeBase {
  declare readonly type: typeof InodeType.FILE;
  lengthBytes = 0;
  /**
   * Chunk id by chunk index; a missing index is a hole (a map, so sparse files stay small).
   * Made by the first chunk: most files of a large namespace are small or empty, and an empty
   * Map costs more than the rest of the node.
   */
  private chunkMap: Map<number, number> | null = null;

  get chunks(): ReadonlyMap<number, number> {
    return this.chunkMap ?? NO_CHUNKS;
  }

  setChunk(chunkIndex: number, chunkId: number): void {
    if (this.chunkMap === null) this.chunkMap = new Map();
    this.chunkMap.set(chunkIndex, chunkId);
  }

  /** Removes the chunk at `chunkIndex`; the map goes with the last one. */
  deleteChunk(chunkIndex: number): void {
    const map = this.chunkMap;
    assert(map !== null && map.delete(chunkIndex), `chunk index ${chunkIndex} of ${this.inode}`);
    if (map.size === 0) this.chunkMap = null;
  }
}

export class SymlinkNode extends NodeBase {
  declare readonly type: typeof InodeType.SYMLINK;
  readonly target: string;

  constructor(init: NodeInit, target: string) {
    super({ ...init, mode: 0o777 });
    this.target = target;
  }
}

export type Node = DirNode | FileNode | SymlinkNode;

// The type lives on each class's prototype, not in every node (one field less per inode).
for (const [cls, type] of [
  [DirNode, InodeType.DIR], [FileNode, InodeType.FILE], [SymlinkNode, InodeType.SYMLINK],
] as const) {
  Object.defineProperty(cls.prototype, 'type', { value: type, enumerable: true });
}

export function newDir(init: NodeInit, parent: number): DirNode {
  return new DirNode(init, parent);
}

export function newFile(init: NodeInit): FileNode {
  return new FileNode(init);
}

export function newSymlink(init: NodeInit, target: string): SymlinkNode {
  return new SymlinkNode(init, target);
}

/** Inodes per page of the table: numbers are handed out in order, so pages fill densely. */
export const INODE_PAGE_SIZE = 1024;
const INODE_PAGE_SHIFT = 10;
assert(1 << INODE_PAGE_SHIFT === INODE_PAGE_SIZE, 'the page shift matches the page size');

/** One page of the table: nodes by inode number within the page, and how many it holds. */
interface InodePage {
  readonly nodes: (Node | undefined)[];
  count: number;
}

/**
 * The inode table: number -> node, with counts by type for statfs and the monitor. Pages of
 * INODE_PAGE_SIZE slots (a pointer each) rather than one Map entry per inode: a third of the
 * memory, and a page goes once its last inode does. Iteration is by page, then by number.
 */
export class InodeTable {
  private readonly pages = new Map<number, InodePage>();
  private nodeCount = 0;
  private readonly countByType = {
    [InodeType.FILE]: 0, [InodeType.DIR]: 0, [InodeType.SYMLINK]: 0,
  };

  get size(): number {
    return this.nodeCount;
  }

  count(type: InodeTypeCode): number {
    return this.countByType[type];
  }

  get(inode: number): Node | undefined {
    return this.pages.get(Math.floor(inode / INODE_PAGE_SIZE))?.nodes[inode % INODE_PAGE_SIZE];
  }

  has(inode: number): boolean {
    return this.get(inode) !== undefined;
  }

  add(node: Node): void {
    assert(node.inode >= ROOT_INODE && node.inode <= INODE_MAX, `inode ${node.inode} in range`);
    const pageIndex = Math.floor(node.inode / INODE_PAGE_SIZE);
    let page = this.pages.get(pageIndex);
    if (page === undefined) {
      page = { nodes: new Array<Node | undefined>(INODE_PAGE_SIZE).fill(undefined), count: 0 };
      this.pages.set(pageIndex, page);
    }
    const slot = node.inode % INODE_PAGE_SIZE;
    assert(page.nodes[slot] === undefined, `inode ${node.inode} added twice`);
    page.nodes[slot] = node;
    page.count++;
    this.nodeCount++;
    this.countByType[node.type]++;
  }

  remove(node: Node): void {
    const pageIndex = Math.floor(node.inode / INODE_PAGE_SIZE);
    const page = this.pages.get(pageIndex);
    const slot = node.inode % INODE_PAGE_SIZE;
    assert(page !== undefined && page.nodes[slot] === node, `inode ${node.inode} removed twice`);
    assert(node.inode !== ROOT_INODE, 'the root is never removed');
    page.nodes[slot] = undefined;
    page.count--;
    if (page.count === 0) this.pages.delete(pageIndex);
    this.nodeCount--;
    this.countByType[node.type]--;
  }

  /** Every node; nodes added or removed meanwhile may or may not be seen (as with a Map). */
  *values(): Generator<Node, void, undefined> {
    for (const page of this.pages.values()) {
      const nodes = page.nodes;
      for (let slot = 0; slot < INODE_PAGE_SIZE; slot++) {
        const node = nodes[slot];
        if (node !== undefined) yield node;
      }
    }
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
