// What every handler of the gateway shares: the library client (its one master session and
// chunkserver connections serve all requests at once), the layout of names, the config, the
// log and the per-key commit locks.
import type { Logger } from '@antlerfs/protocol';
import type { Client } from '../index.ts';
import type { S3Config } from './config.ts';
import type { KeyLocks } from './key-locks.ts';
import type { ObjectLayout } from './object-layout.ts';

export interface GatewayContext {
  client: Client;
  layout: ObjectLayout;
  config: S3Config;
  log: Logger;
  locks: KeyLocks;
}
