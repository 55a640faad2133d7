// PutObject and CopyObject. A PUT streams its body through object-upload.ts (temporary file,
// digests checked, rename into place); a key ending in '/' makes a folder marker instead (the
// folder plus a record). CopyObject is a server-side copy through the library: the source is
// read by a read stream and written to a new file, because the master has no way to share
// chunks between files. A copy onto itself with REPLACE only rewrites the record.
import { FsError, InodeType } from '@antlerfs/protocol';
import { DEFAULT_TUNING, ReadStream, type FileHandle } from '../index.ts';
import { BodyDigest } from './body-digest.ts';
import { isoDate, requireBucket } from './bucket.ts';
import { S3Error } from './errors.ts';
import type { GatewayContext } from './gateway-context.ts';
import { checkConditions } from './http-conditions.ts';
import { checkKey, isFolderKey } from './object-layout.ts';
import { commit, metaOf, receive } from './object-upload.ts';
import { conditionsOf, findObject } from './object-get.ts';
import { metaFromHeaders, writeMeta, type ObjectMeta } from './object-meta.ts';
import { RequestBody } from './request-body.ts';
import type { S3Request } from './s3-request.ts';
import { el, xmlDocument } from './xml.ts';

/** MD5 of nothing: the ETag of an empty object and of a folder marker. */
const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';

export function lockKeyOf(bucket: string, key: string): string {
  return `${bucket}/${key}`;
}

/** Stored headers and user metadata of the request; 'aws-chunked' is transport, not kept. */
export function requestMeta(r: S3Request): Pick<ObjectMeta, 'headers' | 'user'> {
  const m = metaFromHeaders((n) => r.header(n), r.headerNames());
  const enc = m.headers['content-encoding'];
  if (enc !== undefined) {
    const kept = enc.split(',').map((s) => s.trim()).filter((s) => s !== '' && s !== 'aws-chunked');
    if (kept.length === 0) delete m.headers['content-encoding'];
    else m.headers['content-encoding'] = kept.join(',');
  }
  return m;
}

export async function putObject(ctx: GatewayContext, r: S3Request): Promise<void> {
  const bucket = r.bucket!;
  const key = r.key!;
  checkKey(key);
  const body = new RequestBody(r, ctx.config.bodyMaxBytes);
  const meta = requestMeta(r);
  await requireBucket(ctx, bucket);
  if (isFolderKey(key)) {
    await putFolderMarker(ctx, r, body, meta);
    return;
  }
  const received = await receive(ctx, body.data(), body.newDigest(), (d) => body.verify(d));
  const etag = received.digests.md5.toString('hex');
  const checksum = body.checksumOf(received.digests);
  await commit(ctx, lockKeyOf(bucket, key), received, ctx.layout.objectPath(bucket, key),
    ctx.layout.metaPath(bucket, key), metaOf(received, etag, { ...meta, checksum }));
  const headers: Record<string, string> = { ETag: `"${etag}"` };
  if (checksum !== null) headers[`x-amz-checksum-${checksum.algorithm}`] = checksum.base64;
  r.sendEmpty(200, headers);
}

/** A key ending in '/': the folder (and its parents) plus a record; the body must be empty. */
async function putFolderMarker(
  ctx: GatewayContext, r: S3Request, body: RequestBody, meta: Pick<ObjectMeta, 'headers' | 'user'>,
): Promise<void> {
  const digest = body.newDigest();
  for await (const buf of body.data()) {
    digest.update(buf);
    if (buf.length > 0) {
      throw new S3Error('InvalidRequest', 'an object whose key ends in "/" must be empty here');
    }
  }
  body.verify(digest.finish());
  const bucket = r.bucket!;
  const key = r.key!;
  const path = ctx.layout.objectPath(bucket, key);
  try {
    await ctx.client.mkdir(path, { recursive: true });
  } catch (err) {
    if (err instanceof FsError && (err.code === 'ENOTDIR' || err.code === 'EEXIST')) {
      throw new S3Error('XAntlerKeyConflict');
    }
    throw err;
  }
  await ctx.locks.run(lockKeyOf(bucket, key), async () => {
    const attr = await ctx.client.stat(path);
    if (attr.type !== InodeType.DIR) throw new S3Error('XAntlerKeyConflict');
    await writeMeta(ctx.client, ctx.layout.metaPath(bucket, key), {
      inode: attr.inode, lengthBytes: 0, mtimeMs: attr.mtimeMs, etag: EMPTY_MD5, ...meta,
      checksum: null,
    });
  });
  r.sendEmpty(200, { ETag: `"${EMPTY_MD5}"` });
}

/** "/bucket/key" or "bucket/key", percent-encoded, maybe with "?versionId=". */
export function parseCopySource(text: string): { bucket: string; key: string } {
  const q = text.indexOf('?');
  const path = (q < 0 ? text : text.slice(0, q)).replace(/^\//, '');
  const slash = path.indexOf('/');
  if (slash <= 0 || slash === path.length - 1) {
    throw new S3Error('InvalidArgument', 'x-amz-copy-source must be bucket/key',
      { ArgumentName: 'x-amz-copy-source' });
  }
  try {
    return { bucket: decodeURIComponent(path.slice(0, slash)),
      key: decodeURIComponent(path.slice(slash + 1)) };
  } catch {
    throw new S3Error('InvalidArgument', 'x-amz-copy-source is not valid percent-encoding');
  }
}

/** The bytes [start, end] of an open file as a stream (nothing for an empty span). */
export function spanStream(handle: FileHandle, start: number, end: number): AsyncIterable<Buffer> {
  if (end < start) {
    void handle.close().catch(() => undefined);
    return (async function* nothing(): AsyncGenerator<Buffer> { /* an empty span */ })();
  }
  return new ReadStream(() => Promise.resolve(handle), { start, end },
    DEFAULT_TUNING.readsInflightMax);
}

export async function copyObject(ctx: GatewayContext, r: S3Request): Promise<void> {
  const bucket = r.bucket!;
  const key = r.key!;
  checkKey(key);
  const src = parseCopySource(r.header('x-amz-copy-source')!);
  const directive = (r.header('x-amz-metadata-directive') ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') {
    throw new S3Error('InvalidArgument', 'x-amz-metadata-directive must be COPY or REPLACE');
  }
  await requireBucket(ctx, bucket);
  await requireBucket(ctx, src.bucket);
  const self = src.bucket === bucket && src.key === key;
  if (self && directive === 'COPY') {
    throw new S3Error('InvalidRequest', 'This copy request is illegal because it is trying to ' +
      'copy an object to itself without changing the object\'s metadata');
  }
  const found = await findObject(ctx, src.bucket, src.key, !self);
  let handle = found.handle;
  try {
    checkConditions(conditionsOf(r, 'x-amz-copy-source-'), found.meta.etag, found.attr.mtimeMs,
      'PreconditionFailed');
    const kept = directive === 'COPY'
      ? { headers: found.meta.headers, user: found.meta.user }
      : requestMeta(r);
    if (self || found.attr.type === InodeType.DIR) {
      if (!self) throw new S3Error('NotImplemented', 'copying a folder marker is not supported');
      const meta = { ...found.meta, ...kept };
      await ctx.locks.run(lockKeyOf(bucket, key),
        () => writeMeta(ctx.client, ctx.layout.metaPath(bucket, key), meta));
      sendCopyResult(r, meta.etag, Date.now());
      return;
    }
    const source = spanStream(handle!, 0, found.attr.length - 1);
    handle = null; // the stream owns it
    const received = await receive(ctx, source, new BodyDigest(noExpectations), () => undefined);
    const etag = received.digests.md5.toString('hex');
    const checksum = directive === 'COPY' ? found.meta.checksum : null;
    await commit(ctx, lockKeyOf(bucket, key), received, ctx.layout.objectPath(bucket, key),
      ctx.layout.metaPath(bucket, key), metaOf(received, etag, { ...kept, checksum }));
    sendCopyResult(r, etag, received.attr.mtimeMs);
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

const noExpectations = { contentMd5Base64: null, sha256Hex: null, checksum: null };

function sendCopyResult(r: S3Request, etag: string, mtimeMs: number): void {
  r.sendXml(200, xmlDocument('CopyObjectResult',
    el('LastModified', isoDate(mtimeMs)) + el('ETag', `"${etag}"`)));
}
