// The keys of a bucket in S3 order (UTF-8 byte order), walked lazily from the folder of the
// prefix: a folder sorts as its name plus '/', so "a-c" comes before the keys in "a/". With a
// delimiter, keys sharing the part up to it are rolled into one common prefix and folders that
// lie wholly inside one are not entered. `startAfter` skips every key and prefix up to it,
// whole folders at once. The walk uses an explicit stack, never recursion.
import { FsError, InodeType, assert } from '@antlerfs/protocol';
import type { Attr, DirEntry } from '../index.ts';
import type { GatewayContext } from './gateway-context.ts';
import { readMeta, type ObjectMeta } from './object-meta.ts';

/** Entries visited by one walk at most: beyond it the listing fails instead of running on. */
const WALK_STEPS_MAX = 100_000_000;

export type WalkItem =
  | { kind: 'object'; key: string; attr: Attr; record: ObjectMeta | null; isMarker: boolean }
  | { kind: 'prefix'; key: string };

export interface WalkOptions {
  prefix: string;
  delimiter: string;
  startAfter: string;
}

/** S3 order: by UTF-8 bytes. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

interface Frame {
  dirKey: string;
  entries: { name: string; attr: Attr; sortKey: string }[];
  index: number;
}

async function loadFrame(ctx: GatewayContext, bucket: string, dirKey: string): Promise<Frame> {
  const path = dirKey === ''
    ? ctx.layout.bucketPath(bucket)
    : ctx.layout.objectPath(bucket, dirKey);
  let entries: DirEntry[] = [];
  try {
    entries = await ctx.client.readdir(path);
  } catch (err) {
    const gone = err instanceof FsError && (err.code === 'ENOENT' || err.code === 'ENOTDIR');
    if (!gone) throw err;
  }
  const kept = entries
    .filter((e) => e.attr.type === InodeType.FILE || e.attr.type === InodeType.DIR)
    .map((e) => ({
      name: e.name, attr: e.attr,
      sortKey: e.attr.type === InodeType.DIR ? `${e.name}/` : e.name,
    }));
  kept.sort((a, b) => compareKeys(a.sortKey, b.sortKey));
  return { dirKey, entries: kept, index: 0 };
}

/** True when every key inside folder `dirKey` sorts at or before `startAfter`. */
function folderSkipped(dirKey: string, startAfter: string): boolean {
  return startAfter !== '' && compareKeys(startAfter, dirKey) > 0 && !startAfter.startsWith(dirKey);
}

/** The common prefix `key` rolls into, or null. */
function commonPrefixOf(key: string, o: WalkOptions): string | null {
  if (o.delimiter === '') return null;
  const rest = key.slice(o.prefix.length);
  const i = rest.indexOf(o.delimiter);
  return i < 0 ? null : o.prefix + rest.slice(0, i + o.delimiter.length);
}

function prefixSkipped(cp: string, startAfter: string): boolean {
  return startAfter !== '' && (compareKeys(cp, startAfter) <= 0 || startAfter.startsWith(cp));
}

export async function* walkKeys(
  ctx: GatewayContext, bucket: string, o: WalkOptions,
): AsyncGenerator<WalkItem> {
  const baseKey = o.prefix.slice(0, o.prefix.lastIndexOf('/') + 1);
  const stack: Frame[] = [await loadFrame(ctx, bucket, baseKey)];
  if (baseKey !== '' && baseKey === o.prefix && o.startAfter === '') {
    // The folder of the prefix may itself be a marker object ("a/" listed with prefix "a/").
    const marker = await markerOf(ctx, bucket, baseKey);
    if (marker !== null) yield marker;
  }
  let lastPrefix: string | null = null;
  for (let steps = 0; stack.length > 0; steps++) {
    assert(steps < WALK_STEPS_MAX, 'a listing walk ends');
    const frame = stack[stack.length - 1]!;
    const entry = frame.entries[frame.index++];
    if (entry === undefined) {
      stack.pop();
      continue;
    }
    const isDir = entry.attr.type === InodeType.DIR;
    const key = frame.dirKey + entry.sortKey;
    if (!key.startsWith(o.prefix)) continue;
    if (isDir ? folderSkipped(key, o.startAfter)
      : o.startAfter !== '' && compareKeys(key, o.startAfter) <= 0) continue;
    const cp = commonPrefixOf(key, o);
    if (cp !== null) {
      if (cp !== lastPrefix && !prefixSkipped(cp, o.startAfter)) {
        lastPrefix = cp;
        yield { kind: 'prefix', key: cp };
      }
      continue;
    }
    if (!isDir) {
      yield { kind: 'object', key, attr: entry.attr, record: null, isMarker: false };
      continue;
    }
    const record = await readMeta(ctx.client, ctx.layout.metaPath(bucket, key));
    const after = o.startAfter === '' || compareKeys(key, o.startAfter) > 0;
    if (record !== null && record.inode === entry.attr.inode && after) {
      yield { kind: 'object', key, attr: entry.attr, record, isMarker: true };
    }
    stack.push(await loadFrame(ctx, bucket, key));
  }
}

/** The folder marker object `dirKey`, when its folder exists and has a matching record. */
async function markerOf(
  ctx: GatewayContext, bucket: string, dirKey: string,
): Promise<WalkItem | null> {
  const record = await readMeta(ctx.client, ctx.layout.metaPath(bucket, dirKey));
  if (record === null) return null;
  try {
    const attr = await ctx.client.stat(ctx.layout.objectPath(bucket, dirKey));
    if (attr.type !== InodeType.DIR || attr.inode !== record.inode) return null;
    return { kind: 'object', key: dirKey, attr, record, isMarker: true };
  } catch (err) {
    if (err instanceof FsError && (err.code === 'ENOENT' || err.code === 'ENOTDIR')) return null;
    throw err;
  }
}
