// CompleteMultipartUpload: the listed parts are checked (ascending numbers, each present with
// the ETag given, each but the last at least S3_PART_MIN_BYTES), then copied one after another
// into a temporary file through the library (read stream -> writes; the master cannot join
// chunks of different files), which is renamed to the key with its record, and the upload's
// folder is removed. The ETag is S3's: MD5 of the parts' binary MD5s, then "-<count>". As S3
// does, the 200 status goes out before the copy and whitespace keeps the connection alive; a
// failure after that is an Error document in the body.
import crypto from 'node:crypto';
import { requireBucket } from './bucket.ts';
import { newChecksum, type BodyDigests } from './body-digest.ts';
import { S3Error, toS3Error } from './errors.ts';
import type { GatewayContext } from './gateway-context.ts';
import {
  checkUploadId, loadUpload, partName, removeUpload, storedParts, type StoredPart,
  type UploadRecord,
} from './multipart.ts';
import type { ObjectMeta } from './object-meta.ts';
import { lockKeyOf, spanStream } from './object-put.ts';
import {
  commit, discardTmp, metaOf, openTmp, writeStream, type Received,
} from './object-upload.ts';
import { readSmallBody } from './request-body.ts';
import type { S3Request } from './s3-request.ts';
import { children, childText, el, errorDocument, parseXmlBody, S3_XMLNS } from './xml.ts';

/** A space goes out this often while parts are being joined, so clients do not time out. */
const KEEPALIVE_INTERVAL_MS = 10_000;

interface ListedPart {
  partNumber: number;
  etag: string;
}

function listedParts(body: Buffer, partsMax: number): ListedPart[] {
  const doc = parseXmlBody(body, 'CompleteMultipartUpload');
  const parts = children(doc, 'Part').map((p) => {
    const n = childText(p, 'PartNumber')?.trim() ?? '';
    const etag = childText(p, 'ETag')?.trim().replace(/^"|"$/g, '') ?? '';
    if (!/^\d{1,5}$/.test(n) || Number(n) < 1 || Number(n) > partsMax || etag === '') {
      throw new S3Error('MalformedXML', 'each Part needs a PartNumber and an ETag');
    }
    return { partNumber: Number(n), etag };
  });
  if (parts.length === 0) throw new S3Error('InvalidRequest', 'You must specify at least one part');
  for (let i = 1; i < parts.length; i++) {
    if (parts[i]!.partNumber <= parts[i - 1]!.partNumber) throw new S3Error('InvalidPartOrder');
  }
  return parts;
}

/** The stored parts the list names, checked as S3 checks them. */
function chosenParts(listed: ListedPart[], stored: StoredPart[], minBytes: number): StoredPart[] {
  const byNumber = new Map(stored.map((p) => [p.partNumber, p]));
  const chosen = listed.map((l) => {
    const p = byNumber.get(l.partNumber);
    if (p === undefined || p.meta.etag !== l.etag) {
      throw new S3Error('InvalidPart', undefined,
        { PartNumber: String(l.partNumber), ETag: l.etag });
    }
    return p;
  });
  chosen.slice(0, -1).forEach((p) => {
    if (p.attr.length < minBytes) {
      throw new S3Error('EntityTooSmall', undefined, {
        ProposedSize: String(p.attr.length), MinSizeAllowed: String(minBytes),
        PartNumber: String(p.partNumber), ETag: p.meta.etag,
      });
    }
  });
  return chosen;
}

/** S3's multipart ETag: MD5 of the binary part MD5s, "-", the part count. */
export function multipartEtag(partEtags: string[]): string {
  const md5 = crypto.createHash('md5');
  for (const e of partEtags) md5.update(Buffer.from(e, 'hex'));
  return `${md5.digest('hex')}-${partEtags.length}`;
}

/** The composite checksum (checksum of the parts' checksums, "-N") when every part has one. */
function compositeChecksum(rec: UploadRecord, parts: StoredPart[]): ObjectMeta['checksum'] {
  const algorithm = rec.checksumAlgorithm;
  if (algorithm === null) return null;
  if (parts.some((p) => p.meta.checksum?.algorithm !== algorithm)) return null;
  const c = newChecksum(algorithm);
  for (const p of parts) c.update(Buffer.from(p.meta.checksum!.base64, 'base64'));
  return { algorithm, base64: `${c.digest().toString('base64')}-${parts.length}` };
}

/** Copies the parts in order into a new temporary file; returns it synced and closed. */
async function joinParts(
  ctx: GatewayContext, uploadId: string, parts: StoredPart[],
): Promise<Received> {
  const { path, handle } = await openTmp(ctx);
  try {
    let position = 0;
    for (const p of parts) {
      const partPath = `${ctx.layout.uploadPath(uploadId)}/${partName(p.partNumber)}`;
      const source = spanStream(await ctx.client.open(partPath, 'r'), 0, p.attr.length - 1);
      position += await writeStream(handle, source, null, position);
    }
    if (ctx.config.fsync) await handle.fsync();
    await handle.close();
    const attr = await ctx.client.stat(path);
    if (attr.length !== position) {
      throw new S3Error('InternalError', `joined ${position} bytes, the file has ${attr.length}`);
    }
    const digests: BodyDigests = { md5: Buffer.alloc(16), sha256Hex: null, checksum: null,
      sizeBytes: position };
    return { tmpPath: path, attr, digests };
  } catch (err) {
    await discardTmp(ctx, path, handle, err);
    throw err;
  }
}

export async function completeMultipartUpload(ctx: GatewayContext, r: S3Request): Promise<void> {
  const bucket = r.bucket!;
  const key = r.key!;
  const uploadId = checkUploadId(r.query.get('uploadId'));
  const listed = listedParts(await readSmallBody(r), ctx.config.partsMax);
  await requireBucket(ctx, bucket);
  await ctx.locks.run(`upload/${uploadId}`, async () => {
    const rec = await loadUpload(ctx, uploadId, bucket, key);
    const parts = chosenParts(listed, await storedParts(ctx, uploadId), ctx.config.partMinBytes);
    const etag = multipartEtag(parts.map((p) => p.meta.etag));
    const checksum = compositeChecksum(rec, parts);
    r.startBody(200, { 'Content-Type': 'application/xml' });
    r.res.write('<?xml version="1.0" encoding="UTF-8"?>\n');
    const timer = setInterval(() => {
      if (r.writable) r.res.write(' ');
    }, KEEPALIVE_INTERVAL_MS);
    try {
      const received = await joinParts(ctx, uploadId, parts);
      const meta = metaOf(received, etag, { headers: rec.headers, user: rec.user, checksum });
      await commit(ctx, lockKeyOf(bucket, key), received, ctx.layout.objectPath(bucket, key),
        ctx.layout.metaPath(bucket, key), meta);
      await removeUpload(ctx, uploadId);
      r.res.end(`<CompleteMultipartUploadResult xmlns="${S3_XMLNS}">` +
        el('Location', `/${bucket}/${key}`) + el('Bucket', bucket) + el('Key', key) +
        el('ETag', `"${etag}"`) + '</CompleteMultipartUploadResult>');
    } catch (err) {
      const e = toS3Error(err);
      ctx.log.warn('complete multipart upload failed',
        { uploadId, code: e.code, error: e.message });
      r.res.end(errorDocument({ Code: e.code, Message: e.message, RequestId: r.id })
        .replace(/^<\?xml[^>]*>\n/, ''));
    } finally {
      clearInterval(timer);
    }
  });
}
