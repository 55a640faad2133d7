// Schema-driven binary codec for every control struct on the wire. A message is a list of
// named fields; the same schema drives the encoder, the decoder and the TypeScript types, so the
// two sides cannot drift. Decoders never throw on peer input: they return a reason.
// 64-bit quantities are `number` (asserted <= 2^53-1); 64-bit hashes are `bigint` ('h64').
import { assert } from './assert.ts';

export type Scalar = 'u8' | 'u16' | 'u32' | 'u64' | 'h64' | 'str' | 'bytes';
export interface ListOf<F extends Fields = Fields> { readonly list: F }
export interface StructOf<F extends Fields = Fields> { readonly struct: F }
export type FieldType = Scalar | ListOf | StructOf;
export type Fields = readonly (readonly [string, FieldType])[];

type ValueOf<T> = T extends 'u8' | 'u16' | 'u32' | 'u64' ? number
  : T extends 'h64' ? bigint
  : T extends 'str' ? string
  : T extends 'bytes' ? Buffer
  : T extends ListOf<infer F> ? Struct<F>[]
  : T extends StructOf<infer F> ? Struct<F>
  : never;

export type Struct<F extends Fields> = { [K in F[number] as K[0]]: ValueOf<K[1]> };

const U64_HI_MAX = 0x1fffff; // 2^53 - 1 >> 32

/** Smallest encoded size of one value of the type (bounds list counts before allocating). */
export function minSize(type: FieldType): number {
  if (typeof type === 'string') {
    switch (type) {
      case 'u8': return 1;
      case 'u16': case 'str': return 2;
      case 'u32': case 'bytes': return 4;
      case 'u64': case 'h64': return 8;
    }
  }
  if ('list' in type) return 4;
  return structMinSize(type.struct);
}

function structMinSize(fields: Fields): number {
  let n = 0;
  for (const [, t] of fields) n += minSize(t);
  return n;
}

export function encodedSize(fields: Fields, value: Record<string, unknown>): number {
  let n = 0;
  for (const [name, type] of fields) n += valueSize(type, value[name], name);
  return n;
}

function valueSize(type: FieldType, v: unknown, name: string): number {
  if (typeof type === 'string') {
    switch (type) {
      case 'str': {
        assert(typeof v === 'string', `field ${name}: string expected`);
        return 2 + Buffer.byteLength(v);
      }
      case 'bytes': {
        assert(Buffer.isBuffer(v), `field ${name}: Buffer expected`);
        return 4 + v.length;
      }
      default: return minSize(type);
    }
  }
  if ('list' in type) {
    assert(Array.isArray(v), `field ${name}: array expected`);
    let n = 4;
    for (const item of v) n += encodedSize(type.list, item as Record<string, unknown>);
    return n;
  }
  return encodedSize(type.struct, v as Record<string, unknown>);
}

/** Writes `value` into `buf` at `offset`; returns the offset after it. */
export function encodeInto(
  fields: Fields, value: Record<string, unknown>, buf: Buffer, offset: number,
): number {
  for (const [name, type] of fields) offset = encodeValue(type, value[name], buf, offset, name);
  return offset;
}

function encodeValue(type: FieldType, v: unknown, buf: Buffer, o: number, name: string): number {
  if (typeof type === 'string') {
    switch (type) {
      case 'u8':
        assert(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xff,
          `${name}: u8 ${v}`);
        buf[o] = v as number;
        return o + 1;
      case 'u16':
        assert(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffff,
          `${name}: u16 ${v}`);
        buf.writeUInt16BE(v as number, o);
        return o + 2;
      case 'u32':
        assert(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff,
          `${name}: u32 ${v}`);
        buf.writeUInt32BE(v as number, o);
        return o + 4;
      case 'u64': {
        const n = v as number;
        assert(Number.isSafeInteger(n) && n >= 0, `${name}: u64 ${v}`);
        buf.writeUInt32BE(Math.floor(n / 0x100000000), o);
        buf.writeUInt32BE(n >>> 0, o + 4);
        return o + 8;
      }
      case 'h64':
        assert(typeof v === 'bigint', `${name}: bigint expected`);
        buf.writeBigUInt64BE(v, o);
        return o + 8;
      case 'str': {
        const s = v as string;
        const len = buf.write(s, o + 2, 'utf8');
        assert(len <= 0xffff && len === Buffer.byteLength(s), `${name}: string too long`);
        buf.writeUInt16BE(len, o);
        return o + 2 + len;
      }
      case 'bytes': {
        const b = v as Buffer;
        buf.writeUInt32BE(b.length, o);
        b.copy(buf, o + 4);
        return o + 4 + b.length;
      }
    }
  }
  if ('list' in type) {
    const arr = v as Record<string, unknown>[];
    buf.writeUInt32BE(arr.length, o);
    o += 4;
    for (const item of arr) o = encodeInto(type.list, item, buf, o);
    return o;
  }
  return encodeInto(type.struct, v as Record<string, unknown>, buf, o);
}

export interface Decoded<T> { value: T; offset: number }
/** A decode failure: a short reason for the log ("length 13, expected 17"). */
export interface Invalid { invalid: string }

export function isInvalid(x: unknown): x is Invalid {
  return typeof x === 'object' && x !== null && 'invalid' in x;
}

/**
 * Reads a struct of `fields` from `buf` at `offset`. Strings are copied (small); 'bytes' are
 * views into `buf` (the caller owns `buf` and must not reuse it while the view lives).
 */
export function decodeFrom<F extends Fields>(
  fields: F, buf: Buffer, offset: number,
): Decoded<Struct<F>> | Invalid {
  const out: Record<string, unknown> = {};
  for (const [name, type] of fields) {
    const r = decodeValue(type, buf, offset, name);
    if (isInvalid(r)) return r;
    out[name] = r.value;
    offset = r.offset;
  }
  return { value: out as Struct<F>, offset };
}

function need(buf: Buffer, o: number, n: number, name: string): Invalid | null {
  if (o + n > buf.length) {
    return { invalid: `field ${name}: needs ${n} bytes at ${o}, payload is ${buf.length}` };
  }
  return null;
}

function decodeValue(
  type: FieldType, buf: Buffer, o: number, name: string,
): Decoded<unknown> | Invalid {
  if (typeof type === 'string') {
    const short = need(buf, o, minSize(type), name);
    if (short) return short;
    switch (type) {
      case 'u8': return { value: buf[o], offset: o + 1 };
      case 'u16': return { value: buf.readUInt16BE(o), offset: o + 2 };
      case 'u32': return { value: buf.readUInt32BE(o), offset: o + 4 };
      case 'u64': {
        const hi = buf.readUInt32BE(o);
        if (hi > U64_HI_MAX) return { invalid: `field ${name}: u64 above 2^53` };
        return { value: hi * 0x100000000 + buf.readUInt32BE(o + 4), offset: o + 8 };
      }
      case 'h64': return { value: buf.readBigUInt64BE(o), offset: o + 8 };
      case 'str': {
        const len = buf.readUInt16BE(o);
        const s2 = need(buf, o + 2, len, name);
        if (s2) return s2;
        return { value: buf.toString('utf8', o + 2, o + 2 + len), offset: o + 2 + len };
      }
      case 'bytes': {
        const len = buf.readUInt32BE(o);
        const s2 = need(buf, o + 4, len, name);
        if (s2) return s2;
        return { value: buf.subarray(o + 4, o + 4 + len), offset: o + 4 + len };
      }
    }
  }
  if ('list' in type) {
    const short = need(buf, o, 4, name);
    if (short) return short;
    const count = buf.readUInt32BE(o);
    o += 4;
    const each = Math.max(1, structMinSize(type.list));
    if (count * each > buf.length - o) {
      return { invalid: `field ${name}: list of ${count} cannot fit in ${buf.length - o} bytes` };
    }
    const items: unknown[] = [];
    for (let i = 0; i < count; i++) {
      const r = decodeFrom(type.list, buf, o);
      if (isInvalid(r)) return r;
      items.push(r.value);
      o = r.offset;
    }
    return { value: items, offset: o };
  }
  return decodeFrom(type.struct, buf, o);
}
