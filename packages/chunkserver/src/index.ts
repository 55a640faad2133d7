// Public surface of @antlerfs/chunkserver: the assembled chunkserver and its config, plus the
// chunk file format and checksum pool that tools (scrub, fault injection) build on, and the
// replicator and scrubber (their counters and limits).
export { Chunkserver } from './chunkserver.ts';
export {
  CHUNKSERVER_SCHEMA, VERSION, chunkserverConfig, defaultChunkserverConfig, parseMasters,
  type ChunkserverConfig, type MasterAddress,
} from './config.ts';
export { loadHddFolders, parseHddConfig, type HddFolder } from './hdd-config.ts';
export {
  CHECKSUMS_OFFSET, HEADER_BYTES, chunkFileName, chunkFilePath, chunkSubfolder, decodeHeader,
  parseChunkFileName, type ChunkHeader,
} from './chunk-file.ts';
export { ChecksumPool, allocSharedBuffer } from './checksum-pool.ts';
export { ChunkStore, type ChunkInfo } from './chunk-store.ts';
export { DataServer } from './data-server.ts';
export { MasterLink } from './master-link.ts';
export { Replicator, type ReplicationOrder, type ReplicatorCounters } from './replicator.ts';
export { Scrubber, type ScrubberCounters } from './scrubber.ts';
