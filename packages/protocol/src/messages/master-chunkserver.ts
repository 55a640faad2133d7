// Master <-> chunkserver (port 9420). The chunkserver dials; after that both sides send requests
// on the one link. Every order from the master names the chunk's current version, and the
// chunkserver refuses (WRONG_VERSION) an order for a version it does not hold.
import { defineRequest } from '../message-types.ts';
import { HOP } from './common.ts';

const link = 'master-chunkserver' as const;
const none = [] as const;

/**
 * csId:32 host:str port:16 totalBytes:64 freeBytes:64 -> csId:32. csId 0 asks for a new id.
 * freeBytes is space usable for new chunks (already less the reserve). `host` is the address
 * clients and other chunkservers reach the data port on.
 */
export const CSTOMA_REGISTER = defineRequest({
  type: 2000, name: 'CSTOMA_REGISTER', replyName: 'MATOCS_REGISTER', link,
  fields: [
    ['csId', 'u32'], ['host', 'str'], ['port', 'u16'], ['totalBytes', 'u64'], ['freeBytes', 'u64'],
  ] as const,
  replyFields: [['csId', 'u32']] as const,
});

/**
 * chunks:[chunkId:64 version:32 lengthBytes:32] -> (empty). Sent in batches of at most
 * CHUNK_LIST_BATCH_MAX after REGISTER; `last` marks the end of the initial list.
 */
export const CSTOMA_CHUNKS = defineRequest({
  type: 2002, name: 'CSTOMA_CHUNKS', replyName: 'MATOCS_CHUNKS', link,
  fields: [
    ['chunks', { list: [['chunkId', 'u64'], ['version', 'u32'], ['lengthBytes', 'u32']] as const }],
    ['last', 'u8'],
  ] as const,
  replyFields: none,
});

/** totalBytes:64 freeBytes:64 chunkCount:32 -> (empty). Also the master's liveness check. */
export const CSTOMA_HEARTBEAT = defineRequest({
  type: 2004, name: 'CSTOMA_HEARTBEAT', replyName: 'MATOCS_HEARTBEAT', link,
  fields: [['totalBytes', 'u64'], ['freeBytes', 'u64'], ['chunkCount', 'u32']] as const,
  replyFields: none,
});

/** chunkId:64 version:32 -> (empty). ENOSPC below the reserve; an existing copy is replaced. */
export const MATOCS_CREATE = defineRequest({
  type: 2010, name: 'MATOCS_CREATE', replyName: 'CSTOMA_CREATE', link,
  fields: [['chunkId', 'u64'], ['version', 'u32']] as const, replyFields: none,
});

/** chunkId:64 version:32 newVersion:32 -> (empty). Before a write to an existing chunk. */
export const MATOCS_SET_VERSION = defineRequest({
  type: 2012, name: 'MATOCS_SET_VERSION', replyName: 'CSTOMA_SET_VERSION', link,
  fields: [['chunkId', 'u64'], ['version', 'u32'], ['newVersion', 'u32']] as const,
  replyFields: none,
});

/** chunkId:64 version:32 newVersion:32 lengthBytes:32 -> (empty). Cuts (or zero-extends). */
export const MATOCS_TRUNCATE = defineRequest({
  type: 2014, name: 'MATOCS_TRUNCATE', replyName: 'CSTOMA_TRUNCATE', link,
  fields: [['chunkId', 'u64'], ['version', 'u32'], ['newVersion', 'u32'], ['lengthBytes', 'u32']] as const,
  replyFields: none,
});

/** chunkId:64 version:32 -> (empty). version 0 deletes whatever version is held. */
export const MATOCS_DELETE = defineRequest({
  type: 2016, name: 'MATOCS_DELETE', replyName: 'CSTOMA_DELETE', link,
  fields: [['chunkId', 'u64'], ['version', 'u32']] as const, replyFields: none,
});

/** chunkId:64 version:32 -> (empty): a copy here failed its checksum (read or scrub). */
export const CSTOMA_CHUNK_DAMAGED = defineRequest({
  type: 2020, name: 'CSTOMA_CHUNK_DAMAGED', replyName: 'MATOCS_CHUNK_DAMAGED', link,
  fields: [['chunkId', 'u64'], ['version', 'u32']] as const, replyFields: none,
});

/** chunkId:64 version:32 -> (empty): a copy here is gone (disk error, deleted by hand). */
export const CSTOMA_CHUNK_LOST = defineRequest({
  type: 2022, name: 'CSTOMA_CHUNK_LOST', replyName: 'MATOCS_CHUNK_LOST', link,
  fields: [['chunkId', 'u64'], ['version', 'u32']] as const, replyFields: none,
});

/**
 * chunkId:64 version:32 sources:[hop] -> lengthBytes:32. The chunkserver copies the chunk at that
 * version from the first source that answers (CSTOCS_GET_CHECKSUMS then CLTOCS_READ pieces),
 * verifies every block against the source's checksums on arrival, fsyncs, and only then holds a
 * valid copy (replacing any copy of that id it had). A half-copied chunk never counts.
 */
export const MATOCS_REPLICATE = defineRequest({
  type: 2018, name: 'MATOCS_REPLICATE', replyName: 'CSTOMA_REPLICATE', link,
  fields: [['chunkId', 'u64'], ['version', 'u32'], ['sources', { list: HOP }]] as const,
  replyFields: [['lengthBytes', 'u32']] as const,
});
