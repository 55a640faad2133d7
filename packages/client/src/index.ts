// Public surface of @antlerfs/client: the Client, open files and streams, their types, and
// protocol's FsError (the one error every call throws). Access paths (CLI, FUSE, S3) use only
// what is exported here.
export {
  Client, type ClientOptions, type OpenOptions, type WriteFileData, type WriteFileOptions,
} from './client.ts';
export {
  FileHandle, OPEN_FLAGS, type Located, type OpenFlags, type WriteOptions,
} from './file-handle.ts';
export {
  InodeApi, type Created, type CreatedFile, type DirPage, type FolderStamp, type InodeName,
  type Owner, type Removed, type RenameResult, type SetattrFields,
} from './inode-api.ts';
export type { PromisedChunk } from './chunk-writer.ts';
export { ReadStream, type ReadStreamOptions } from './read-stream.ts';
export { WriteStream, type WriteStreamOptions } from './write-stream.ts';
export type {
  Attr, ChunkserverInfo, DirEntry, FileChunk, FileInfo, HealthReport, MetaloggerInfo,
  MetaloggerList, ServerHealth, StatfsInfo,
} from './attr.ts';
export { DEFAULT_TUNING, type Tuning } from './tuning.ts';
export {
  ChunkserverState, FsError, InodeType, Status, STATUS_INFO, type StatusName,
} from '@antlerfs/protocol';
