// The master's configuration schema: every key with its type, default, unit, range, whether a
// SIGHUP reload applies it, and one sentence of doc. The parser, --help, --print-config,
// etc/antler-master.cfg and its test all come from this one table.
import {
  GOAL_MAX, PORT_MATOCL, PORT_MATOCS, PORT_MATOML, PORT_MONITOR, configInt as int,
  configString as str, schemaChanges, schemaDefaults, type ConfigKey, type ConfigValues,
} from '@antlerfs/protocol';
import { parsePeers, type PeerAddress } from './master-peers.ts';

/** Most metaloggers a master can be configured to serve. */
export const METALOGGERS_LIMIT = 1000;

export interface MasterConfigKey extends ConfigKey {
  /** A SIGHUP reload applies a new value of this key without a restart. */
  reloadable: boolean;
}

const port = { type: 'int', min: 0, max: 65535, reloadable: false } as const;

export const MASTER_CONFIG_SCHEMA: MasterConfigKey[] = [
  {
    key: 'DATA_PATH', type: 'string', default: '/var/lib/antlerfs/master', reloadable: false,
    doc: 'Folder of the metadata dumps, the changelog files and the lock file.',
  },
  {
    key: 'LISTEN_HOST', type: 'string', default: '0.0.0.0', reloadable: false,
    doc: 'Address every listener of the master binds to.',
  },
  {
    key: 'MATOCL_LISTEN_PORT', ...port, default: PORT_MATOCL,
    doc: 'Port clients connect to (0 picks a free port).',
  },
  {
    key: 'MATOCS_LISTEN_PORT', ...port, default: PORT_MATOCS,
    doc: 'Port chunkservers connect to (0 picks a free port).',
  },
  {
    key: 'MONITOR_LISTEN_PORT', ...port, default: PORT_MONITOR,
    doc: 'Port of the HTTP monitor with /, /api/status and /api/health (0 picks a free port).',
  },
  {
    key: 'MATOML_LISTEN_PORT', ...port, default: PORT_MATOML,
    doc: 'Port metaloggers connect to (0 picks a free port).',
  },
  {
    key: 'METALOGGERS_MAX', type: 'int', default: 16, min: 1, max: METALOGGERS_LIMIT,
    reloadable: false, doc: 'Most metaloggers served at once; more are refused with EAGAIN.',
  },
  {
    key: 'METALOGGER_QUEUE_MAX_BYTES', type: 'bytes', default: 64 * 1024 * 1024,
    min: 1024 * 1024, max: 4 * 1024 ** 3, unit: 'bytes', reloadable: true,
    doc: 'Records queued for one metalogger at most; one further behind is dropped and ' +
      'registers again.',
  },
  {
    key: 'SYNC_METALOGGERS', type: 'int', default: 0, min: 0, max: METALOGGERS_LIMIT,
    reloadable: true,
    doc: 'Synchronous mode: a change is acknowledged to its client only once it is fsynced ' +
      'here and this many metaloggers have acknowledged it, so losing this disk loses nothing ' +
      'acknowledged. With fewer metaloggers connected, changes wait up to SYNC_TIMEOUT_MS ' +
      'and then fail with EAGAIN. 0: a change is acknowledged once it is on this disk.',
  },
  {
    key: 'SYNC_TIMEOUT_MS', type: 'int', default: 10_000, min: 1, max: 600_000, unit: 'ms',
    reloadable: true,
    doc: 'Synchronous mode: how long a change waits for enough metaloggers to be connected, ' +
      'and then for their acknowledgement, before its client gets EAGAIN (a change already ' +
      'applied stays, and a retry with the same request id is answered from it).',
  },
  {
    key: 'MASTER_PEERS', type: 'string', default: '', reloadable: false,
    doc: 'The other masters, as host:clientPort separated by commas. Before serving, each is ' +
      'asked whether it is active; if one of the same cluster is, this master refuses to ' +
      'start (two masters must never accept writes at once).',
  },
  {
    key: 'METADATA_SAVE_FREQ', type: 'int', default: 3600, min: 1, max: 86_400, unit: 's',
    reloadable: true, doc: 'Seconds between two full metadata dumps written while serving.',
  },
  {
    key: 'BACK_META_KEEP_PREVIOUS', type: 'int', default: 3, min: 0, max: 99, reloadable: true,
    doc: 'Older dumps kept as metadata.amd.back.1..N, with the changelog files they need.',
  },
  {
    key: 'CHUNKSERVER_TIMEOUT_MS', type: 'int', default: 10_000, min: 100, max: 3_600_000,
    unit: 'ms', reloadable: true,
    doc: 'A chunkserver silent for this long is lost and its copies stop counting.',
  },
  {
    key: 'CHUNKSERVERS_MAX', type: 'int', default: 1000, min: 1, max: 65_535, reloadable: false,
    doc: 'Most chunkserver connections accepted at once.',
  },
  {
    key: 'DELETIONS_PER_SECOND', type: 'int', default: 1000, min: 1, max: 1_000_000,
    reloadable: true, doc: 'Rate at which freed chunk copies are deleted on the chunkservers.',
  },
  {
    key: 'CHUNK_POOL_SIZE', type: 'int', default: 8, min: 0, max: 1024, reloadable: true,
    doc: 'New empty chunks kept made ahead on the chunkservers for each goal in use, so the '
      + 'first write into a hole of a file need not wait for their creation (0: off).',
  },
  {
    key: 'REPLICATION_LOOP_MS', type: 'int', default: 1000, min: 10, max: 600_000, unit: 'ms',
    reloadable: false,
    doc: 'How often the chunk health scan starts a pass and the replication planner plans.',
  },
  {
    key: 'REPLICATIONS_PER_SERVER_MAX', type: 'int', default: 2, min: 1, max: 1000,
    reloadable: true,
    doc: 'Chunk copies one chunkserver takes part in at once, as source and as target each.',
  },
  {
    key: 'REPLICATIONS_MAX', type: 'int', default: 64, min: 1, max: 100_000, reloadable: true,
    doc: 'Chunk copies (healing and rebalancing) running in the whole cluster at once.',
  },
  {
    key: 'REPLICATION_TIMEOUT_MS', type: 'int', default: 600_000, min: 1000, max: 86_400_000,
    unit: 'ms', reloadable: true,
    doc: 'How long one chunk copy may take before it counts as failed and is tried again.',
  },
  {
    key: 'BALANCE_MARGIN_PERCENT', type: 'int', default: 5, min: 0, max: 100, unit: 'percent',
    reloadable: true,
    doc: 'Chunks move from the fullest chunkserver to the emptiest while their shares of ' +
      'usable space taken by chunks differ by more than this.',
  },
  {
    key: 'REBALANCE_MOVES_MAX', type: 'int', default: 2, min: 0, max: 1000, reloadable: true,
    doc: 'Rebalancing moves running at once (only when nothing needs healing); 0 turns ' +
      'rebalancing off.',
  },
  {
    key: 'DEFAULT_GOAL', type: 'int', default: 2, min: 1, max: GOAL_MAX, reloadable: false,
    doc: 'Goal of the root directory of a new file system (new entries inherit their parent\'s).',
  },
  {
    key: 'DEFAULT_TRASHTIME', type: 'int', default: 0, min: 0, max: 0xffffffff, unit: 's',
    reloadable: false,
    doc: 'Root trash time of a new file system; kept as an attribute, chunks are freed at once.',
  },
  {
    key: 'SESSIONS_MAX', type: 'int', default: 1000, min: 1, max: 100_000, reloadable: true,
    doc: 'Most client sessions at once; a REGISTER beyond it gets EAGAIN.',
  },
  {
    key: 'SESSION_REQUESTS_INFLIGHT_MAX', type: 'int', default: 256, min: 1, max: 65_536,
    reloadable: true, doc: 'Requests one client session may have in flight; more get EAGAIN.',
  },
  {
    key: 'CHANGELOG_BATCH_RECORDS_MAX', type: 'int', default: 4096, min: 1, max: 65_536,
    reloadable: false, doc: 'Most changelog records written and fsynced together (group commit).',
  },
];

/** The typed view of the values, with units in the names. */
export interface MasterConfig {
  dataPath: string;
  listenHost: string;
  clientPort: number;
  chunkserverPort: number;
  monitorPort: number;
  metaloggerPort: number;
  metaloggersMax: number;
  metaloggerQueueMaxBytes: number;
  syncMetaloggers: number;
  syncTimeoutMs: number;
  masterPeers: PeerAddress[];
  metadataSaveFreqS: number;
  backMetaKeepPrevious: number;
  chunkserverTimeoutMs: number;
  chunkserversMax: number;
  deletionsPerSecond: number;
  chunkPoolSize: number;
  replicationLoopMs: number;
  replicationsPerServerMax: number;
  replicationsMax: number;
  replicationTimeoutMs: number;
  balanceMarginPercent: number;
  rebalanceMovesMax: number;
  defaultGoal: number;
  defaultTrashtimeS: number;
  sessionsMax: number;
  sessionRequestsInflightMax: number;
  changelogBatchRecordsMax: number;
}



/** The typed config; ConfigError for a MASTER_PEERS that does not parse. */
export function masterConfigFrom(values: ConfigValues): MasterConfig {
  return {
    dataPath: str(values, 'DATA_PATH'),
    listenHost: str(values, 'LISTEN_HOST'),
    clientPort: int(values, 'MATOCL_LISTEN_PORT'),
    chunkserverPort: int(values, 'MATOCS_LISTEN_PORT'),
    monitorPort: int(values, 'MONITOR_LISTEN_PORT'),
    metaloggerPort: int(values, 'MATOML_LISTEN_PORT'),
    metaloggersMax: int(values, 'METALOGGERS_MAX'),
    metaloggerQueueMaxBytes: int(values, 'METALOGGER_QUEUE_MAX_BYTES'),
    syncMetaloggers: int(values, 'SYNC_METALOGGERS'),
    syncTimeoutMs: int(values, 'SYNC_TIMEOUT_MS'),
    masterPeers: parsePeers(str(values, 'MASTER_PEERS')),
    metadataSaveFreqS: int(values, 'METADATA_SAVE_FREQ'),
    backMetaKeepPrevious: int(values, 'BACK_META_KEEP_PREVIOUS'),
    chunkserverTimeoutMs: int(values, 'CHUNKSERVER_TIMEOUT_MS'),
    chunkserversMax: int(values, 'CHUNKSERVERS_MAX'),
    deletionsPerSecond: int(values, 'DELETIONS_PER_SECOND'),
    chunkPoolSize: int(values, 'CHUNK_POOL_SIZE'),
    replicationLoopMs: int(values, 'REPLICATION_LOOP_MS'),
    replicationsPerServerMax: int(values, 'REPLICATIONS_PER_SERVER_MAX'),
    replicationsMax: int(values, 'REPLICATIONS_MAX'),
    replicationTimeoutMs: int(values, 'REPLICATION_TIMEOUT_MS'),
    balanceMarginPercent: int(values, 'BALANCE_MARGIN_PERCENT'),
    rebalanceMovesMax: int(values, 'REBALANCE_MOVES_MAX'),
    defaultGoal: int(values, 'DEFAULT_GOAL'),
    defaultTrashtimeS: int(values, 'DEFAULT_TRASHTIME'),
    sessionsMax: int(values, 'SESSIONS_MAX'),
    sessionRequestsInflightMax: int(values, 'SESSION_REQUESTS_INFLIGHT_MAX'),
    changelogBatchRecordsMax: int(values, 'CHANGELOG_BATCH_RECORDS_MAX'),
  };
}

/** The defaults as a typed config (tests start from it). */
export function defaultMasterConfig(overrides: Partial<MasterConfig> = {}): MasterConfig {
  const values = schemaDefaults(MASTER_CONFIG_SCHEMA);
  return { ...masterConfigFrom(values), ...overrides };
}

/** Keys whose value differs between two loads, split by whether a reload can apply them. */
export function configChanges(
  before: ConfigValues, after: ConfigValues,
): { reloadable: string[]; needRestart: string[] } {
  return schemaChanges(MASTER_CONFIG_SCHEMA, before, after);
}
