// Master <-> metalogger (port 9419). The metalogger dials, registers with the newest version it
// holds, downloads a dump when it is too far behind, then receives changelog records as a live
// stream. Records travel exactly as they lie in the master's changelog files (size:32 crc32:32
// version:64 change), so the metalogger's folder has the master's own layout and can start a
// master. In synchronous mode the master answers a client only after enough ACKs.
import { defineMessage, defineRequest } from '../message-types.ts';

const link = 'master-metalogger' as const;

/**
 * name:str haveVersion:64 -> clusterId:str metaVersion:64 streamFrom:64 dumpVersion:64
 * dumpBytes:64. haveVersion is the newest version on the metalogger's disk (0 = none). When the
 * master still has every record after it, streamFrom = haveVersion + 1 and dumpVersion = 0;
 * otherwise the metalogger must download dump `dumpVersion` first and stream from
 * dumpVersion + 1.
 */
export const MLTOMA_REGISTER = defineRequest({
  type: 4000, name: 'MLTOMA_REGISTER', replyName: 'MATOML_REGISTER', link,
  fields: [['name', 'str'], ['haveVersion', 'u64']] as const,
  replyFields: [
    ['clusterId', 'str'], ['metaVersion', 'u64'], ['streamFrom', 'u64'], ['dumpVersion', 'u64'],
    ['dumpBytes', 'u64'],
  ] as const,
});

/**
 * dumpVersion:64 offset:64 size:32 -> data. Reads a piece of the master's dump at that version;
 * ENOENT when the master has replaced it meanwhile (register again).
 */
export const MLTOMA_DUMP_READ = defineRequest({
  type: 4002, name: 'MLTOMA_DUMP_READ', replyName: 'MATOML_DUMP_READ', link,
  fields: [['dumpVersion', 'u64'], ['offset', 'u64'], ['size', 'u32']] as const,
  replyFields: [] as const, replyTail: true,
});

/** fromVersion:64 -> (empty). Starts the record stream; EAGAIN if those records are gone. */
export const MLTOMA_STREAM = defineRequest({
  type: 4004, name: 'MLTOMA_STREAM', replyName: 'MATOML_STREAM', link,
  fields: [['fromVersion', 'u64']] as const, replyFields: [] as const,
});

/**
 * firstVersion:64 count:32 metaVersion:64 sentMs:64 + records. One-way, master -> metalogger;
 * count 0 is a keepalive that still carries the master's version and clock for lag figures.
 */
export const MATOML_RECORDS = defineMessage({
  type: 4006, name: 'MATOML_RECORDS', link,
  fields: [['firstVersion', 'u64'], ['count', 'u32'], ['metaVersion', 'u64'], ['sentMs', 'u64']] as const,
  tail: true,
});

/** version:64. One-way, metalogger -> master: every record up to `version` is fsynced here. */
export const MLTOMA_ACK = defineMessage({
  type: 4008, name: 'MLTOMA_ACK', link,
  fields: [['version', 'u64']] as const,
});
