// A change: one mutation of the metadata with every value resolved (new inode numbers, times,
// chunk ids, versions), so applying it is deterministic. The same record drives the live path
// and replay. Layout of an encoded change: kind:8 then the kind's fields (protocol codec).
// A change made for a retrying client (CLTOMA_SESSION) is prefixed with its origin:
//   ORIGIN_KIND:8 clientId:64 requestId:32, then the change as above
// so replay rebuilds which requests were applied. Kind numbers are forever: never reuse or
// renumber one.
import {
  assert, decodeFrom, encodeInto, encodedSize, isInvalid, type Invalid, type Struct,
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
  /** srcParent:32 srcName:str dstParent:32 dstName:str timeMs:64 — two names swap inodes */
  exchange: [
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
  /** clusterId:str — the file system's id, stated once (a different one never applies) */
  clusterId: [['clusterId', 'str']],
  /** csId:32 drain:8 — a chunkserver is marked for removal (1) or back in service (0) */
  chunkserverDrain: [['csId', 'u32'], ['drain', 'u8']],
} as const;

/** Which client request a change was made for (CLTOMA_SESSION clients only). */
export interface Origin {
  clientId: bigint;
  /** The request's frame id: the client keeps it across reconnects when it retries. */
  requestId: number;
}

/** Kind byte of the origin prefix (not a change kind of its own). */
export const ORIGIN_KIND = 16;
const ORIGIN_BYTES = 1 + 8 + 4;

type ChangeFields = typeof CHANGE_FIELDS;
export type ChangeKind = keyof ChangeFields;
export type ChangeOf<K extends ChangeKind> = { kind: K; origin?: Origin } & Struct<ChangeFields[K]>;
export type Change = { [K in ChangeKind]: ChangeOf<K> }[ChangeKind];

export const CHANGE_KIND_NUMBERS: Record<ChangeKind, number> = {
  create: 1, unlink: 2, rmdir: 3, rename: 4, link: 5, setattr: 6, truncate: 7, setGoal: 8,
  setTrashtime: 9, writeChunk: 10, writeEnd: 11, chunkVersion: 12, chunkserverAdd: 13,
  chunkIdReserve: 14, clusterId: 15, chunkserverDrain: 17, exchange: 18,
};

const KIND_BY_NUMBER = new Map<number, ChangeKind>();
for (const [kind, n] of Object.entries(CHANGE_KIND_NUMBERS)) {
  assert(n !== ORIGIN_KIND, 'the origin prefix has a number of its own');
  KIND_BY_NUMBER.set(n, kind as ChangeKind);
}

export function changeKindOf(kindNumber: number): ChangeKind | undefined {
  return KIND_BY_NUMBER.get(kindNumber);
}

export function encodedChangeBytes(change: Change): number {
  const value = change as unknown as Record<string, unknown>;
  const fields = encodedSize(CHANGE_FIELDS[change.kind], value);
  return (change.origin === undefined ? 0 : ORIGIN_BYTES) + 1 + fields;
}

/** Writes [origin] kind:8 + fields at `offset`; returns the offset after them. */
export function encodeChangeInto(change: Change, buf: Buffer, offset: number): number {
  let o = offset;
  const origin = change.origin;
  if (origin !== undefined) {
    const { requestId } = origin;
    assert(Number.isInteger(requestId) && requestId >= 0 && requestId <= 0xffffffff,
      `origin request id ${requestId} is u32`);
    buf[o] = ORIGIN_KIND;
    buf.writeBigUInt64BE(origin.clientId, o + 1);
    buf.writeUInt32BE(requestId, o + 9);
    o += ORIGIN_BYTES;
  }
  buf[o] = CHANGE_KIND_NUMBERS[change.kind];
  const fields = CHANGE_FIELDS[change.kind];
  return encodeInto(fields, change as unknown as Record<string, unknown>, buf, o + 1);
}

/** Reads a change that fills `buf` exactly. */
export function decodeChange(buf: Buffer): Change | Invalid {
  if (buf.length < 1) return { invalid: 'empty change' };
  if (buf[0] !== ORIGIN_KIND) return decodePlain(buf);
  if (buf.length < ORIGIN_BYTES + 1) return { invalid: 'origin prefix cut short' };
  if (buf[ORIGIN_BYTES] === ORIGIN_KIND) return { invalid: 'origin prefix repeated' };
  const inner = decodePlain(buf.subarray(ORIGIN_BYTES));
  if (isInvalid(inner)) return inner;
  inner.origin = { clientId: buf.readBigUInt64BE(1), requestId: buf.readUInt32BE(9) };
  return inner;
}

function decodePlain(buf: Buffer): Change | Invalid {
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
  return Object.entries(change).map(([k, v]) => {
    if (k !== 'origin') return `${k}=${JSON.stringify(v)}`;
    const o = v as Origin;
    return `origin=${o.clientId.toString(16)}:${o.requestId}`;
  }).join(' ');
}
