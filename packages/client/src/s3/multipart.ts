// Multipart uploads: Create, UploadPart, UploadPartCopy, Abort, ListParts and
// ListMultipartUploads (Complete is in multipart-complete.ts). An upload is a hidden folder
// .multipart/<uploadId>/ holding its record (`upload`: bucket, key, headers, metadata) and its
// parts as files named by their 5-digit number, each with a record (`NNNNN.meta`: ETag, size,
// checksum) written like an object's. A part arrives like any body (temporary file, digests
// checked) and is renamed over an earlier part of the same number.
import crypto from 'node:crypto';
import { FsError, InodeType } from '@antlerfs/protocol';
import type { Attr } from '../index.ts';
import { BodyDigest, CHECKSUM_ALGORITHMS, type ChecksumAlgorithm } from './body-digest.ts';
import { isoDate, requireBucket } from './bucket.ts';
import { S3Error, toS3Error } from './errors.ts';
import type { GatewayContext } from './gateway-context.ts';
import { parseRange } from './http-conditions.ts';
import { checkKey, isFolderKey } from './object-layout.ts';
import { findObject } from './object-get.ts';
import { effectiveMeta, readMeta, type ObjectMeta } from './object-meta.ts';
import { parseCopySource, requestMeta, spanStream } from './object-put.ts';
import { commit, metaOf, receive } from './object-upload.ts';
import { RequestBody } from './request-body.ts';
import type { S3Request } from './s3-request.ts';
import { el, xmlDocument } from './xml.ts';

const UPLOAD_RECORD = 'upload';
const UPLOAD_RECORD_PREFIX = 's3upload1 ';
/** Uploads a listing reads at most (each costs a record read). */
const UPLOADS_SCANNED_MAX = 100_000;
/** S3's largest page of parts and of uploads. */
const LIST_PAGE_MAX = 1000;

export interface UploadRecord {
  bucket: string;
  key: string;
  initiatedMs: number;
  headers: ObjectMeta['headers'];
  user: ObjectMeta['user'];
  checksumAlgorithm: ChecksumAlgorithm | null;
}

function isStatus(err: unknown, ...codes: string[]): boolean {
  return err instanceof FsError && codes.includes(err.code);
}

export function partName(partNumber: number): string {
  return String(partNumber).padStart(5, '0');
}

export function checkUploadId(id: string | undefined): string {
  if (id === undefined || !/^[0-9a-f]{32}$/.test(id)) throw new S3Error('NoSuchUpload');
  return id;
}

/** The upload's record; NoSuchUpload when it is gone or belongs to another key. */
export async function loadUpload(
  ctx: GatewayContext, uploadId: string, bucket: string, key: string,
): Promise<UploadRecord> {
  const rec = await readUploadRecord(ctx, uploadId);
  if (rec === null || rec.bucket !== bucket || rec.key !== key) throw new S3Error('NoSuchUpload');
  return rec;
}

async function readUploadRecord(
  ctx: GatewayContext, uploadId: string,
): Promise<UploadRecord | null> {
  let text: string;
  try {
    text = await ctx.client.readlink(`${ctx.layout.uploadPath(uploadId)}/${UPLOAD_RECORD}`);
  } catch (err) {
    if (isStatus(err, 'ENOENT', 'ENOTDIR', 'EINVAL')) return null;
    throw err;
  }
  if (!text.startsWith(UPLOAD_RECORD_PREFIX)) return null;
  try {
    return JSON.parse(text.slice(UPLOAD_RECORD_PREFIX.length)) as UploadRecord;
  } catch {
    return null;
  }
}

export async function createMultipartUpload(ctx: GatewayContext, r: S3Request): Promise<void> {
  const bucket = r.bucket!;
  const key = r.key!;
  checkKey(key);
  if (isFolderKey(key)) throw new S3Error('InvalidRequest', 'a folder marker cannot be multipart');
  const algorithmText = r.header('x-amz-checksum-algorithm')?.toLowerCase();
  const checksumAlgorithm = CHECKSUM_ALGORITHMS.find((a) => a === algorithmText) ?? null;
  if (algorithmText !== undefined && checksumAlgorithm === null) {
    throw new S3Error('InvalidRequest', `unsupported checksum algorithm "${algorithmText}"`);
  }
  const meta = requestMeta(r);
  await requireBucket(ctx, bucket);
  const uploadId = crypto.randomBytes(16).toString('hex');
  const dir = ctx.layout.uploadPath(uploadId);
  await ctx.client.mkdir(dir, { recursive: true });
  const record: UploadRecord = {
    bucket, key, initiatedMs: Date.now(), ...meta, checksumAlgorithm,
  };
  const target = UPLOAD_RECORD_PREFIX + JSON.stringify(record);
  try {
    await ctx.client.symlink(target, `${dir}/${UPLOAD_RECORD}`);
  } catch (err) {
    await ctx.client.rmdir(dir).catch(() => undefined);
    if (isStatus(err, 'ENAMETOOLONG', 'EINVAL')) throw new S3Error('MetadataTooLarge');
    throw err;
  }
  if (checksumAlgorithm !== null) {
    r.res.setHeader('x-amz-checksum-algorithm', checksumAlgorithm.toUpperCase());
  }
  r.sendXml(200, xmlDocument('InitiateMultipartUploadResult',
    el('Bucket', bucket) + el('Key', key) + el('UploadId', uploadId)));
}

function partNumberOf(ctx: GatewayContext, r: S3Request): number {
  const text = r.query.get('partNumber') ?? '';
  const n = /^\d{1,5}$/.test(text) ? Number(text) : 0;
  if (n < 1 || n > ctx.config.partsMax) {
    throw new S3Error('InvalidArgument', `Part number must be an integer between 1 and ` +
      `${ctx.config.partsMax}, inclusive`, { ArgumentName: 'partNumber', ArgumentValue: text });
  }
  return n;
}

/** UploadPart, or UploadPartCopy when x-amz-copy-source is present. */
export async function uploadPart(ctx: GatewayContext, r: S3Request): Promise<void> {
  const bucket = r.bucket!;
  const key = r.key!;
  const partNumber = partNumberOf(ctx, r);
  const uploadId = checkUploadId(r.query.get('uploadId'));
  const copySource = r.header('x-amz-copy-source');
  const body = copySource === undefined ? new RequestBody(r, ctx.config.bodyMaxBytes) : null;
  await requireBucket(ctx, bucket);
  await loadUpload(ctx, uploadId, bucket, key);
  const partPath = `${ctx.layout.uploadPath(uploadId)}/${partName(partNumber)}`;
  const lockKey = `${uploadId}/${partNumber}`;
  if (body === null) {
    await uploadPartCopy(ctx, r, copySource!, { partPath, lockKey });
    return;
  }
  const received = await receive(ctx, body.data(), body.newDigest(), (d) => body.verify(d));
  const etag = received.digests.md5.toString('hex');
  const checksum = body.checksumOf(received.digests);
  await commit(ctx, lockKey, received, partPath, `${partPath}.meta`,
    metaOf(received, etag, { headers: {}, user: {}, checksum }));
  const headers: Record<string, string> = { ETag: `"${etag}"` };
  if (checksum !== null) headers[`x-amz-checksum-${checksum.algorithm}`] = checksum.base64;
  r.sendEmpty(200, headers);
}

async function uploadPartCopy(
  ctx: GatewayContext, r: S3Request, copySource: string, to: { partPath: string; lockKey: string },
): Promise<void> {
  const src = parseCopySource(copySource);
  await requireBucket(ctx, src.bucket);
  const found = await findObject(ctx, src.bucket, src.key, true);
  let handle = found.handle;
  try {
    if (handle === null || found.attr.type !== InodeType.FILE) {
      throw new S3Error('InvalidRequest', 'the copy source is not a file');
    }
    const rangeText = r.header('x-amz-copy-source-range');
    const range = parseRange(rangeText, found.attr.length);
    if (rangeText !== undefined && range === null) {
      throw new S3Error('InvalidArgument', 'x-amz-copy-source-range must be bytes=first-last',
        { ArgumentName: 'x-amz-copy-source-range' });
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? found.attr.length - 1;
    const source = spanStream(handle, start, end);
    handle = null;
    const digest = new BodyDigest({ contentMd5Base64: null, sha256Hex: null, checksum: null });
    const received = await receive(ctx, source, digest, () => undefined);
    const etag = received.digests.md5.toString('hex');
    await commit(ctx, to.lockKey, received, to.partPath, `${to.partPath}.meta`,
      metaOf(received, etag, { headers: {}, user: {}, checksum: null }));
    r.sendXml(200, xmlDocument('CopyPartResult',
      el('LastModified', isoDate(received.attr.mtimeMs)) + el('ETag', `"${etag}"`)));
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** Removes an upload's folder: its parts, their records and its own record. */
export async function removeUpload(ctx: GatewayContext, uploadId: string): Promise<void> {
  const dir = ctx.layout.uploadPath(uploadId);
  let entries: { name: string }[] = [];
  try {
    entries = await ctx.client.readdir(dir);
  } catch (err) {
    if (isStatus(err, 'ENOENT')) return;
    throw err;
  }
  await Promise.all(entries.map((e) => ctx.client.unlink(`${dir}/${e.name}`).catch((err) => {
    if (!isStatus(err, 'ENOENT')) throw toS3Error(err);
  })));
  await ctx.client.rmdir(dir).catch((err: unknown) => {
    if (!isStatus(err, 'ENOENT')) throw err;
  });
}

export async function abortMultipartUpload(ctx: GatewayContext, r: S3Request): Promise<void> {
  const uploadId = checkUploadId(r.query.get('uploadId'));
  await requireBucket(ctx, r.bucket!);
  await loadUpload(ctx, uploadId, r.bucket!, r.key!);
  await ctx.locks.run(`upload/${uploadId}`, () => removeUpload(ctx, uploadId));
  r.sendEmpty(204);
}

export interface StoredPart {
  partNumber: number;
  attr: Attr;
  meta: ObjectMeta;
}

/** The parts of an upload in number order, each with its record (or defaults). */
export async function storedParts(ctx: GatewayContext, uploadId: string): Promise<StoredPart[]> {
  const dir = ctx.layout.uploadPath(uploadId);
  const entries = await ctx.client.readdir(dir);
  const files = entries.filter((e) => /^\d{5}$/.test(e.name) && e.attr.type === InodeType.FILE);
  const parts = await Promise.all(files.map(async (e) => {
    const record = await readMeta(ctx.client, `${dir}/${e.name}.meta`);
    return { partNumber: Number(e.name), attr: e.attr, meta: effectiveMeta(e.attr, record) };
  }));
  return parts.sort((a, b) => a.partNumber - b.partNumber);
}

function pageSizeOf(r: S3Request, name: string): number {
  const text = r.query.get(name);
  if (text === undefined) return LIST_PAGE_MAX;
  if (!/^\d{1,9}$/.test(text)) throw new S3Error('InvalidArgument', `${name} must be an integer`);
  return Math.min(Number(text), LIST_PAGE_MAX);
}

const OWNER = `${el('ID', 'antlerfs')}${el('DisplayName', 'antlerfs')}`;

export async function listParts(ctx: GatewayContext, r: S3Request): Promise<void> {
  const uploadId = checkUploadId(r.query.get('uploadId'));
  await requireBucket(ctx, r.bucket!);
  await loadUpload(ctx, uploadId, r.bucket!, r.key!);
  const maxParts = pageSizeOf(r, 'max-parts');
  const marker = Number(r.query.get('part-number-marker') ?? '0') || 0;
  const all = (await storedParts(ctx, uploadId)).filter((p) => p.partNumber > marker);
  const page = all.slice(0, maxParts);
  const truncated = all.length > page.length;
  let inner = el('Bucket', r.bucket!) + el('Key', r.key!) + el('UploadId', uploadId) +
    `<Initiator>${OWNER}</Initiator><Owner>${OWNER}</Owner>` + el('StorageClass', 'STANDARD') +
    el('PartNumberMarker', marker) + el('MaxParts', maxParts) + el('IsTruncated', truncated);
  if (page.length > 0) inner += el('NextPartNumberMarker', page.at(-1)!.partNumber);
  for (const p of page) {
    inner += `<Part>${el('PartNumber', p.partNumber)}` +
      `${el('LastModified', isoDate(p.attr.mtimeMs))}` +
      `${el('ETag', `"${p.meta.etag}"`)}${el('Size', p.attr.length)}</Part>`;
  }
  r.sendXml(200, xmlDocument('ListPartsResult', inner));
}

export async function listMultipartUploads(ctx: GatewayContext, r: S3Request): Promise<void> {
  const bucket = r.bucket!;
  await requireBucket(ctx, bucket);
  const prefix = r.query.get('prefix') ?? '';
  const keyMarker = r.query.get('key-marker') ?? '';
  const idMarker = r.query.get('upload-id-marker') ?? '';
  const maxUploads = pageSizeOf(r, 'max-uploads');
  let ids: string[] = [];
  try {
    ids = (await ctx.client.readdir(ctx.layout.multipartRoot())).map((e) => e.name)
      .filter((n) => /^[0-9a-f]{32}$/.test(n)).slice(0, UPLOADS_SCANNED_MAX);
  } catch (err) {
    if (!isStatus(err, 'ENOENT')) throw err;
  }
  const records = await Promise.all(ids.map(async (id) => ({
    id, rec: await readUploadRecord(ctx, id),
  })));
  const after = (key: string, id: string): boolean =>
    keyMarker === '' || key > keyMarker || (key === keyMarker && idMarker !== '' && id > idMarker);
  const all = records.filter((x) => x.rec !== null && x.rec.bucket === bucket &&
    x.rec.key.startsWith(prefix) && after(x.rec.key, x.id))
    .map((x) => ({ id: x.id, rec: x.rec! }))
    .sort((a, b) => (a.rec.key < b.rec.key ? -1 : a.rec.key > b.rec.key ? 1
      : a.rec.initiatedMs - b.rec.initiatedMs || (a.id < b.id ? -1 : 1)));
  const page = all.slice(0, maxUploads);
  const truncated = all.length > page.length;
  let inner = el('Bucket', bucket) + el('KeyMarker', keyMarker) + el('UploadIdMarker', idMarker) +
    el('Prefix', prefix) + el('MaxUploads', maxUploads) + el('IsTruncated', truncated);
  if (truncated) {
    inner += el('NextKeyMarker', page.at(-1)!.rec.key) + el('NextUploadIdMarker', page.at(-1)!.id);
  }
  for (const u of page) {
    inner += `<Upload>${el('Key', u.rec.key)}${el('UploadId', u.id)}` +
      `<Initiator>${OWNER}</Initiator><Owner>${OWNER}</Owner>${el('StorageClass', 'STANDARD')}` +
      `${el('Initiated', isoDate(u.rec.initiatedMs))}</Upload>`;
  }
  r.sendXml(200, xmlDocument('ListMultipartUploadsResult', inner));
}
