// How a body becomes an object without ever being visible half-written: it streams into a fresh
// file under the hidden .tmp folder (gathered into whole 1 MiB writes handed to the library
// without a further copy, the library's write-behind bounding what is in flight), is checked
// against every digest the client sent, optionally synced, and only then renamed to its key,
// with the metadata record written under the key's lock. Any failure, a client that goes away
// included, removes the temporary file.
import { BLOCK_SIZE_BYTES, FsError, assert } from '@antlerfs/protocol';
import type { Attr, FileHandle } from '../index.ts';
import type { BodyDigest, BodyDigests } from './body-digest.ts';
import { S3Error, toS3Error } from './errors.ts';
import type { GatewayContext } from './gateway-context.ts';
import { writeMeta, type ObjectMeta } from './object-meta.ts';

/** Size of the writes handed to the library: whole blocks, so no block is written twice. */
export const UPLOAD_WRITE_BYTES = 16 * BLOCK_SIZE_BYTES;
/** Times a commit makes the key's folders again when another request removed them meanwhile. */
const COMMIT_ATTEMPTS_MAX = 3;

/** A complete body in its temporary file. */
export interface Received {
  tmpPath: string;
  attr: Attr;
  digests: BodyDigests;
}

function isStatus(err: unknown, ...codes: string[]): boolean {
  return err instanceof FsError && codes.includes(err.code);
}

/** A new temporary file, making the .tmp folder the first time. */
export async function openTmp(ctx: GatewayContext): Promise<{ path: string; handle: FileHandle }> {
  const path = ctx.layout.tmpPath();
  try {
    return { path, handle: await ctx.client.open(path, 'wx') };
  } catch (err) {
    if (!isStatus(err, 'ENOENT')) throw err;
    await ctx.client.mkdir(ctx.layout.tmpRoot(), { recursive: true });
    return { path, handle: await ctx.client.open(path, 'wx') };
  }
}

/** Writes `source` from `startPosition` in UPLOAD_WRITE_BYTES pieces; returns bytes written. */
export async function writeStream(
  handle: FileHandle, source: AsyncIterable<Buffer>, digest: BodyDigest | null,
  startPosition = 0,
): Promise<number> {
  let pending = Buffer.allocUnsafe(UPLOAD_WRITE_BYTES);
  let used = 0;
  let position = startPosition;
  for await (const chunk of source) {
    digest?.update(chunk);
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(chunk.length - offset, UPLOAD_WRITE_BYTES - used);
      chunk.copy(pending, used, offset, offset + n);
      used += n;
      offset += n;
      if (used === UPLOAD_WRITE_BYTES) {
        // Handed over: the library keeps the buffer until written; a new one takes its place.
        await handle.write(pending, position, { transfer: true });
        position += used;
        pending = Buffer.allocUnsafe(UPLOAD_WRITE_BYTES);
        used = 0;
      }
    }
  }
  if (used > 0) await handle.write(pending.subarray(0, used), position, { transfer: true });
  return position + used - startPosition;
}

/** Removes a temporary file after a failure; its own failure is only logged. */
export async function discardTmp(
  ctx: GatewayContext, path: string, handle: FileHandle | null, reason: unknown,
): Promise<void> {
  const why = reason instanceof FsError ? reason : new FsError('EIO', 'upload abandoned');
  await handle?.abort(why).catch(() => undefined);
  try {
    await ctx.client.unlink(path);
  } catch (err) {
    if (!isStatus(err, 'ENOENT')) {
      ctx.log.warn('could not remove temporary file', { path, error: (err as Error).message });
    }
  }
}

/**
 * Streams `source` into a temporary file and checks it with `verify`; the file is synced
 * (S3_FSYNC) and closed. On any failure the file is gone and the error is thrown.
 */
export async function receive(
  ctx: GatewayContext, source: AsyncIterable<Buffer>, digest: BodyDigest,
  verify: (d: BodyDigests) => void,
): Promise<Received> {
  const { path, handle } = await openTmp(ctx);
  try {
    const written = await writeStream(handle, source, digest);
    const digests = digest.finish();
    assert(digests.sizeBytes === written, 'every byte hashed was written');
    verify(digests);
    if (ctx.config.fsync) await handle.fsync();
    await handle.close();
    const attr = await ctx.client.stat(path);
    if (attr.length !== written) {
      throw new S3Error('InternalError', `wrote ${written} bytes, the file has ${attr.length}`);
    }
    return { tmpPath: path, attr, digests };
  } catch (err) {
    await discardTmp(ctx, path, handle, err);
    throw err;
  }
}

/** Renames a received file to `objectPath` (making its folders) and writes its record. */
export async function commit(
  ctx: GatewayContext, lockKey: string, received: Received, objectPath: string,
  metaPath: string, meta: ObjectMeta,
): Promise<void> {
  try {
    // Both at once: a reader in between sees a record naming another inode, and ignores it.
    await ctx.locks.run(lockKey, () => Promise.all([
      renameIntoPlace(ctx, received.tmpPath, objectPath),
      writeMeta(ctx.client, metaPath, meta),
    ]));
  } catch (err) {
    await discardTmp(ctx, received.tmpPath, null, err);
    throw toS3Error(err);
  }
}

/** rename(2) to the key's path; a missing folder is made and the rename tried again. */
export async function renameIntoPlace(
  ctx: GatewayContext, from: string, to: string,
): Promise<void> {
  const parent = to.slice(0, to.lastIndexOf('/'));
  for (let attempt = 1; ; attempt++) {
    try {
      await ctx.client.rename(from, to);
      return;
    } catch (err) {
      if (!isStatus(err, 'ENOENT') || attempt >= COMMIT_ATTEMPTS_MAX) throw err;
    }
    try {
      await ctx.client.mkdir(parent, { recursive: true });
    } catch (err) {
      // A file where a folder of the key should be: the key passes through another object.
      if (isStatus(err, 'ENOTDIR', 'EEXIST')) throw new S3Error('XAntlerKeyConflict');
      throw err;
    }
  }
}

/** The record of a received object. */
export function metaOf(
  received: Received, etag: string, rest: Pick<ObjectMeta, 'headers' | 'user' | 'checksum'>,
): ObjectMeta {
  const { attr } = received;
  return { inode: attr.inode, lengthBytes: attr.length, mtimeMs: attr.mtimeMs, etag, ...rest };
}
