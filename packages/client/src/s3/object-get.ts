// GetObject and HeadObject: the object's headers from its data and its metadata record, the
// conditional headers, one byte range, and the body streamed from a library read stream into
// the response with backpressure (a slow client holds at most the stream's window, never the
// object). A key ending in '/' is a folder marker: an empty object when its record exists.
import { pipeline } from 'node:stream/promises';
import { FsError, InodeType } from '@antlerfs/protocol';
import { DEFAULT_TUNING, ReadStream, type Attr, type FileHandle } from '../index.ts';
import { httpDate, requireBucket } from './bucket.ts';
import { S3Error } from './errors.ts';
import type { GatewayContext } from './gateway-context.ts';
import { checkConditions, parseRange, type ByteRange, type Conditions } from './http-conditions.ts';
import { checkKey, isFolderKey } from './object-layout.ts';
import {
  DEFAULT_CONTENT_TYPE, effectiveMeta, readMeta, STORED_HEADERS, type ObjectMeta,
} from './object-meta.ts';
import type { S3Request } from './s3-request.ts';

/** Query parameters of a GET that override a stored header in the response. */
const RESPONSE_OVERRIDES: Record<string, string> = {
  'response-content-type': 'content-type',
  'response-content-language': 'content-language',
  'response-expires': 'expires',
  'response-cache-control': 'cache-control',
  'response-content-disposition': 'content-disposition',
  'response-content-encoding': 'content-encoding',
};

function isStatus(err: unknown, ...codes: string[]): boolean {
  return err instanceof FsError && codes.includes(err.code);
}

export function conditionsOf(r: S3Request, prefix = ''): Conditions {
  return {
    ifMatch: r.header(`${prefix}if-match`), ifNoneMatch: r.header(`${prefix}if-none-match`),
    ifModifiedSince: r.header(`${prefix}if-modified-since`),
    ifUnmodifiedSince: r.header(`${prefix}if-unmodified-since`),
  };
}

/** An object found: its attributes, metadata, and (for files) an open handle to read it. */
export interface FoundObject {
  attr: Attr;
  meta: ObjectMeta;
  handle: FileHandle | null;
}

/** Looks up `key`; NoSuchKey when there is no such object (a plain folder is none). */
export async function findObject(
  ctx: GatewayContext, bucket: string, key: string, open: boolean,
): Promise<FoundObject> {
  checkKey(key);
  const path = ctx.layout.objectPath(bucket, key);
  const metaPath = ctx.layout.metaPath(bucket, key);
  const record = readMeta(ctx.client, metaPath);
  record.catch(() => undefined);
  const wantDir = isFolderKey(key);
  let attr: Attr;
  let handle: FileHandle | null = null;
  try {
    if (open && !wantDir) {
      // The handle's own attributes: the bytes read are those of the file described.
      handle = await ctx.client.open(path, 'r');
      attr = await handle.stat();
    } else {
      attr = await ctx.client.stat(path);
    }
  } catch (err) {
    await handle?.close().catch(() => undefined);
    if (isStatus(err, 'ENOENT', 'ENOTDIR', 'EISDIR')) {
      await requireBucket(ctx, bucket);
      throw new S3Error('NoSuchKey');
    }
    throw err;
  }
  const meta = await record.catch(async (err: unknown) => {
    await handle?.close().catch(() => undefined);
    throw err;
  });
  const isDir = attr.type === InodeType.DIR;
  if (wantDir !== isDir || (isDir && (meta === null || meta.inode !== attr.inode))) {
    await handle?.close().catch(() => undefined);
    throw new S3Error('NoSuchKey');
  }
  if (!isDir && attr.type !== InodeType.FILE) throw new S3Error('NoSuchKey');
  return { attr, meta: effectiveMeta(attr, meta), handle };
}

/** Headers every GET and HEAD of the object carries. */
export function objectHeaders(
  r: S3Request, meta: ObjectMeta, mtimeMs: number, withChecksum: boolean,
): Record<string, string | number> {
  const h: Record<string, string | number> = {
    ETag: `"${meta.etag}"`, 'Last-Modified': httpDate(mtimeMs), 'Accept-Ranges': 'bytes',
    'Content-Type': meta.headers['content-type'] ?? DEFAULT_CONTENT_TYPE,
  };
  for (const name of STORED_HEADERS) {
    const v = meta.headers[name];
    if (v !== undefined && name !== 'content-type') h[name] = v;
  }
  for (const [name, value] of Object.entries(meta.user)) h[`x-amz-meta-${name}`] = value;
  if (withChecksum && meta.checksum !== null) {
    h[`x-amz-checksum-${meta.checksum.algorithm}`] = meta.checksum.base64;
  }
  if (r.auth.kind === 'signed') {
    for (const [param, header] of Object.entries(RESPONSE_OVERRIDES)) {
      const v = r.query.get(param);
      if (v !== undefined) h[header] = v;
    }
  }
  return h;
}

/** GetObject (withBody) and HeadObject. */
export async function getObject(
  ctx: GatewayContext, r: S3Request, withBody: boolean,
): Promise<void> {
  if (r.query.has('partNumber') && r.query.get('partNumber') !== '1') {
    throw new S3Error('NotImplemented', 'partNumber other than 1 is not supported');
  }
  const found = await findObject(ctx, r.bucket!, r.key!, withBody);
  const { attr, meta } = found;
  let handleOwned = found.handle;
  try {
    try {
      checkConditions(conditionsOf(r), meta.etag, attr.mtimeMs, 'NotModified');
    } catch (err) {
      if (!(err instanceof S3Error) || err.code !== 'NotModified') throw err;
      r.sendEmpty(304, { ETag: `"${meta.etag}"`, 'Last-Modified': httpDate(attr.mtimeMs) });
      return;
    }
    const size = attr.type === InodeType.DIR ? 0 : attr.length;
    const range = parseRange(r.header('range'), size);
    const whole = range === null || (range.start === 0 && range.end === size - 1);
    const checksumMode = r.header('x-amz-checksum-mode')?.toUpperCase() === 'ENABLED';
    const headers = objectHeaders(r, meta, attr.mtimeMs, checksumMode && whole);
    const span: ByteRange = range ?? { start: 0, end: size - 1 };
    headers['Content-Length'] = span.end - span.start + 1;
    if (range !== null) headers['Content-Range'] = `bytes ${span.start}-${span.end}/${size}`;
    const status = range === null ? 200 : 206;
    if (!withBody || size === 0 || handleOwned === null) {
      r.sendEmpty(status, headers);
      return;
    }
    r.startBody(status, headers);
    const handle = handleOwned;
    handleOwned = null; // the stream closes it from here on
    const stream = new ReadStream(() => Promise.resolve(handle),
      { start: span.start, end: span.end }, DEFAULT_TUNING.readsInflightMax);
    await pipeline(stream, r.res);
  } finally {
    await handleOwned?.close().catch(() => undefined);
  }
}
