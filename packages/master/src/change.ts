// A change: one mutation of the metadata with every value resolved (new inode numbers, times,
// chunk ids, versions), so applying it is deterministic. The same record drives the live path
// and replay. Layout of an encoded change: kind:8 then the kind's fields (protocol codec).
// Kind numbers are forever: never reuse or renumber one.
import {
  decodeFrom, encodeInto, encodedSize, isInvalid, type Invalid, type Struct,
} from '@antlerfs/protocol';

const t = 'u64' as const; // times are ms since the epoch

export const CHANGE_FIELDS = {
  /** parent:32 name:str inode:32 type:8 mode:16 uid:32 gid:32 timeMs:64 target:str */
  create: [
    ['parent', 'u32'], ['name', 'str'], ['inode', 'u32'], ['type', 'u8'], ['mode', 'u16'],
    ['uid', 'u32'], ['gid', 'u32'], ['timeMs', t], ['target', 'str'],
  ],
  /** parent:32 name:str timeMs:64 */
  unlink: [['parent', 'u32'], ['name', 'str'], ['timeMs', t]],
  /** parent:32 name:str timeMs:64 */
  rmdir: [['parent', 'u32'], ['name', 'str'], ['timeMs', t]],
  /** srcParent:32 srcName:str dstParent:32 dstName:str timeMs:64 */
  rename: [
    ['srcParent', 'u32'], ['srcName', 'str'], ['dstParent', 'u32'], ['dstName', 'str'],
    ['timeMs', t],
  ],
  /** inode:32 parent:32 name:str timeMs:64 */
  link: [['inode', 'u32'], ['parent', 'u32'], ['name', 'str'], ['timeMs', t]],
  /** inode:32 setMask:8 mode:16 uid:32 gid:32 atimeMs:64 mtimeMs:64 timeMs:64 (no LENGTH) */
  setattr: [
    ['inode', 'u32'], ['setMask', 'u8'], ['mode', 'u16'], ['uid', 'u32'], ['gid', 'u32'],
    ['atimeMs', t], ['mtimeMs', t], ['timeMs', t],
  ],
  /** inode:32 length:64 timeMs:64 cutChunkId:64 cutVersion:32 (cutChunkId 0: no chunk cut) */
  truncate: [
    ['inode', 'u32'], ['length', 'u64'], ['timeMs', t], ['cutChunkId', 'u64'],
    ['cutVersion', 'u32'],
  ],
  /** inode:32 goal:8 recursive:8 timeMs:64 */
  setGoal: [['inode', 'u32'], ['goal', 'u8'], ['recursive', 'u8'], ['timeMs', t]],
  /** inode:32 trashtimeS:32 recursive:8 timeMs:64 */
  setTrashtime: [['inode', 'u32'], ['trashtimeS', 'u32'], ['recursive', 'u8'], ['timeMs', t]],
  /** inode:32 chunkIndex:32 chunkId:64 version:32 — a new chunk in a hole, or a version bump */
  writeChunk: [['inode', 'u32'], ['chunkIndex', 'u32'], ['chunkId', 'u64'], ['version', 'u32']],
  /** inode:32 length:64 timeMs:64 */
  writeEnd: [['inode', 'u32'], ['length', 'u64'], ['timeMs', t]],
  /** chunkId:64 version:32 — a higher version a chunkserver reported is adopted */
  chunkVersion: [['chunkId', 'u64'], ['version', 'u32']],
  /** csId:32 — a chunkserver id is handed out (or a registering one is adopted) */
  chunkserverAdd: [['csId', 'u32']],
  /** chunkIdLimit:64 — chunk ids below the limit may be in use; above it none is */
  chunkIdReserve: [['chunkIdLimit', 'u64']],
} as const;

type ChangeFields = typeof CHANGE_FIELDS;
export type ChangeKind = keyof ChangeFields;
export type ChangeOf<K extends ChangeKind> = { kind: K } & Struct<ChangeFields[K]>;
export type Change = { [K in ChangeKind]: ChangeOf<K> }[ChangeKind];

export const CHANGE_KIND_NUMBERS: Record<ChangeKind, number> = {
  create: 1, unlink: 2, rmdir: 3, rename: 4, link: 5, setattr: 6, truncate: 7, setGoal: 8,
  setTrashtime: 9, writeChunk: 10, writeEnd: 11, chunkVersion: 12, chunkserverAdd: 13,
  chunkIdReserve: 14,
};

const KIND_BY_NUMBER = new Map<number, ChangeKind>();
for (const [kind, n] of Object.entries(CHANGE_KIND_NUMBERS)) {
  KIND_BY_NUMBER.set(n, kind as ChangeKind);
}

export function encodedChangeBytes(change: Change): number {
  return 1 + encodedSize(CHANGE_FIELDS[change.kind], change as unknown as Record<string, unknown>);
}

/** Writes kind:8 + fields at `offset`; returns the offset after them. */
export function encodeChangeInto(change: Change, buf: Buffer, offset: number): number {
  buf[offset] = CHANGE_KIND_NUMBERS[change.kind];
  return encodeInto(
    CHANGE_FIELDS[change.kind], change as unknown as Record<string, unknown>, buf, offset + 1,
  );
}

/** Reads a change that fills `buf` exactly. */
export function decodeChange(buf: Buffer): Change | Invalid {
  if (buf.length < 1) return { invalid: 'empty change' };
  const kind = KIND_BY_NUMBER.get(buf[0]!);
  if (kind === undefined) return { invalid: `unknown change kind ${buf[0]}` };
  const r = decodeFrom(CHANGE_FIELDS[kind], buf, 1);
  if (isInvalid(r)) return r;
  if (r.offset !== buf.length) {
    return { invalid: `${kind}: ${buf.length - r.offset} trailing bytes` };
  }
  return { kind, ...r.value } as unknown as Change;
}

/** One line for logs: the kind and its fields. */
export function describeChange(change: Change): string {
  return Object.entries(change).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ');
}
