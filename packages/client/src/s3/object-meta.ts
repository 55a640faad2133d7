// The S3 metadata of an object (ETag, Content-Type and the other standard headers, user
// x-amz-meta-*, the checksum it was sent with) kept in a record beside the data. The master
// has no xattrs, so a record is the *target of a symlink* in the hidden .meta folder: one
// metadata operation writes it (no chunk, no chunkserver), one reads it, and a rename replaces
// it atomically. A record names the inode, length and mtime of the data it describes; a file
// changed through the mount or the library no longer matches, and then gets defaults and a
// synthetic ETag instead of a stale one.
import crypto from 'node:crypto';
import { FsError, InodeType, SYMLINK_MAX_BYTES } from '@antlerfs/protocol';
import type { Attr, Client } from '../index.ts';
import type { ChecksumAlgorithm } from './body-digest.ts';
import { S3Error } from './errors.ts';

const RECORD_PREFIX = 's3meta1 ';
/** S3's limit on user metadata: names and values together. */
export const USER_META_MAX_BYTES = 2048;
export const DEFAULT_CONTENT_TYPE = 'binary/octet-stream';
/** Headers S3 stores with an object and returns on GET and HEAD. */
export const STORED_HEADERS = [
  'content-type', 'content-disposition', 'content-encoding', 'content-language',
  'cache-control', 'expires',
] as const;
export type StoredHeader = (typeof STORED_HEADERS)[number];

export interface ObjectMeta {
  /** The data this record describes. */
  inode: number;
  lengthBytes: number;
  mtimeMs: number;
  /** Without quotes: hex MD5, or hex MD5-of-MD5s then "-N" for a multipart upload. */
  etag: string;
  headers: Partial<Record<StoredHeader, string>>;
  /** x-amz-meta-* by lower-case name without the prefix. */
  user: Record<string, string>;
  checksum: { algorithm: ChecksumAlgorithm; base64: string } | null;
}

/** The stored headers and user metadata of a request (PUT, copy with REPLACE, multipart). */
export function metaFromHeaders(
  header: (name: string) => string | undefined, names: readonly string[],
): Pick<ObjectMeta, 'headers' | 'user'> {
  const headers: Partial<Record<StoredHeader, string>> = {};
  for (const h of STORED_HEADERS) {
    const v = header(h);
    if (v !== undefined) headers[h] = v;
  }
  const user: Record<string, string> = {};
  let bytes = 0;
  for (const name of names) {
    if (!name.startsWith('x-amz-meta-')) continue;
    const key = name.slice('x-amz-meta-'.length);
    const value = header(name) ?? '';
    user[key] = value;
    bytes += Buffer.byteLength(key) + Buffer.byteLength(value);
  }
  if (bytes > USER_META_MAX_BYTES) {
    throw new S3Error('MetadataTooLarge', undefined,
      { MaxSizeAllowed: String(USER_META_MAX_BYTES) });
  }
  return { headers, user };
}

export function encodeMeta(meta: ObjectMeta): string {
  const text = RECORD_PREFIX + JSON.stringify({
    i: meta.inode, l: meta.lengthBytes, m: meta.mtimeMs, e: meta.etag, h: meta.headers,
    u: meta.user, c: meta.checksum,
  });
  if (Buffer.byteLength(text) > SYMLINK_MAX_BYTES) {
    throw new S3Error('MetadataTooLarge', 'the headers and metadata of the object are too large');
  }
  return text;
}

interface RecordJson {
  i: number; l: number; m: number; e: string;
  h: Partial<Record<StoredHeader, string>>; u: Record<string, string>;
  c: ObjectMeta['checksum'];
}

/** A record's text as ObjectMeta, or null if it is not one of ours. */
export function decodeMeta(text: string): ObjectMeta | null {
  if (!text.startsWith(RECORD_PREFIX)) return null;
  let j: RecordJson;
  try {
    j = JSON.parse(text.slice(RECORD_PREFIX.length)) as RecordJson;
  } catch {
    return null;
  }
  if (typeof j !== 'object' || j === null || typeof j.i !== 'number' || typeof j.e !== 'string') {
    return null;
  }
  return {
    inode: j.i, lengthBytes: j.l, mtimeMs: j.m, etag: j.e, headers: j.h ?? {}, user: j.u ?? {},
    checksum: j.c ?? null,
  };
}

/** True when the record still describes this file (or folder marker). */
export function metaMatches(meta: ObjectMeta, attr: Attr): boolean {
  if (meta.inode !== attr.inode) return false;
  if (attr.type === InodeType.DIR) return true;
  return meta.lengthBytes === attr.length && meta.mtimeMs === attr.mtimeMs;
}

/**
 * The ETag of data without a matching record: stable while the file is unchanged, and with a
 * "-1" suffix so that clients do not take it for the MD5 of the content.
 */
export function syntheticEtag(attr: Attr): string {
  const h = crypto.createHash('md5').update(`${attr.inode}:${attr.length}:${attr.mtimeMs}`);
  return `${h.digest('hex')}-1`;
}

/** The metadata GET and HEAD report for `attr`, given the record found (or null). */
export function effectiveMeta(attr: Attr, record: ObjectMeta | null): ObjectMeta {
  if (record !== null && metaMatches(record, attr)) return record;
  return {
    inode: attr.inode, lengthBytes: attr.length, mtimeMs: attr.mtimeMs,
    etag: syntheticEtag(attr), headers: {}, user: {}, checksum: null,
  };
}

function isStatus(err: unknown, ...codes: string[]): boolean {
  return err instanceof FsError && codes.includes(err.code);
}

/** The record at `path`, or null when there is none (or it is not ours). */
export async function readMeta(client: Client, path: string): Promise<ObjectMeta | null> {
  try {
    return decodeMeta(await client.readlink(path));
  } catch (err) {
    if (isStatus(err, 'ENOENT', 'ENOTDIR', 'EINVAL')) return null;
    throw err;
  }
}

/**
 * Writes the record at `path`: a new one with one symlink, an existing one replaced by a rename
 * of a fresh symlink over it (atomic for readers); the folder is made when missing.
 */
export async function writeMeta(client: Client, path: string, meta: ObjectMeta): Promise<void> {
  const target = encodeMeta(meta);
  const slash = path.lastIndexOf('/');
  const dir = path.slice(0, slash);
  try {
    await client.symlink(target, path);
    return;
  } catch (err) {
    if (isStatus(err, 'ENOENT')) {
      await client.mkdir(dir, { recursive: true });
      await writeMeta(client, path, meta);
      return;
    }
    if (!isStatus(err, 'EEXIST')) throw err;
  }
  const tmp = `${dir}/.${path.slice(slash + 1)}.${crypto.randomBytes(6).toString('hex')}`;
  await client.symlink(target, tmp);
  try {
    await client.rename(tmp, path);
  } catch (err) {
    await client.unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Removes the record at `path`; a missing one is fine. */
export async function removeMeta(client: Client, path: string): Promise<void> {
  try {
    await client.unlink(path);
  } catch (err) {
    if (!isStatus(err, 'ENOENT', 'ENOTDIR')) throw err;
  }
}
