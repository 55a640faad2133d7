// The attributes of a file, directory or symlink as the master sends them (protocol ATTR):
// mode holds the permission bits only, `type` is InodeType; times are ms since the epoch.
import type {
  ATTR, CLTOMA_LIST_CHUNKSERVERS, CLTOMA_LIST_METALOGGERS, CLTOMA_STATFS, LOCATION, Struct,
} from '@antlerfs/protocol';

export type Attr = Struct<typeof ATTR>;
export type Location = Struct<typeof LOCATION>;
export type StatfsInfo = Struct<typeof CLTOMA_STATFS.reply.fields>;
type ChunkserverList = Struct<typeof CLTOMA_LIST_CHUNKSERVERS.reply.fields>;
export type ChunkserverInfo = ChunkserverList['servers'][number];
/**
 * The master's metaVersion and its metaloggers: name, host, ackedVersion (the last change each
 * has), lagVersions and lagMs behind the master, sync (1 when changes wait for it).
 */
export type MetaloggerList = Struct<typeof CLTOMA_LIST_METALOGGERS.reply.fields>;
export type MetaloggerInfo = MetaloggerList['metaloggers'][number];

export interface DirEntry {
  name: string;
  attr: Attr;
}

export interface FileChunk {
  index: number;
  chunkId: number;
  version: number;
  locations: { csId: number; host: string; port: number }[];
}

export interface FileInfo {
  inode: number;
  length: number;
  goal: number;
  chunks: FileChunk[];
}

/** One chunkserver in the master's health document. */
export interface ServerHealth {
  csId: number; address: string; state: string; totalBytes: number; freeBytes: number;
  usagePercent: number; copies: number; draining: boolean; drainPending: number;
  safeToRemove: boolean;
}

/** The master's health document (CLTOMA_HEALTH); see the monitor's /api/health. */
export interface HealthReport {
  healthy: boolean;
  /** Goal -> counts of chunks by valid copies (index = copies). */
  matrix: Record<string, number[]>;
  classes: Record<string, number>;
  replication: {
    queue: number; running: number; done: number; failed: number; bytesDone: number;
    rateBytesPerSecond: number; progressPercent: number;
  } & Record<string, unknown>;
  deletionQueue: { length: number } & Record<string, unknown>;
  drains: number[];
  chunkservers: ServerHealth[];
}
