// DeleteObject and DeleteObjects. Deleting a key unlinks its file (or, for a folder marker,
// drops the record and the folder if it is empty) and its record; a missing key is no error,
// as in S3. Folders left empty above the key are removed too, up to the bucket, so prefixes
// vanish with their last object as they do in S3 (a folder marker stops that walk).
import { FsError, InodeType } from '@antlerfs/protocol';
import { requireBucket } from './bucket.ts';
import { S3Error, toS3Error } from './errors.ts';
import type { GatewayContext } from './gateway-context.ts';
import { checkKey, isFolderKey } from './object-layout.ts';
import { readMeta, removeMeta } from './object-meta.ts';
import { lockKeyOf } from './object-put.ts';
import { readSmallBody } from './request-body.ts';
import type { S3Request } from './s3-request.ts';
import { children, childText, el, escapeXml, parseXmlBody, xmlDocument } from './xml.ts';

/** S3's limit of keys in one DeleteObjects. */
export const DELETE_KEYS_MAX = 1000;
/** Deletions of one DeleteObjects in flight at once. */
const DELETES_INFLIGHT_MAX = 16;

function isStatus(err: unknown, ...codes: string[]): boolean {
  return err instanceof FsError && codes.includes(err.code);
}

/** Removes one key and then the folders it leaves empty. */
export async function deleteKey(ctx: GatewayContext, bucket: string, key: string): Promise<void> {
  checkKey(key);
  const path = ctx.layout.objectPath(bucket, key);
  await ctx.locks.run(lockKeyOf(bucket, key), async () => {
    await removeMeta(ctx.client, ctx.layout.metaPath(bucket, key));
    if (isFolderKey(key)) {
      await ctx.client.rmdir(path).catch((err: unknown) => {
        if (!isStatus(err, 'ENOENT', 'ENOTEMPTY', 'ENOTDIR')) throw err;
      });
      return;
    }
    try {
      const attr = await ctx.client.lstat(path);
      if (attr.type !== InodeType.DIR) await ctx.client.unlink(path);
    } catch (err) {
      if (!isStatus(err, 'ENOENT', 'ENOTDIR')) throw err;
    }
  });
  await removeEmptyParents(ctx, bucket, key);
}

/** Walks from the key's folder up to the bucket, removing folders that are empty. */
async function removeEmptyParents(ctx: GatewayContext, bucket: string, key: string): Promise<void> {
  const segments = (isFolderKey(key) ? key.slice(0, -1) : key).split('/');
  // One step per folder level of the key: bounded by its segments.
  for (let depth = segments.length - 1; depth >= 1; depth--) {
    const folderKey = segments.slice(0, depth).join('/') + '/';
    if (await readMeta(ctx.client, ctx.layout.metaPath(bucket, folderKey)) !== null) return;
    try {
      await ctx.client.rmdir(ctx.layout.objectPath(bucket, folderKey));
    } catch (err) {
      if (isStatus(err, 'ENOTEMPTY', 'ENOENT', 'ENOTDIR')) return;
      throw err;
    }
  }
}

export async function deleteObject(ctx: GatewayContext, r: S3Request): Promise<void> {
  await requireBucket(ctx, r.bucket!);
  await deleteKey(ctx, r.bucket!, r.key!);
  r.sendEmpty(204);
}

interface DeleteOutcome {
  key: string;
  error: S3Error | null;
}

export async function deleteObjects(ctx: GatewayContext, r: S3Request): Promise<void> {
  const bucket = r.bucket!;
  const doc = parseXmlBody(await readSmallBody(r), 'Delete');
  const quiet = childText(doc, 'Quiet')?.trim().toLowerCase() === 'true';
  const objects = children(doc, 'Object');
  if (objects.length === 0 || objects.length > DELETE_KEYS_MAX) {
    throw new S3Error('MalformedXML', `Delete must name 1..${DELETE_KEYS_MAX} objects`);
  }
  const keys = objects.map((o) => {
    const key = childText(o, 'Key');
    if (key === undefined) throw new S3Error('MalformedXML', 'an Object has no Key');
    return key;
  });
  await requireBucket(ctx, bucket);
  const outcomes: DeleteOutcome[] = new Array<DeleteOutcome>(keys.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < keys.length; i = next++) {
      const key = keys[i]!;
      try {
        await deleteKey(ctx, bucket, key);
        outcomes[i] = { key, error: null };
      } catch (err) {
        outcomes[i] = { key, error: toS3Error(err) };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(DELETES_INFLIGHT_MAX, keys.length) }, worker));
  let inner = '';
  for (const o of outcomes) {
    if (o.error !== null) {
      inner += `<Error>${el('Key', o.key)}${el('Code', o.error.code)}` +
        `${el('Message', o.error.message)}</Error>`;
    } else if (!quiet) {
      inner += `<Deleted><Key>${escapeXml(o.key)}</Key></Deleted>`;
    }
  }
  r.sendXml(200, xmlDocument('DeleteResult', inner));
}
