// ListObjects (v1: marker) and ListObjectsV2 (continuation-token, start-after): one page of the
// bucket's keys in S3 order from key-walk.ts, with common prefixes for a delimiter, and each
// object's ETag from its metadata record (fetched for the whole page at once). A continuation
// token is the last key or prefix of the page, so a page after it starts exactly there.
import { uriEncode } from './auth-sigv4.ts';
import { isoDate, requireBucket } from './bucket.ts';
import { S3Error } from './errors.ts';
import type { GatewayContext } from './gateway-context.ts';
import { compareKeys, walkKeys, type WalkItem } from './key-walk.ts';
import { effectiveMeta, readMeta, type ObjectMeta } from './object-meta.ts';
import type { S3Request } from './s3-request.ts';
import { el, xmlDocument } from './xml.ts';

/** S3's largest page. */
export const LIST_KEYS_MAX = 1000;
/** Records read at once while filling a page. */
const RECORD_READS_INFLIGHT_MAX = 32;

export interface ListPage {
  items: WalkItem[];
  /** ETags and metadata of the page's objects, by index in `items`. */
  metas: Map<number, ObjectMeta>;
  truncated: boolean;
}

function maxKeysOf(r: S3Request): number {
  const text = r.query.get('max-keys');
  if (text === undefined) return LIST_KEYS_MAX;
  if (!/^\d{1,9}$/.test(text)) {
    throw new S3Error('InvalidArgument', 'max-keys must be an integer >= 0',
      { ArgumentName: 'max-keys' });
  }
  return Math.min(Number(text), LIST_KEYS_MAX);
}

/** Walks to one more item than the page holds, to know whether it is truncated. */
export async function listPage(
  ctx: GatewayContext, bucket: string,
  o: { prefix: string; delimiter: string; startAfter: string; maxKeys: number },
): Promise<ListPage> {
  const items: WalkItem[] = [];
  let truncated = false;
  for await (const item of walkKeys(ctx, bucket, o)) {
    if (items.length === o.maxKeys) {
      truncated = true;
      break;
    }
    items.push(item);
  }
  const metas = new Map<number, ObjectMeta>();
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) {
      const item = items[i]!;
      if (item.kind !== 'object') continue;
      const record = item.record ??
        await readMeta(ctx.client, ctx.layout.metaPath(bucket, item.key));
      metas.set(i, effectiveMeta(item.attr, record));
    }
  };
  await Promise.all(Array.from({ length: RECORD_READS_INFLIGHT_MAX }, worker));
  return { items, metas, truncated };
}

function encodeToken(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

function decodeToken(token: string): string {
  if (!/^[A-Za-z0-9_-]*$/.test(token)) {
    throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect',
      { ArgumentName: 'continuation-token' });
  }
  return Buffer.from(token, 'base64url').toString('utf8');
}

function contentsXml(page: ListPage, enc: (s: string) => string, owner: boolean): string {
  let out = '';
  page.items.forEach((item, i) => {
    if (item.kind === 'prefix') {
      out += `<CommonPrefixes>${el('Prefix', enc(item.key))}</CommonPrefixes>`;
      return;
    }
    const meta = page.metas.get(i)!;
    const size = item.isMarker ? 0 : item.attr.length;
    out += `<Contents>${el('Key', enc(item.key))}` +
      `${el('LastModified', isoDate(item.attr.mtimeMs))}` +
      `${el('ETag', `"${meta.etag}"`)}${el('Size', size)}` +
      (owner ? `<Owner>${el('ID', 'antlerfs')}${el('DisplayName', 'antlerfs')}</Owner>` : '') +
      `${el('StorageClass', 'STANDARD')}</Contents>`;
  });
  return out;
}

export async function listObjects(ctx: GatewayContext, r: S3Request): Promise<void> {
  const bucket = r.bucket!;
  const v2 = r.query.get('list-type') === '2';
  const encodingType = r.query.get('encoding-type');
  if (encodingType !== undefined && encodingType !== 'url') {
    throw new S3Error('InvalidArgument', 'encoding-type must be url',
      { ArgumentName: 'encoding-type' });
  }
  const enc = encodingType === 'url' ? (s: string) => uriEncode(s, false) : (s: string) => s;
  const prefix = r.query.get('prefix') ?? '';
  const delimiter = r.query.get('delimiter') ?? '';
  const maxKeys = maxKeysOf(r);
  const token = r.query.get('continuation-token');
  const startAfterParam = r.query.get('start-after') ?? '';
  const marker = v2 ? '' : r.query.get('marker') ?? '';
  let startAfter = v2 ? startAfterParam : marker;
  if (v2 && token !== undefined) {
    const fromToken = decodeToken(token);
    if (compareKeys(fromToken, startAfter) > 0) startAfter = fromToken;
  }
  await requireBucket(ctx, bucket);
  const page = await listPage(ctx, bucket, { prefix, delimiter, startAfter, maxKeys });
  const last = page.items.at(-1)?.key ?? '';
  let inner = el('Name', bucket) + el('Prefix', enc(prefix));
  if (v2) {
    if (token !== undefined) inner += el('ContinuationToken', token);
    if (startAfterParam !== '') inner += el('StartAfter', enc(startAfterParam));
    inner += el('KeyCount', page.items.length);
    if (page.truncated) inner += el('NextContinuationToken', encodeToken(last));
  } else {
    inner += el('Marker', enc(marker));
    if (page.truncated) inner += el('NextMarker', enc(last));
  }
  inner += el('MaxKeys', maxKeys);
  if (delimiter !== '') inner += el('Delimiter', enc(delimiter));
  if (encodingType !== undefined) inner += el('EncodingType', encodingType);
  inner += el('IsTruncated', page.truncated);
  const owner = !v2 || r.query.get('fetch-owner') === 'true';
  inner += contentsXml(page, enc, owner);
  r.sendXml(200, xmlDocument('ListBucketResult', inner));
}
