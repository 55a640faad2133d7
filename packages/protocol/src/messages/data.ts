// Data port of a chunkserver (9422): clients read and write blocks; chunkservers forward writes
// down the chain with the same messages. Block bytes follow the struct as their own buffer.
import { defineRequest } from '../message-types.ts';
import { HOP } from './common.ts';

const link = 'data' as const;

/**
 * chunkId:64 version:32 offset:32 size:32 -> data. size <= READ_SIZE_MAX_BYTES; bytes past the
 * chunk's stored length read as zeros. Every block touched is verified before it is sent.
 */
export const CLTOCS_READ = defineRequest({
  type: 3000, name: 'CLTOCS_READ', replyName: 'CSTOCL_READ', link,
  fields: [['chunkId', 'u64'], ['version', 'u32'], ['offset', 'u32'], ['size', 'u32']] as const,
  replyFields: [] as const, replyTail: true,
});

/**
 * chunkId:64 version:32 blockIndex:16 offsetInBlock:32 checksum:h64 chain:[hop] + data.
 * `checksum` is xxh64 of the data sent. The receiver verifies it, writes at its offset, sends it
 * on to chain[0] with chain[1..], and replies once its own write and everything downstream are
 * done.
 */
export const CLTOCS_WRITE = defineRequest({
  type: 3002, name: 'CLTOCS_WRITE', replyName: 'CSTOCL_WRITE', link,
  fields: [
    ['chunkId', 'u64'], ['version', 'u32'], ['blockIndex', 'u16'], ['offsetInBlock', 'u32'],
    ['checksum', 'h64'], ['chain', { list: HOP }],
  ] as const,
  replyFields: [] as const, tail: true,
});

/** chunkId:64 version:32 chain:[hop] -> (empty). fsync of the chunk on every copy. */
export const CLTOCS_FSYNC = defineRequest({
  type: 3004, name: 'CLTOCS_FSYNC', replyName: 'CSTOCL_FSYNC', link,
  fields: [['chunkId', 'u64'], ['version', 'u32'], ['chain', { list: HOP }]] as const,
  replyFields: [] as const,
});

/** -> counters:[name:str value:64]. Request counts by kind, bytes, errors. */
export const CLTOCS_STATS = defineRequest({
  type: 3006, name: 'CLTOCS_STATS', replyName: 'CSTOCL_STATS', link,
  fields: [] as const,
  replyFields: [['counters', { list: [['name', 'str'], ['value', 'u64']] as const }]] as const,
});

/**
 * chunkId:64 version:32 -> lengthBytes:32 + checksums (8 bytes per block up to lengthBytes,
 * big-endian xxh64 of each zero-padded block). Used by replication to verify on arrival.
 */
export const CSTOCS_GET_CHECKSUMS = defineRequest({
  type: 3008, name: 'CSTOCS_GET_CHECKSUMS', replyName: 'CSTOCS_CHECKSUMS', link,
  fields: [['chunkId', 'u64'], ['version', 'u32']] as const,
  replyFields: [['lengthBytes', 'u32']] as const, replyTail: true,
});
