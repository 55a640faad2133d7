// Client <-> master (port 9421). Paths and names are UTF-8; times are ms since the epoch.
import { defineRequest } from '../message-types.ts';
import { ATTR, LOCATION } from './common.ts';

const link = 'client-master' as const;
const attrReply = [['attr', { struct: ATTR }]] as const;
const none = [] as const;

/*
 * Folder stamps. Every directory has a names version: the metadata version of the last change
 * of its entries (a create, unlink, rmdir, rename or link in it; after a restart at least the
 * version the master loaded). A change's reply gives the folder's names version just before and
 * just after it, so a client that keeps a folder's listing at version V knows it is still exact
 * when `before` is V (nobody else changed the folder in between). 0 and 0: not known (a repeat).
 */
const parentStamp = [['parentBefore', 'u64'], ['parentAfter', 'u64']] as const;
/** A creation's reply: the new entry's attributes and its folder's stamps. */
const createdReply = [['attr', { struct: ATTR }], ...parentStamp] as const;

/** clientName:str protocolVersion:32 -> sessionId:32 metaVersion:64 */
export const CLTOMA_REGISTER = defineRequest({
  type: 1000, name: 'CLTOMA_REGISTER', replyName: 'MATOCL_REGISTER', link,
  fields: [['clientName', 'str'], ['protocolVersion', 'u32']] as const,
  replyFields: [['sessionId', 'u32'], ['metaVersion', 'u64']] as const,
});

/** parent:32 name:str -> attr */
export const CLTOMA_LOOKUP = defineRequest({
  type: 1002, name: 'CLTOMA_LOOKUP', replyName: 'MATOCL_LOOKUP', link,
  fields: [['parent', 'u32'], ['name', 'str']] as const, replyFields: attrReply,
});

/** path:str -> attr. Absolute path; symlinks are not followed (lstat semantics). */
export const CLTOMA_LOOKUP_PATH = defineRequest({
  type: 1004, name: 'CLTOMA_LOOKUP_PATH', replyName: 'MATOCL_LOOKUP_PATH', link,
  fields: [['path', 'str']] as const, replyFields: attrReply,
});

/** inode:32 -> attr */
export const CLTOMA_GETATTR = defineRequest({
  type: 1006, name: 'CLTOMA_GETATTR', replyName: 'MATOCL_GETATTR', link,
  fields: [['inode', 'u32']] as const, replyFields: attrReply,
});

/** Bits of SETATTR's setMask. */
export const SetAttr = {
  MODE: 1, UID: 2, GID: 4, ATIME: 8, MTIME: 16, LENGTH: 32, ATIME_NOW: 64, MTIME_NOW: 128,
} as const;

/** inode:32 setMask:8 mode:16 uid:32 gid:32 atimeMs:64 mtimeMs:64 length:64 -> attr */
export const CLTOMA_SETATTR = defineRequest({
  type: 1008, name: 'CLTOMA_SETATTR', replyName: 'MATOCL_SETATTR', link,
  fields: [
    ['inode', 'u32'], ['setMask', 'u8'], ['mode', 'u16'], ['uid', 'u32'], ['gid', 'u32'],
    ['atimeMs', 'u64'], ['mtimeMs', 'u64'], ['length', 'u64'],
  ] as const,
  replyFields: attrReply,
});

/** parent:32 name:str mode:16 uid:32 gid:32 -> attr parentBefore:64 parentAfter:64 */
export const CLTOMA_MKDIR = defineRequest({
  type: 1010, name: 'CLTOMA_MKDIR', replyName: 'MATOCL_MKDIR', link,
  fields: [['parent', 'u32'], ['name', 'str'], ['mode', 'u16'], ['uid', 'u32'], ['gid', 'u32']] as const,
  replyFields: createdReply,
});

/**
 * A removal's reply: the folder's attributes just after the change (the same as a GETATTR
 * would give), so a client that caches them needs no GETATTR. inode 0 when not known (a repeat
 * answered after the folder itself went).
 */
const parentAttrReply = [['parentAttr', { struct: ATTR }], ...parentStamp] as const;

/** parent:32 name:str -> parentAttr parentBefore:64 parentAfter:64 */
export const CLTOMA_RMDIR = defineRequest({
  type: 1012, name: 'CLTOMA_RMDIR', replyName: 'MATOCL_RMDIR', link,
  fields: [['parent', 'u32'], ['name', 'str']] as const, replyFields: parentAttrReply,
});

/**
 * parent:32 name:str mode:16 uid:32 gid:32 exclusive:8 promise:8 -> attr parentBefore:64
 * parentAfter:64 promisedChunkId:64 promisedVersion:32 promisedChain:[location].
 * Without `exclusive`, an existing regular file is returned as it is (open O_CREAT: the stamps
 * are then both the folder's current names version); with it, EEXIST. With `promise` (the
 * caller opens the file for writing), a new file may come with an empty chunk made ahead that
 * is promised to this session for its chunk 0 (id 0: none): the client may send data to it at
 * once and name it in its WRITE_CHUNK, which then takes that very chunk (or another one if the
 * promise lapsed: the data is then sent again). Not a change: nothing of it is logged.
 */
export const CLTOMA_CREATE = defineRequest({
  type: 1014, name: 'CLTOMA_CREATE', replyName: 'MATOCL_CREATE', link,
  fields: [
    ['parent', 'u32'], ['name', 'str'], ['mode', 'u16'], ['uid', 'u32'], ['gid', 'u32'],
    ['exclusive', 'u8'], ['promise', 'u8'],
  ] as const,
  replyFields: [
    ...createdReply, ['promisedChunkId', 'u64'], ['promisedVersion', 'u32'],
    ['promisedChain', { list: LOCATION }],
  ] as const,
});

/** parent:32 name:str -> parentAttr parentBefore:64 parentAfter:64 */
export const CLTOMA_UNLINK = defineRequest({
  type: 1016, name: 'CLTOMA_UNLINK', replyName: 'MATOCL_UNLINK', link,
  fields: [['parent', 'u32'], ['name', 'str']] as const, replyFields: parentAttrReply,
});

/**
 * srcParent:32 srcName:str dstParent:32 dstName:str flags:8 -> srcParentAttr dstParentAttr
 * srcBefore:64 srcAfter:64 dstBefore:64 dstAfter:64 (the folder stamps; one folder: the same
 * twice). POSIX rename; with RenameFlags.NOREPLACE, EEXIST when the destination name exists
 * (checked and renamed in one step); with EXCHANGE, the two names (both must exist) swap what
 * they refer to; other flags, or both, are EINVAL. The reply holds the two folders'
 * attributes just after it (the same twice when they are one folder; inode 0 when not known,
 * as in parentAttrReply).
 */
export const CLTOMA_RENAME = defineRequest({
  type: 1018, name: 'CLTOMA_RENAME', replyName: 'MATOCL_RENAME', link,
  fields: [
    ['srcParent', 'u32'], ['srcName', 'str'], ['dstParent', 'u32'], ['dstName', 'str'],
    ['flags', 'u8'],
  ] as const,
  replyFields: [
    ['srcParentAttr', { struct: ATTR }], ['dstParentAttr', { struct: ATTR }],
    ['srcBefore', 'u64'], ['srcAfter', 'u64'], ['dstBefore', 'u64'], ['dstAfter', 'u64'],
  ] as const,
});

/** Bits of RENAME's flags. */
export const RenameFlags = { NOREPLACE: 1, EXCHANGE: 2 } as const;

/**
 * inode:32 cursor:str entriesMax:32 -> entries:[name:str attr] nextCursor:str end:8
 * namesVersion:64. Entries come in name order; `cursor` is the last name already returned (""
 * to start), so a listing stays correct while the directory changes; pages of one names
 * version (see the folder stamps) make an exact listing at that version.
 */
export const CLTOMA_READDIR = defineRequest({
  type: 1020, name: 'CLTOMA_READDIR', replyName: 'MATOCL_READDIR', link,
  fields: [['inode', 'u32'], ['cursor', 'str'], ['entriesMax', 'u32']] as const,
  replyFields: [
    ['entries', { list: [['name', 'str'], ['attr', { struct: ATTR }]] as const }],
    ['nextCursor', 'str'], ['end', 'u8'], ['namesVersion', 'u64'],
  ] as const,
});

/** parent:32 name:str target:str uid:32 gid:32 -> attr parentBefore:64 parentAfter:64 */
export const CLTOMA_SYMLINK = defineRequest({
  type: 1022, name: 'CLTOMA_SYMLINK', replyName: 'MATOCL_SYMLINK', link,
  fields: [['parent', 'u32'], ['name', 'str'], ['target', 'str'], ['uid', 'u32'], ['gid', 'u32']] as const,
  replyFields: createdReply,
});

/** inode:32 -> target:str */
export const CLTOMA_READLINK = defineRequest({
  type: 1024, name: 'CLTOMA_READLINK', replyName: 'MATOCL_READLINK', link,
  fields: [['inode', 'u32']] as const, replyFields: [['target', 'str']] as const,
});

/** inode:32 parent:32 name:str -> attr parentBefore:64 parentAfter:64 (hard link) */
export const CLTOMA_LINK = defineRequest({
  type: 1026, name: 'CLTOMA_LINK', replyName: 'MATOCL_LINK', link,
  fields: [['inode', 'u32'], ['parent', 'u32'], ['name', 'str']] as const,
  replyFields: createdReply,
});

/** -> totalBytes:64 availBytes:64 usedBytes:64 inodes:32 chunks:64 chunkservers:32 */
export const CLTOMA_STATFS = defineRequest({
  type: 1028, name: 'CLTOMA_STATFS', replyName: 'MATOCL_STATFS', link,
  fields: none,
  replyFields: [
    ['totalBytes', 'u64'], ['availBytes', 'u64'], ['usedBytes', 'u64'], ['inodes', 'u32'],
    ['chunks', 'u64'], ['chunkservers', 'u32'],
  ] as const,
});

/** inode:32 goal:8 recursive:8 -> changed:32 */
export const CLTOMA_SETGOAL = defineRequest({
  type: 1030, name: 'CLTOMA_SETGOAL', replyName: 'MATOCL_SETGOAL', link,
  fields: [['inode', 'u32'], ['goal', 'u8'], ['recursive', 'u8']] as const,
  replyFields: [['changed', 'u32']] as const,
});

/** inode:32 trashtimeS:32 recursive:8 -> changed:32 */
export const CLTOMA_SETTRASHTIME = defineRequest({
  type: 1032, name: 'CLTOMA_SETTRASHTIME', replyName: 'MATOCL_SETTRASHTIME', link,
  fields: [['inode', 'u32'], ['trashtimeS', 'u32'], ['recursive', 'u8']] as const,
  replyFields: [['changed', 'u32']] as const,
});

/** One chunk of a file: index:32 chunkId:64 version:32 locations:[location] (id 0 = hole). */
export const CHUNK_INFO = [
  ['index', 'u32'], ['chunkId', 'u64'], ['version', 'u32'], ['locations', { list: LOCATION }],
] as const;

/**
 * inode:32 firstIndex:32 count:32 -> length:64 chunks:[chunkInfo]. Locations for many chunks in
 * one round trip; only chunks that exist are listed (a missing index is a hole: zeros).
 */
export const CLTOMA_READ_CHUNKS = defineRequest({
  type: 1034, name: 'CLTOMA_READ_CHUNKS', replyName: 'MATOCL_READ_CHUNKS', link,
  fields: [['inode', 'u32'], ['firstIndex', 'u32'], ['count', 'u32']] as const,
  replyFields: [['length', 'u64'], ['chunks', { list: CHUNK_INFO }]] as const,
});

/**
 * path:str count:32 -> attr chunks:[chunkInfo]. LOOKUP_PATH plus, for a regular file, what
 * READ_CHUNKS from index 0 for `count` chunks would give (the length is the attr's): reading a
 * small file takes one master round trip before its data instead of two.
 */
export const CLTOMA_LOOKUP_PATH_CHUNKS = defineRequest({
  type: 1052, name: 'CLTOMA_LOOKUP_PATH_CHUNKS', replyName: 'MATOCL_LOOKUP_PATH_CHUNKS', link,
  fields: [['path', 'str'], ['count', 'u32']] as const,
  replyFields: [['attr', { struct: ATTR }], ['chunks', { list: CHUNK_INFO }]] as const,
});

/**
 * inode:32 count:32 -> attr chunks:[chunkInfo]. GETATTR plus, for a regular file, the locations
 * of its first `count` chunks (as CLTOMA_LOOKUP_PATH_CHUNKS): a mount's open for reading.
 */
export const CLTOMA_GETATTR_CHUNKS = defineRequest({
  type: 1054, name: 'CLTOMA_GETATTR_CHUNKS', replyName: 'MATOCL_GETATTR_CHUNKS', link,
  fields: [['inode', 'u32'], ['count', 'u32']] as const,
  replyFields: [['attr', { struct: ATTR }], ['chunks', { list: CHUNK_INFO }]] as const,
});

/**
 * inode:32 -> attr namesVersion:64. GETATTR of a directory plus its names version (see the
 * folder stamps above): a client confirms with it that a listing it keeps is still exact.
 */
export const CLTOMA_GETATTR_FOLDER = defineRequest({
  type: 1056, name: 'CLTOMA_GETATTR_FOLDER', replyName: 'MATOCL_GETATTR_FOLDER', link,
  fields: [['inode', 'u32']] as const,
  replyFields: [['attr', { struct: ATTR }], ['namesVersion', 'u64']] as const,
});

/**
 * inode:32 namesMax:32 -> names:[name:str] namesVersion:64 complete:8. Every name of a folder
 * (in no order, without '.' and '..') at its names version, in one reply: a client keeps the
 * listing to answer lookups of absent names. A directory of more than `namesMax` names (or
 * LIST_NAMES_MAX) is not listed: no names and complete 0.
 */
export const CLTOMA_LIST_NAMES = defineRequest({
  type: 1058, name: 'CLTOMA_LIST_NAMES', replyName: 'MATOCL_LIST_NAMES', link,
  fields: [['inode', 'u32'], ['namesMax', 'u32']] as const,
  replyFields: [
    ['names', { list: [['name', 'str']] as const }], ['namesVersion', 'u64'], ['complete', 'u8'],
  ] as const,
});

/**
 * inode:32 chunkIndex:32 promisedChunkId:64 -> length:64 chunkId:64 version:32 chain:[location].
 * Takes the write lease of the chunk (one writer at a time: CHUNK_BUSY otherwise); the master
 * has created the chunk or bumped its version on every server of the chain before it answers.
 * `promisedChunkId` (0: none) names the chunk CREATE promised for a hole: it is taken if the
 * promise still holds, and deleted otherwise.
 */
export const CLTOMA_WRITE_CHUNK = defineRequest({
  type: 1036, name: 'CLTOMA_WRITE_CHUNK', replyName: 'MATOCL_WRITE_CHUNK', link,
  fields: [['inode', 'u32'], ['chunkIndex', 'u32'], ['promisedChunkId', 'u64']] as const,
  replyFields: [
    ['length', 'u64'], ['chunkId', 'u64'], ['version', 'u32'], ['chain', { list: LOCATION }],
  ] as const,
});

/**
 * inode:32 chunkIndex:32 chunkId:64 length:64 promised:8 -> attr. Ends the write lease; the file
 * grows to `length` if that is larger, and mtime is set. `promised` 1: `chunkId` is the chunk
 * CREATE promised for chunk 0, written without CLTOMA_WRITE_CHUNK; the master takes it as the
 * file's and sets the length in one changelog write, or answers NO_SUCH_CHUNK (nothing changed,
 * the promise deleted) when the promise no longer holds.
 */
export const CLTOMA_WRITE_END = defineRequest({
  type: 1038, name: 'CLTOMA_WRITE_END', replyName: 'MATOCL_WRITE_END', link,
  fields: [
    ['inode', 'u32'], ['chunkIndex', 'u32'], ['chunkId', 'u64'], ['length', 'u64'],
    ['promised', 'u8'],
  ] as const,
  replyFields: attrReply,
});

/** chunkId:64 version:32 csId:32 -> (empty): a copy failed its checksum or could not be read. */
export const CLTOMA_REPORT_BAD_CHUNK = defineRequest({
  type: 1040, name: 'CLTOMA_REPORT_BAD_CHUNK', replyName: 'MATOCL_REPORT_BAD_CHUNK', link,
  fields: [['chunkId', 'u64'], ['version', 'u32'], ['csId', 'u32']] as const, replyFields: none,
});

/**
 * Chunkserver states as the master sees them. DRAINING: marked for removal, its copies are
 * being made elsewhere; DRAINED: marked, and no chunk depends on it any more (safe to switch
 * off).
 */
export const ChunkserverState = { ONLINE: 1, LOST: 2, FULL: 3, DRAINING: 4, DRAINED: 5 } as const;

/** -> servers:[csId:32 host:str port:16 totalBytes:64 freeBytes:64 chunkCount:32 state:8] */
export const CLTOMA_LIST_CHUNKSERVERS = defineRequest({
  type: 1042, name: 'CLTOMA_LIST_CHUNKSERVERS', replyName: 'MATOCL_LIST_CHUNKSERVERS', link,
  fields: none,
  replyFields: [[
    'servers', {
      list: [
        ['csId', 'u32'], ['host', 'str'], ['port', 'u16'], ['totalBytes', 'u64'],
        ['freeBytes', 'u64'], ['chunkCount', 'u32'], ['state', 'u8'],
      ] as const,
    },
  ]] as const,
});

/**
 * -> metaloggers:[name:str host:str ackedVersion:64 lagVersions:64 lagMs:64 sync:8]
 * plus the master's metaVersion:64.
 */
export const CLTOMA_LIST_METALOGGERS = defineRequest({
  type: 1044, name: 'CLTOMA_LIST_METALOGGERS', replyName: 'MATOCL_LIST_METALOGGERS', link,
  fields: none,
  replyFields: [
    ['metaVersion', 'u64'],
    ['metaloggers', {
      list: [
        ['name', 'str'], ['host', 'str'], ['ackedVersion', 'u64'], ['lagVersions', 'u64'],
        ['lagMs', 'u64'], ['sync', 'u8'],
      ] as const,
    }],
  ] as const,
});

/**
 * clientId:h64 clientName:str protocolVersion:32 -> sessionId:32 metaVersion:64 clusterId:str.
 * Like CLTOMA_REGISTER, for clients that retry: `clientId` is random per client instance and
 * stays the same across reconnects and master failover. The master records (clientId, frame
 * requestId) with each change, so a retried request that was already applied is answered
 * without applying it twice; such a client keeps its request ids increasing across connections.
 * NOT_ACTIVE_MASTER when this master is not the active one.
 */
export const CLTOMA_SESSION = defineRequest({
  type: 1046, name: 'CLTOMA_SESSION', replyName: 'MATOCL_SESSION', link,
  fields: [['clientId', 'h64'], ['clientName', 'str'], ['protocolVersion', 'u32']] as const,
  replyFields: [['sessionId', 'u32'], ['metaVersion', 'u64'], ['clusterId', 'str']] as const,
});

/**
 * csId:32 drain:8 -> (empty). drain 1 marks a chunkserver for removal: its copies stop counting
 * toward goals (so they are made elsewhere) and it gets no new chunks; drain 0 clears the mark.
 * The mark is metadata (it survives a restart). ENOENT for an unknown csId.
 */
export const CLTOMA_CHUNKSERVER_DRAIN = defineRequest({
  type: 1048, name: 'CLTOMA_CHUNKSERVER_DRAIN', replyName: 'MATOCL_CHUNKSERVER_DRAIN', link,
  fields: [['csId', 'u32'], ['drain', 'u8']] as const, replyFields: none,
});

/**
 * -> json:str. The cluster's health as a JSON document (the same as the monitor's /api/health):
 * chunk matrix by goal and valid copies, replication and deletion queues, progress, servers.
 */
export const CLTOMA_HEALTH = defineRequest({
  type: 1050, name: 'CLTOMA_HEALTH', replyName: 'MATOCL_HEALTH', link,
  fields: none, replyFields: [['json', 'str']] as const,
});
