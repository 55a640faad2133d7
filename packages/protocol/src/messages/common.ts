// Structs shared by several links.

/** Inode types. */
export const InodeType = { FILE: 1, DIR: 2, SYMLINK: 3 } as const;
export type InodeTypeCode = (typeof InodeType)[keyof typeof InodeType];

/**
 * inode:32 type:8 mode:16 uid:32 gid:32 atimeMs:64 mtimeMs:64 ctimeMs:64 nlink:32 length:64
 * goal:8 trashtimeS:32 — mode holds permission bits only (07777); the type is separate.
 */
export const ATTR = [
  ['inode', 'u32'], ['type', 'u8'], ['mode', 'u16'], ['uid', 'u32'], ['gid', 'u32'],
  ['atimeMs', 'u64'], ['mtimeMs', 'u64'], ['ctimeMs', 'u64'], ['nlink', 'u32'],
  ['length', 'u64'], ['goal', 'u8'], ['trashtimeS', 'u32'],
] as const;

/** csId:32 host:str port:16 — where a copy of a chunk lives. */
export const LOCATION = [['csId', 'u32'], ['host', 'str'], ['port', 'u16']] as const;

/** host:str port:16 — next hops of a write chain. */
export const HOP = [['host', 'str'], ['port', 'u16']] as const;
