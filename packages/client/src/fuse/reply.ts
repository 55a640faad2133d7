// Encodes reply bodies for the kernel: entries, attributes, open handles, statfs, init, and
// directory listings packed into the size the kernel asked for. The fuse_out_header is not made
// here: the device writes it in front of these buffers (one writev per reply).
import { assert } from '@antlerfs/protocol';
import {
  ATTR, ATTR_OUT_BYTES, ATTR_OUT_HEAD, DIRENT_HEAD, direntRecordBytes, ENTRY_OUT_BYTES,
  ENTRY_OUT_HEAD, GETXATTR_OUT, INIT_OUT, NOTIFY_INVAL_INODE_OUT, OPEN_OUT, STATFS_OUT, WRITE_OUT,
} from './kernel-abi.ts';
import { splitMs, type KernelAttr } from './kernel-attr.ts';
import { writeStruct, type StructValue } from './struct-codec.ts';

export interface CacheTimeouts {
  /** How long the kernel may trust a name -> inode answer. */
  entryMs: number;
  /** How long the kernel may trust attributes. */
  attrMs: number;
}

/** fuse_entry_out for `attr`; nodeid 0 with a timeout is a cached "does not exist". */
export function entryOut(attr: KernelAttr | null, t: CacheTimeouts): Buffer {
  const buf = Buffer.alloc(ENTRY_OUT_BYTES);
  writeEntryInto(buf, 0, attr, t);
  return buf;
}

function writeEntryInto(buf: Buffer, at: number, attr: KernelAttr | null, t: CacheTimeouts): void {
  const entry = splitMs(t.entryMs);
  const attrValid = splitMs(t.attrMs);
  const end = writeStruct(ENTRY_OUT_HEAD, {
    nodeid: attr?.ino ?? 0, generation: 0, entryValid: entry.seconds,
    entryValidNsec: entry.nanoseconds, attrValid: attrValid.seconds,
    attrValidNsec: attrValid.nanoseconds,
  }, buf, at);
  if (attr !== null) writeStruct(ATTR, attr, buf, end);
}

export function attrOut(attr: KernelAttr, attrMs: number): Buffer {
  const buf = Buffer.alloc(ATTR_OUT_BYTES);
  const valid = splitMs(attrMs);
  const end = writeStruct(ATTR_OUT_HEAD, {
    attrValid: valid.seconds, attrValidNsec: valid.nanoseconds,
  }, buf, 0);
  writeStruct(ATTR, attr, buf, end);
  return buf;
}

export function openOut(fh: number, openFlags: number): Buffer {
  const buf = Buffer.alloc(OPEN_OUT.sizeBytes);
  writeStruct(OPEN_OUT, { fh, openFlags }, buf, 0);
  return buf;
}

/** CREATE answers with an entry followed by an open handle. */
export function createOut(
  attr: KernelAttr, t: CacheTimeouts, fh: number, openFlags: number,
): Buffer {
  const buf = Buffer.alloc(ENTRY_OUT_BYTES + OPEN_OUT.sizeBytes);
  writeEntryInto(buf, 0, attr, t);
  writeStruct(OPEN_OUT, { fh, openFlags }, buf, ENTRY_OUT_BYTES);
  return buf;
}

export function writeOut(sizeBytes: number): Buffer {
  const buf = Buffer.alloc(WRITE_OUT.sizeBytes);
  writeStruct(WRITE_OUT, { size: sizeBytes }, buf, 0);
  return buf;
}

export function getxattrOut(sizeBytes: number): Buffer {
  const buf = Buffer.alloc(GETXATTR_OUT.sizeBytes);
  writeStruct(GETXATTR_OUT, { size: sizeBytes }, buf, 0);
  return buf;
}

export type StatfsValue = Partial<StructValue<(typeof STATFS_OUT.fields)[number]['key']>>;

export function statfsOut(value: StatfsValue): Buffer {
  const buf = Buffer.alloc(STATFS_OUT.sizeBytes);
  writeStruct(STATFS_OUT, value, buf, 0);
  return buf;
}

export type InitOutValue = Partial<StructValue<(typeof INIT_OUT.fields)[number]['key']>>;

export function initOut(value: InitOutValue): Buffer {
  const buf = Buffer.alloc(INIT_OUT.sizeBytes);
  writeStruct(INIT_OUT, value, buf, 0);
  return buf;
}

/** FUSE_NOTIFY_INVAL_INODE of the attributes only (offset -1: no cached pages). */
export function invalInodeOut(inode: number): Buffer {
  const buf = Buffer.alloc(NOTIFY_INVAL_INODE_OUT.sizeBytes);
  writeStruct(NOTIFY_INVAL_INODE_OUT, { ino: inode, off: -1, len: 0 }, buf, 0);
  return buf;
}

/** One directory entry as READDIR lists it. */
export interface DirentValue {
  name: string;
  ino: number;
  /** d_type (DirentType). */
  type: number;
  /** Offset of the entry after this one: where a later READDIR resumes. */
  nextOffset: number;
  /** READDIRPLUS: the entry's attributes (null: the kernel is told nothing, as for . and ..). */
  attr?: KernelAttr | null;
}

/**
 * Packs directory records (fuse_dirent, or fuse_direntplus with `plus`) into at most
 * `sizeMaxBytes`, as the kernel asked. add() refuses a record that does not fit.
 */
export class DirentPacker {
  private readonly buf: Buffer;
  private usedBytes = 0;
  private readonly plus: boolean;
  private readonly timeouts: CacheTimeouts;
  count = 0;

  constructor(sizeMaxBytes: number, plus: boolean, timeouts: CacheTimeouts) {
    assert(sizeMaxBytes >= 0, 'readdir size is not negative');
    this.buf = Buffer.alloc(sizeMaxBytes);
    this.plus = plus;
    this.timeouts = timeouts;
  }

  add(e: DirentValue): boolean {
    const nameBytes = Buffer.byteLength(e.name);
    const head = (this.plus ? ENTRY_OUT_BYTES : 0) + DIRENT_HEAD.sizeBytes;
    const recordBytes = direntRecordBytes(head, nameBytes);
    if (this.usedBytes + recordBytes > this.buf.length) return false;
    let at = this.usedBytes;
    if (this.plus) {
      writeEntryInto(this.buf, at, e.attr ?? null, this.timeouts);
      at += ENTRY_OUT_BYTES;
    }
    at = writeStruct(DIRENT_HEAD, {
      ino: e.ino, off: e.nextOffset, namelen: nameBytes, type: e.type,
    }, this.buf, at);
    this.buf.write(e.name, at, 'utf8');
    // Padding bytes stay zero: the buffer was zero-filled.
    this.usedBytes += recordBytes;
    this.count++;
    return true;
  }

  result(): Buffer {
    return this.buf.subarray(0, this.usedBytes);
  }
}
