// The inodes the kernel holds, with its lookup reference counts: every entry we hand the kernel
// (LOOKUP, CREATE, MKDIR, MKNOD, SYMLINK, LINK, READDIRPLUS) counts one, FORGET gives counts
// back, and a node at zero is dropped with what we remember about it (the version of its data
// that the kernel's page cache holds). The root is held from mount to unmount. Node ids are the
// master's inode numbers, which are never reused, so no generation numbers are needed.
import { assert } from '@antlerfs/protocol';
import { FUSE_ROOT_ID } from './kernel-abi.ts';

interface NodeState {
  lookups: number;
  /** `length:mtimeMs` of the file when the kernel last cached its pages ('' = unknown). */
  cachedVersion: string;
  /** kernelVersion() of the attributes last handed to the kernel ('' = unknown). */
  kernelAttr: string;
}

export class NodeTable {
  private readonly nodes = new Map<number, NodeState>();
  /** Forgets for nodes we did not know (a counting bug of ours; logged by the caller). */
  unknownForgets = 0;

  constructor() {
    this.nodes.set(FUSE_ROOT_ID, { lookups: 1, cachedVersion: '', kernelAttr: '' });
  }

  get size(): number {
    return this.nodes.size;
  }

  lookups(nodeid: number): number {
    return this.nodes.get(nodeid)?.lookups ?? 0;
  }

  /** The kernel received an entry for `nodeid`. */
  remember(nodeid: number): void {
    if (!Number.isSafeInteger(nodeid) || nodeid < FUSE_ROOT_ID) assert(false, `node id ${nodeid}`);
    const node = this.nodes.get(nodeid);
    if (node !== undefined) node.lookups++;
    else this.nodes.set(nodeid, { lookups: 1, cachedVersion: '', kernelAttr: '' });
  }

  /** FORGET: the kernel gives back `count` lookups. Returns false for an unknown node. */
  forget(nodeid: number, count: number): boolean {
    const node = this.nodes.get(nodeid);
    if (node === undefined || count > node.lookups) {
      this.unknownForgets++;
      if (node !== undefined && nodeid !== FUSE_ROOT_ID) this.nodes.delete(nodeid);
      return false;
    }
    node.lookups -= count;
    assert(node.lookups >= 0, 'lookup count stays >= 0');
    if (node.lookups === 0 && nodeid !== FUSE_ROOT_ID) this.nodes.delete(nodeid);
    return true;
  }

  /**
   * Records the version of a file's data the kernel is about to cache and compares it with the
   * one it cached at the previous open: 'same' (its pages may stay), 'changed' or 'unknown'.
   */
  noteCachedVersion(nodeid: number, version: string): 'same' | 'changed' | 'unknown' {
    const node = this.nodes.get(nodeid);
    if (node === undefined) return 'unknown';
    const before = node.cachedVersion;
    node.cachedVersion = version;
    if (before === '') return 'unknown';
    return before === version ? 'same' : 'changed';
  }

  /** The data changed through this mount: the next open must not keep cached pages blindly. */
  dataChanged(nodeid: number): void {
    const node = this.nodes.get(nodeid);
    if (node !== undefined) {
      node.cachedVersion = '';
      node.kernelAttr = '';
    }
  }

  /** The kernel received attributes of `nodeid` whose size and mtime make `version`. */
  noteKernelAttr(nodeid: number, version: string): void {
    const node = this.nodes.get(nodeid);
    if (node !== undefined) node.kernelAttr = version;
  }

  /** True when the kernel was last given attributes of this `version` (its size is right). */
  kernelHas(nodeid: number, version: string): boolean {
    return version !== '' && this.nodes.get(nodeid)?.kernelAttr === version;
  }
}
