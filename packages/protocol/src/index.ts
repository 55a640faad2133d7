// Public surface of @antlerfs/protocol: the wire (messages, framing, codec, links), statuses,
// constants, and the small runtime every daemon shares (config, log, daemon skeleton).
export * from './assert.ts';
export * from './constants.ts';
export * from './status.ts';
export * from './codec.ts';
export * from './message-types.ts';
export * from './buffer-pool.ts';
export * from './frame.ts';
export * from './link.ts';
export * from './checksum.ts';
export * from './log.ts';
export * from './config-file.ts';
export * from './daemon.ts';
export * from './messages/common.ts';
export * from './messages/client-master.ts';
export * from './messages/master-chunkserver.ts';
export * from './messages/data.ts';
export * from './messages/master-metalogger.ts';
