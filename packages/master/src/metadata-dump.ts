// Full metadata dumps: metadata.amd, with earlier ones kept as metadata.amd.back.1..N.
// Layout (big-endian):
//   header   magic "ANTLMD03" (8) metaVersion:64 createdMs:64 clusterId:str16
//   counters nextInode:32 chunkIdLimit:64 nextCsId:32
//   servers  count:32 { csId:32 }
//   inodes   count:32 { inode:32 type:8 mode:16 uid:32 gid:32 atimeMs:64 mtimeMs:64 ctimeMs:64
//            nlink:32 goal:8 trashtimeS:32, then file: length:64 n:32 { index:32 chunkId:64 },
//            symlink: target:str16 }
//   entries  count:32 { parent:32 child:32 name:str16 }
//   chunks   count:32 { chunkId:64 version:32 }
//   requests count:32 { clientId:64 n:32 { requestId:32 version:64 kind:8 changed:32 hasAttr:8
//            [attr: inode:32 type:8 mode:16 uid:32 gid:32 atimeMs:64 mtimeMs:64 ctimeMs:64
//            nlink:32 length:64 goal:8 trashtimeS:32] } }   (windows of applied requests)
//   drains   count:32 { csId:32 }   (chunkservers marked for removal)
//   trailer  records:64 crc32:32 magic "ANTLEND1" (8)     crc32 covers every byte before it
// The record count is asserted when written and checked when loaded. Dumps of the first
// layouts ("ANTLMD01": no cluster id, no requests; "ANTLMD02": no drains) still load.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { FsError, InodeType, assert, type InodeTypeCode } from '@antlerfs/protocol';
import { changeKindOf } from './change.ts';
import {
  newDir, newFile, newSymlink, type Attr, type Node, type NodeInit,
} from './inode-table.ts';
import { Metadata } from './metadata.ts';
import { Namespace } from './namespace.ts';
import type { AppliedRequest } from './request-window.ts';

export const DUMP_FILE = 'metadata.amd';
export const DUMP_TMP_FILE = 'metadata.amd.tmp';
const DUMP_MAGIC = Buffer.from('ANTLMD03');
/** Older layouts: loaded, never written. */
const DUMP_MAGIC_V2 = Buffer.from('ANTLMD02');
const DUMP_MAGIC_V1 = Buffer.from('ANTLMD01');
const END_MAGIC = Buffer.from('ANTLEND1');
const HEADER_BYTES = 24;
const TRAILER_BYTES = 20;
/** Size of each buffer the serializer fills; the dump is written as a list of them. */
const SLAB_BYTES = 1024 * 1024;
const BACK_PATTERN = /^metadata\.amd\.back\.(\d+)$/;

export function backFileName(generation: number): string {
  return `${DUMP_FILE}.back.${generation}`;
}

/** Appends big-endian values to a list of fixed-size slabs (DataView: inlined by the JIT). */
class SlabWriter {
  readonly slabs: Buffer[] = [];
  private slab = Buffer.allocUnsafe(SLAB_BYTES);
  private view = new DataView(this.slab.buffer, this.slab.byteOffset, this.slab.length);
  private o = 0;
  private doneBytes = 0;

  get totalBytes(): number {
    return this.doneBytes + this.o;
  }

  private room(n: number): void {
    if (this.o + n <= this.slab.length) return;
    this.slabs.push(this.slab.subarray(0, this.o));
    this.doneBytes += this.o;
    this.slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, n));
    this.view = new DataView(this.slab.buffer, this.slab.byteOffset, this.slab.length);
    this.o = 0;
  }

  u8(v: number): void { this.room(1); this.view.setUint8(this.o, v); this.o += 1; }
  u16(v: number): void { this.room(2); this.view.setUint16(this.o, v); this.o += 2; }
  u32(v: number): void { this.room(4); this.view.setUint32(this.o, v); this.o += 4; }
  u64(v: number): void {
    assert(Number.isSafeInteger(v) && v >= 0, `u64 ${v}`);
    this.room(8);
    this.view.setUint32(this.o, Math.floor(v / 0x100000000));
    this.view.setUint32(this.o + 4, v >>> 0);
    this.o += 8;
  }
  h64(v: bigint): void { this.room(8); this.view.setBigUint64(this.o, v); this.o += 8; }
  bytes(b: Buffer): void { this.room(b.length); b.copy(this.slab, this.o); this.o += b.length; }
  str(s: string): void {
    // Names are short: at most 3 bytes per UTF-16 unit bounds the room needed.
    this.room(2 + s.length * 3);
    const n = this.slab.write(s, this.o + 2, 'utf8');
    assert(n <= 0xffff, 'dump string fits u16');
    this.view.setUint16(this.o, n);
    this.o += 2 + n;
  }

  finish(): Buffer[] {
    this.slabs.push(this.slab.subarray(0, this.o));
    this.doneBytes += this.o;
    this.o = 0;
    return this.slabs;
  }
}

export interface SerializedDump {
  version: number;
  records: number;
  buffers: Buffer[];
  sizeBytes: number;
}

/** Serializes the whole metadata synchronously: a consistent snapshot at md.version. */
export function serializeDump(md: Metadata, createdMs: number): SerializedDump {
  const w = new SlabWriter();
  w.bytes(DUMP_MAGIC);
  w.u64(md.version);
  w.u64(createdMs);
  w.str(md.clusterId);
  w.u32(md.nextInode);
  w.u64(md.chunkIdLimit);
  w.u32(md.nextCsId);
  let records = 0;
  w.u32(md.csIds.size);
  for (const csId of md.csIds) { w.u32(csId); records++; }
  const inodes = md.namespace.inodes;
  w.u32(inodes.size);
  let entryCount = 0;
  for (const node of inodes.values()) {
    writeNode(w, node);
    records++;
    if (node.type === InodeType.DIR) entryCount += node.children.size;
  }
  w.u32(entryCount);
  for (const node of inodes.values()) {
    if (node.type !== InodeType.DIR) continue;
    for (const [name, child] of node.children) {
      w.u32(node.inode);
      w.u32(child);
      w.str(name);
      records++;
    }
  }
  w.u32(md.chunks.liveCount);
  let chunkCount = 0;
  for (const chunk of md.chunks.values()) {
    if (chunk.deleting) continue;
    w.u64(chunk.id);
    w.u32(chunk.version);
    chunkCount++;
  }
  assert(chunkCount === md.chunks.liveCount,
    `dumped ${chunkCount} of ${md.chunks.liveCount} chunks`);
  records += chunkCount;
  assert(records === md.csIds.size + inodes.size + entryCount + chunkCount, 'dump record count');
  records += writeRequests(w, md);
  w.u32(md.drainCsIds.size);
  for (const csId of md.drainCsIds) { w.u32(csId); records++; }
  w.u64(records);
  const buffers = w.finish();
  let crc = 0;
  for (const b of buffers) crc = zlib.crc32(b, crc);
  const trailer = Buffer.alloc(12);
  trailer.writeUInt32BE(crc, 0);
  END_MAGIC.copy(trailer, 4);
  buffers.push(trailer);
  return { version: md.version, records, buffers, sizeBytes: w.totalBytes + trailer.length };
}

function writeNode(w: SlabWriter, node: Node): void {
  w.u32(node.inode);
  w.u8(node.type);
  w.u16(node.mode);
  w.u32(node.uid);
  w.u32(node.gid);
  w.u64(node.atimeMs);
  w.u64(node.mtimeMs);
  w.u64(node.ctimeMs);
  w.u32(node.nlink);
  w.u8(node.goal);
  w.u32(node.trashtimeS);
  if (node.type === InodeType.FILE) {
    w.u64(node.lengthBytes);
    w.u32(node.chunks.size);
    for (const [index, chunkId] of node.chunks) { w.u32(index); w.u64(chunkId); }
  } else if (node.type === InodeType.SYMLINK) {
    w.str(node.target);
  }
}

/** The windows of applied requests; returns how many entries were written. */
function writeRequests(w: SlabWriter, md: Metadata): number {
  w.u32(md.requests.clientCount);
  let entries = 0;
  for (const [clientId, window] of md.requests.windows()) {
    w.h64(clientId);
    w.u32(window.length);
    for (const e of window) {
      w.u32(e.requestId);
      w.u64(e.version);
      w.u8(e.kind);
      w.u32(e.changed);
      w.u8(e.attr === null ? 0 : 1);
      if (e.attr !== null) writeAttr(w, e.attr);
      entries++;
    }
  }
  return entries;
}

function writeAttr(w: SlabWriter, a: Attr): void {
  w.u32(a.inode);
  w.u8(a.type);
  w.u16(a.mode);
  w.u32(a.uid);
  w.u32(a.gid);
  w.u64(a.atimeMs);
  w.u64(a.mtimeMs);
  w.u64(a.ctimeMs);
  w.u32(a.nlink);
  w.u64(a.length);
  w.u8(a.goal);
  w.u32(a.trashtimeS);
}

export class DumpCorruptError extends Error {
  override name = 'DumpCorruptError';
}

/** Bounds-checked reads of a dump buffer; any overrun is corruption. */
class DumpReader {
  o = 0;
  constructor(private readonly buf: Buffer, private readonly file: string) {}
  private need(n: number): void {
    if (this.o + n > this.buf.length) {
      throw new DumpCorruptError(`${this.file}: ends early at ${this.o}`);
    }
  }
  u8(): number { this.need(1); return this.buf[this.o++]!; }
  u16(): number { this.need(2); const v = this.buf.readUInt16BE(this.o); this.o += 2; return v; }
  u32(): number { this.need(4); const v = this.buf.readUInt32BE(this.o); this.o += 4; return v; }
  h64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.o);
    this.o += 8;
    return v;
  }
  u64(): number {
    this.need(8);
    const hi = this.buf.readUInt32BE(this.o);
    if (hi > 0x1fffff) throw new DumpCorruptError(`${this.file}: u64 above 2^53 at ${this.o}`);
    const v = hi * 0x100000000 + this.buf.readUInt32BE(this.o + 4);
    this.o += 8;
    return v;
  }
  str(): string {
    const n = this.u16();
    this.need(n);
    const s = this.buf.toString('utf8', this.o, this.o + n);
    this.o += n;
    return s;
  }
  count(minBytesEach: number): number {
    const n = this.u32();
    if (n * minBytesEach > this.buf.length - this.o) {
      throw new DumpCorruptError(`${this.file}: count ${n} cannot fit at ${this.o}`);
    }
    return n;
  }
}

/** Reads a dump's version from its header, or null if it has none. */
export function readDumpVersion(file: string): number | null {
  let fd: number;
  try { fd = fs.openSync(file, 'r'); } catch { return null; }
  try {
    const h = Buffer.alloc(HEADER_BYTES);
    if (fs.readSync(fd, h, 0, HEADER_BYTES, 0) < HEADER_BYTES) return null;
    if (dumpLayout(h) === null) return null;
    return h.readUInt32BE(8) * 0x100000000 + h.readUInt32BE(12);
  } finally {
    fs.closeSync(fd);
  }
}

/** 3 for the current layout, 2 or 1 for older ones, null if `header` is no dump's. */
function dumpLayout(header: Buffer): 1 | 2 | 3 | null {
  const magic = header.subarray(0, 8);
  if (magic.equals(DUMP_MAGIC)) return 3;
  if (magic.equals(DUMP_MAGIC_V2)) return 2;
  return magic.equals(DUMP_MAGIC_V1) ? 1 : null;
}

export interface LoadedDump {
  metadata: Metadata;
  records: number;
  createdMs: number;
}

/** Loads and checks a dump (magic, checksum, record count, tree and chunk consistency). */
export function loadDump(file: string): LoadedDump {
  const buf = fs.readFileSync(file);
  if (buf.length < HEADER_BYTES + TRAILER_BYTES) throw new DumpCorruptError(`${file}: too short`);
  const layout = dumpLayout(buf);
  if (layout === null) throw new DumpCorruptError(`${file}: bad magic`);
  if (!buf.subarray(buf.length - 8).equals(END_MAGIC)) {
    throw new DumpCorruptError(`${file}: no end marker (a dump cut short)`);
  }
  const crcAt = buf.length - 12;
  if (zlib.crc32(buf.subarray(0, crcAt)) !== buf.readUInt32BE(crcAt)) {
    throw new DumpCorruptError(`${file}: checksum mismatch`);
  }
  const r = new DumpReader(buf.subarray(0, crcAt), file);
  r.o = 8;
  const version = r.u64();
  const createdMs = r.u64();
  const clusterId = layout === 1 ? '' : r.str();
  const nextInode = r.u32();
  const chunkIdLimit = r.u64();
  const nextCsId = r.u32();
  const md = new Metadata(new Namespace());
  md.version = version;
  md.loadedVersion = version;
  md.nextInode = nextInode;
  md.chunkIdLimit = chunkIdLimit;
  md.nextCsId = nextCsId;
  md.clusterId = clusterId;
  let records = 0;
  const servers = r.count(4);
  for (let i = 0; i < servers; i++) { md.csIds.add(r.u32()); records++; }
  records += readInodes(r, md);
  records += readEntries(r, md, file);
  const chunks = r.count(12);
  for (let i = 0; i < chunks; i++) {
    const id = r.u64();
    const v = r.u32();
    if (id === 0 || id >= chunkIdLimit || v === 0 || md.chunks.get(id) !== undefined) {
      throw new DumpCorruptError(`${file}: bad chunk ${id} version ${v}`);
    }
    md.chunks.add(id, v);
    records++;
  }
  if (layout >= 2) records += readRequests(r, md, file);
  if (layout >= 3) {
    const drains = r.count(4);
    for (let i = 0; i < drains; i++) {
      const csId = r.u32();
      if (!md.csIds.has(csId)) throw new DumpCorruptError(`${file}: drain of unknown ${csId}`);
      md.drainCsIds.add(csId);
      records++;
    }
  }
  const stored = r.u64();
  if (stored !== records) {
    throw new DumpCorruptError(`${file}: ${records} records, trailer says ${stored}`);
  }
  if (r.o !== crcAt) throw new DumpCorruptError(`${file}: ${crcAt - r.o} bytes after the records`);
  const refs = md.chunks.restoreRefs(md.fileChunkIds());
  if (refs !== null) throw new DumpCorruptError(`${file}: ${refs}`);
  return { metadata: md, records, createdMs };
}

function readInodes(r: DumpReader, md: Metadata): number {
  const count = r.count(48); // the fixed part of an inode record
  for (let i = 0; i < count; i++) {
    const inode = r.u32();
    const type = r.u8() as InodeTypeCode;
    const init: NodeInit = {
      inode, mode: r.u16(), uid: r.u32(), gid: r.u32(), timeMs: 0, goal: 0, trashtimeS: 0,
    };
    const atimeMs = r.u64();
    const mtimeMs = r.u64();
    const ctimeMs = r.u64();
    const nlink = r.u32();
    init.goal = r.u8();
    init.trashtimeS = r.u32();
    let node: Node;
    if (type === InodeType.FILE) {
      const file = newFile(init);
      file.lengthBytes = r.u64();
      const n = r.count(12);
      for (let j = 0; j < n; j++) file.setChunk(r.u32(), r.u64());
      node = file;
    } else if (type === InodeType.DIR) {
      node = newDir(init, 0);
    } else if (type === InodeType.SYMLINK) {
      node = newSymlink(init, r.str());
      node.mode = init.mode;
    } else {
      throw new DumpCorruptError(`inode ${inode}: type ${type}`);
    }
    Object.assign(node, { atimeMs, mtimeMs, ctimeMs, nlink });
    if (md.namespace.inodes.has(inode) || inode === 0 || inode >= md.nextInode) {
      throw new DumpCorruptError(`inode ${inode} repeated or out of range`);
    }
    md.namespace.inodes.add(node);
  }
  return count;
}

function readRequests(r: DumpReader, md: Metadata, file: string): number {
  const clients = r.count(12);
  let entries = 0;
  for (let i = 0; i < clients; i++) {
    const clientId = r.h64();
    const n = r.count(18);
    for (let j = 0; j < n; j++) {
      const e: AppliedRequest = {
        requestId: r.u32(), version: r.u64(), kind: r.u8(), changed: r.u32(), attr: null,
      };
      if (r.u8() !== 0) e.attr = readAttr(r);
      if (changeKindOf(e.kind) === undefined || e.version > md.version) {
        throw new DumpCorruptError(`${file}: applied request ${e.requestId} of kind ${e.kind} ` +
          `at version ${e.version}`);
      }
      md.requests.record(clientId, e);
      entries++;
    }
  }
  return entries;
}

function readAttr(r: DumpReader): Attr {
  return {
    inode: r.u32(), type: r.u8(), mode: r.u16(), uid: r.u32(), gid: r.u32(), atimeMs: r.u64(),
    mtimeMs: r.u64(), ctimeMs: r.u64(), nlink: r.u32(), length: r.u64(), goal: r.u8(),
    trashtimeS: r.u32(),
  };
}

function readEntries(r: DumpReader, md: Metadata, file: string): number {
  const count = r.count(10);
  for (let i = 0; i < count; i++) {
    const parent = r.u32();
    const child = r.u32();
    const name = r.str();
    try {
      md.namespace.restoreEntry(parent, name, child);
    } catch (err) {
      if (!(err instanceof FsError)) throw err;
      throw new DumpCorruptError(`${file}: entry ${name}: ${err.message}`);
    }
  }
  const bad = md.namespace.checkRestored();
  if (bad !== null) throw new DumpCorruptError(`${file}: ${bad}`);
  return count;
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}

async function exists(file: string): Promise<boolean> {
  return fsp.access(file).then(() => true, () => false);
}

/**
 * Makes `source` (a complete, fsynced dump file in `dir`) the new metadata.amd: the current
 * one becomes .back.1, .back.1 becomes .back.2, ... up to keepBack; older ones are removed.
 */
export async function installDump(dir: string, source: string, keepBack: number): Promise<void> {
  for (const name of await fsp.readdir(dir)) {
    const m = BACK_PATTERN.exec(name);
    if (m && Number(m[1]) > keepBack) await fsp.unlink(path.join(dir, name));
  }
  const current = path.join(dir, DUMP_FILE);
  if (keepBack > 0 && await exists(current)) {
    for (let g = keepBack; g >= 1; g--) {
      const from = g === 1 ? current : path.join(dir, backFileName(g - 1));
      if (await exists(from)) await fsp.rename(from, path.join(dir, backFileName(g)));
    }
  }
  await fsp.rename(source, current);
  await syncDir(dir);
}

/** Writes a serialized dump to metadata.amd.tmp, fsyncs it and installs it. */
export async function writeDump(
  dir: string, dump: SerializedDump, keepBack: number,
): Promise<void> {
  const tmp = path.join(dir, DUMP_TMP_FILE);
  const fh = await fsp.open(tmp, 'w');
  try {
    let position = 0;
    for (const b of dump.buffers) {
      const { bytesWritten } = await fh.write(b, 0, b.length, position);
      assert(bytesWritten === b.length, `wrote ${bytesWritten} of ${b.length} dump bytes`);
      position += b.length;
    }
    assert(position === dump.sizeBytes, `dump of ${dump.sizeBytes} bytes written whole`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await installDump(dir, tmp, keepBack);
}

export interface DumpFile {
  path: string;
  /** Version in the header (not yet checked against the checksum). */
  version: number;
}

/** Every file in `dir` that claims to be a dump (current, .back.N, tmp), newest version first. */
export function listDumps(dir: string): DumpFile[] {
  const out: DumpFile[] = [];
  for (const name of fs.readdirSync(dir)) {
    if (name !== DUMP_FILE && name !== DUMP_TMP_FILE && !BACK_PATTERN.test(name)) continue;
    const file = path.join(dir, name);
    const version = readDumpVersion(file);
    out.push({ path: file, version: version ?? -1 });
  }
  // Newest first; at equal versions prefer metadata.amd, then backs, then tmp.
  const rank = (p: string): number => {
    if (path.basename(p) === DUMP_FILE) return 0;
    return p.endsWith('.tmp') ? 2 : 1;
  };
  return out.sort((a, b) => b.version - a.version || rank(a.path) - rank(b.path));
}

/** The lowest version among the dumps kept in `dir` (the changelog after it must stay). */
export async function oldestDumpVersion(dir: string): Promise<number | null> {
  let oldest: number | null = null;
  for (const name of await fsp.readdir(dir)) {
    if (name !== DUMP_FILE && !BACK_PATTERN.test(name)) continue;
    const fh = await fsp.open(path.join(dir, name), 'r');
    try {
      const h = Buffer.alloc(HEADER_BYTES);
      const { bytesRead } = await fh.read(h, 0, HEADER_BYTES, 0);
      if (bytesRead < HEADER_BYTES || dumpLayout(h) === null) continue;
      const version = h.readUInt32BE(8) * 0x100000000 + h.readUInt32BE(12);
      oldest = oldest === null ? version : Math.min(oldest, version);
    } finally {
      await fh.close();
    }
  }
  return oldest;
}
