// Shared constants of the whole cluster: ports, chunk and block geometry, wire limits.
// Their relations are asserted at load so a change to one cannot silently break another.
import { assert } from './assert.ts';

/** Raised with every change of a message layout: peers of another version are refused. */
export const PROTOCOL_VERSION = 6;

/** Default ports (MooseFS numbering). Every listener also accepts 0 for tests. */
export const PORT_MATOML = 9419; // master <- metaloggers
export const PORT_MATOCS = 9420; // master <- chunkservers
export const PORT_MATOCL = 9421; // master <- clients
export const PORT_CSSERV = 9422; // chunkserver data: clients and other chunkservers
export const PORT_MONITOR = 9425; // master HTTP monitor

export const BLOCK_SIZE_BYTES = 64 * 1024;
export const BLOCKS_PER_CHUNK = 1024;
export const CHUNK_SIZE_BYTES = BLOCK_SIZE_BYTES * BLOCKS_PER_CHUNK; // 64 MiB

/** Frame header: type:32 length:32 requestId:32. */
export const FRAME_HEADER_BYTES = 12;

/** Largest READ a client may ask of a chunkserver in one request. */
export const READ_SIZE_MAX_BYTES = 1024 * 1024;

/** Per-link payload limits, checked before any allocation. */
export const PAYLOAD_MAX_CLIENT_MASTER_BYTES = 16 * 1024 * 1024;
export const PAYLOAD_MAX_MASTER_CHUNKSERVER_BYTES = 16 * 1024 * 1024;
export const PAYLOAD_MAX_DATA_BYTES = READ_SIZE_MAX_BYTES + 64 * 1024;
export const PAYLOAD_MAX_METALOGGER_BYTES = 64 * 1024 * 1024;

/** Chunk-list batch a chunkserver sends after REGISTER. */
export const CHUNK_LIST_BATCH_MAX = 65536;
/** Longest chain a write may carry (goal is at most this). */
export const GOAL_MAX = 9;
export const NAME_MAX_BYTES = 255;
export const PATH_MAX_BYTES = 4096;
export const SYMLINK_MAX_BYTES = 4096;
export const READDIR_ENTRIES_MAX = 4096;
/** Names CLTOMA_LIST_NAMES gives at most (a larger folder is not listed). */
export const LIST_NAMES_MAX = 16_384;
assert(LIST_NAMES_MAX * (4 + NAME_MAX_BYTES) + 64 <= PAYLOAD_MAX_CLIENT_MASTER_BYTES,
  'a whole names listing fits one reply');
/** File length limit: chunk index must fit in 32 bits (with margin for 2^53). */
export const FILE_LENGTH_MAX_BYTES = 2 ** 50;

export const ROOT_INODE = 1;

/** Default free-space reserve of a chunkserver (below it, new chunks are refused). */
export const CHUNKSERVER_RESERVE_DEFAULT_BYTES = 1024 * 1024 * 1024;

assert(CHUNK_SIZE_BYTES === 64 * 1024 * 1024, 'chunk is 64 MiB');
assert(BLOCKS_PER_CHUNK <= 0xffff, 'block index fits in u16');
assert(PAYLOAD_MAX_DATA_BYTES >= READ_SIZE_MAX_BYTES + 1024, 'read reply fits a data frame');
assert(PAYLOAD_MAX_DATA_BYTES >= BLOCK_SIZE_BYTES + 1024, 'block + header fits a data frame');
assert(READ_SIZE_MAX_BYTES % BLOCK_SIZE_BYTES === 0, 'reads are whole blocks');
assert(FILE_LENGTH_MAX_BYTES / CHUNK_SIZE_BYTES <= 2 ** 32, 'chunk index fits in u32');
