// Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation and
// GetBucketVersioning (never enabled). A bucket is a folder of the root; its metadata records
// live under .meta/<bucket>, made with the bucket and removed with it. A bucket is empty when
// its folder is: only then does DeleteBucket remove it (else BucketNotEmpty).
import { FsError, InodeType } from '@antlerfs/protocol';
import type { Attr } from '../index.ts';
import { S3Error } from './errors.ts';
import type { GatewayContext } from './gateway-context.ts';
import { checkBucketName, isBucketName } from './object-layout.ts';
import { readSmallBody } from './request-body.ts';
import type { S3Request } from './s3-request.ts';
import { el, xmlDocument } from './xml.ts';

/** Folders of one bucket's record tree (256 by hash) plus slack: bounds the removal walk. */
const META_FOLDERS_MAX = 4096;

function isStatus(err: unknown, ...codes: string[]): boolean {
  return err instanceof FsError && codes.includes(err.code);
}

/** The bucket's folder, or NoSuchBucket. */
export async function requireBucket(ctx: GatewayContext, bucket: string): Promise<Attr> {
  let attr: Attr;
  try {
    attr = await ctx.client.stat(ctx.layout.bucketPath(bucket));
  } catch (err) {
    if (isStatus(err, 'ENOENT', 'ENOTDIR', 'EINVAL', 'ENAMETOOLONG')) {
      throw new S3Error('NoSuchBucket');
    }
    throw err;
  }
  if (attr.type !== InodeType.DIR || !isBucketName(bucket)) throw new S3Error('NoSuchBucket');
  return attr;
}

export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

export function isoDate(ms: number): string {
  return new Date(ms).toISOString();
}

export async function listBuckets(ctx: GatewayContext, r: S3Request): Promise<void> {
  let entries: { name: string; attr: Attr }[] = [];
  try {
    entries = await ctx.client.readdir(ctx.layout.root);
  } catch (err) {
    if (!isStatus(err, 'ENOENT')) throw err;
  }
  let inner = '';
  for (const e of entries) {
    if (e.attr.type !== InodeType.DIR || !isBucketName(e.name)) continue;
    inner += `<Bucket>${el('Name', e.name)}${el('CreationDate', isoDate(e.attr.ctimeMs))}</Bucket>`;
  }
  const owner = `<Owner>${el('ID', 'antlerfs')}${el('DisplayName', 'antlerfs')}</Owner>`;
  r.sendXml(200, xmlDocument('ListAllMyBucketsResult', `${owner}<Buckets>${inner}</Buckets>`));
}

export async function createBucket(ctx: GatewayContext, r: S3Request): Promise<void> {
  const bucket = r.bucket!;
  checkBucketName(bucket);
  // A CreateBucketConfiguration may come; its digests are checked, its location not used.
  await readSmallBody(r);
  await ctx.client.mkdir(ctx.layout.root, { recursive: true });
  try {
    await ctx.client.mkdir(ctx.layout.bucketPath(bucket));
  } catch (err) {
    if (isStatus(err, 'EEXIST')) throw new S3Error('BucketAlreadyOwnedByYou');
    throw err;
  }
  await ctx.client.mkdir(ctx.layout.metaBucketPath(bucket), { recursive: true });
  r.sendEmpty(200, { Location: `/${bucket}` });
}

export async function headBucket(ctx: GatewayContext, r: S3Request): Promise<void> {
  await requireBucket(ctx, r.bucket!);
  r.sendEmpty(200, { 'x-amz-bucket-region': ctx.config.region });
}

export async function deleteBucket(ctx: GatewayContext, r: S3Request): Promise<void> {
  const bucket = r.bucket!;
  await requireBucket(ctx, bucket);
  const path = ctx.layout.bucketPath(bucket);
  if ((await ctx.client.readdir(path)).length > 0) throw new S3Error('BucketNotEmpty');
  try {
    await ctx.client.rmdir(path);
  } catch (err) {
    if (isStatus(err, 'ENOTEMPTY')) throw new S3Error('BucketNotEmpty');
    throw err;
  }
  await removeMetaTree(ctx, bucket);
  r.sendEmpty(204);
}

/** Removes .meta/<bucket>: its hash folders and what is left in them. */
async function removeMetaTree(ctx: GatewayContext, bucket: string): Promise<void> {
  const top = ctx.layout.metaBucketPath(bucket);
  let folders: { name: string }[];
  try {
    folders = await ctx.client.readdir(top);
  } catch (err) {
    if (isStatus(err, 'ENOENT')) return;
    throw err;
  }
  for (const f of folders.slice(0, META_FOLDERS_MAX)) {
    const dir = `${top}/${f.name}`;
    const records = await ctx.client.readdir(dir).catch(() => []);
    await Promise.all(records.map((rec) => ctx.client.unlink(`${dir}/${rec.name}`)
      .catch(() => undefined)));
    await ctx.client.rmdir(dir).catch(() => undefined);
  }
  await ctx.client.rmdir(top).catch(() => undefined);
}

export async function getBucketLocation(ctx: GatewayContext, r: S3Request): Promise<void> {
  await requireBucket(ctx, r.bucket!);
  // S3 reports its first region as an empty constraint.
  const region = ctx.config.region === 'us-east-1' ? '' : ctx.config.region;
  r.sendXml(200, xmlDocument('LocationConstraint', region.replace(/[<&>]/g, '')));
}

export async function getBucketVersioning(ctx: GatewayContext, r: S3Request): Promise<void> {
  await requireBucket(ctx, r.bucket!);
  r.sendXml(200, xmlDocument('VersioningConfiguration', ''));
}
