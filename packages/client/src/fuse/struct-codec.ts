// Fixed-layout little-endian structs of the kernel FUSE protocol (the kernel speaks the host's
// byte order; this module asserts a little-endian host). A struct is a list of named fields with
// computed offsets, so one definition drives both decoding and encoding and its size can be
// checked against the C header's at load. 64-bit fields are numbers: exact up to 2^53 - 1, which
// covers every offset, size, inode and request id antlerfs uses (lock owners may lose bits).
import os from 'node:os';
import { assert } from '@antlerfs/protocol';

assert(os.endianness() === 'LE', 'the FUSE structs are decoded as little-endian');

export type FieldKind = 'u16' | 'u32' | 'i32' | 'u64' | 'i64';

const KIND_BYTES: Record<FieldKind, number> = { u16: 2, u32: 4, i32: 4, u64: 8, i64: 8 };
const TWO_POW_32 = 0x1_0000_0000;

export interface FieldDef<K extends string> {
  readonly key: K;
  readonly kind: FieldKind;
  readonly offset: number;
}

export interface StructDef<K extends string = string> {
  readonly name: string;
  readonly sizeBytes: number;
  readonly fields: readonly FieldDef<K>[];
}

export type StructValue<K extends string> = Record<K, number>;

/** Lays out `fields` in order with natural alignment; asserts the C size `sizeBytes`. */
export function defineStruct<K extends string>(
  name: string, sizeBytes: number, fields: readonly (readonly [K, FieldKind])[],
): StructDef<K> {
  let offset = 0;
  const laid = fields.map(([key, kind]) => {
    const width = KIND_BYTES[kind];
    assert(offset % width === 0, `${name}.${key}: offset ${offset} is aligned to ${width}`);
    const field = { key, kind, offset };
    offset += width;
    return field;
  });
  assert(offset === sizeBytes,
    `${name}: fields take ${offset} bytes, the header says ${sizeBytes}`);
  return { name, sizeBytes, fields: laid };
}

/** Reads one struct at `offset`; the caller has checked that `sizeBytes` bytes are there. */
export function readStruct<K extends string>(
  def: StructDef<K>, buf: Buffer, offset: number,
): StructValue<K> {
  // Messages are built only on failure: these run for every request and reply.
  if (offset + def.sizeBytes > buf.length) assert(false, `${def.name} lies inside the buffer`);
  const out = {} as StructValue<K>;
  for (const f of def.fields) out[f.key] = readField(f.kind, buf, offset + f.offset);
  return out;
}

/** Writes `value` at `offset`; fields left out are written as zero. Returns the end offset. */
export function writeStruct<K extends string>(
  def: StructDef<K>, value: Partial<StructValue<K>>, buf: Buffer, offset: number,
): number {
  if (offset + def.sizeBytes > buf.length) assert(false, `${def.name} fits the buffer`);
  for (const f of def.fields) writeField(f.kind, value[f.key] ?? 0, buf, offset + f.offset, f.key);
  return offset + def.sizeBytes;
}

/** An unsigned 64-bit little-endian field (a safe integer). */
export function readU64LE(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at + 4) * TWO_POW_32 + buf.readUInt32LE(at);
}

/** Writes `v` (a safe integer >= 0) as an unsigned 64-bit little-endian field. */
export function writeU64LE(buf: Buffer, v: number, at: number): void {
  buf.writeUInt32LE(v % TWO_POW_32, at);
  buf.writeUInt32LE(Math.floor(v / TWO_POW_32), at + 4);
}

/**
 * Asserts, at load, that code reading or writing a struct by hand uses `def`'s layout:
 * `offsets` names every field's offset.
 */
export function assertLayout<K extends string>(
  def: StructDef<K>, offsets: Readonly<Record<K, number>>,
): void {
  for (const f of def.fields) {
    assert(offsets[f.key] === f.offset, `${def.name}.${f.key} at ${f.offset}`);
  }
}

function readField(kind: FieldKind, buf: Buffer, at: number): number {
  switch (kind) {
    case 'u16': return buf.readUInt16LE(at);
    case 'u32': return buf.readUInt32LE(at);
    case 'i32': return buf.readInt32LE(at);
    case 'u64': return readU64LE(buf, at);
    case 'i64': return buf.readInt32LE(at + 4) * TWO_POW_32 + buf.readUInt32LE(at);
  }
}

function writeField(kind: FieldKind, v: number, buf: Buffer, at: number, key: string): void {
  if (!Number.isSafeInteger(v)) assert(false, `${key}: ${v} is a safe integer`);
  switch (kind) {
    case 'u16':
      if (v < 0 || v > 0xffff) assert(false, `${key}: ${v} fits u16`);
      buf.writeUInt16LE(v, at);
      return;
    case 'u32':
      if (v < 0 || v > 0xffffffff) assert(false, `${key}: ${v} fits u32`);
      buf.writeUInt32LE(v, at);
      return;
    case 'i32':
      buf.writeInt32LE(v, at);
      return;
    case 'u64':
      if (v < 0) assert(false, `${key}: ${v} fits u64`);
      writeU64LE(buf, v, at);
      return;
    case 'i64': {
      const hi = Math.floor(v / TWO_POW_32);
      buf.writeUInt32LE(v - hi * TWO_POW_32, at);
      buf.writeInt32LE(hi, at + 4);
      return;
    }
  }
}
