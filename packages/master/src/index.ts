// Public entry points of @antlerfs/master: the master process and its configuration schema.
export { Master, MASTER_VERSION, type MasterPorts, type MasterOptions } from './master.ts';
export {
  MASTER_CONFIG_SCHEMA, defaultMasterConfig, masterConfigFrom, configChanges, type MasterConfig,
} from './config.ts';
export type { MasterStatus } from './monitor-http.ts';
