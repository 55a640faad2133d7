// The chunkserver's config schema: every key, its type, default, unit, range and doc. The file
// parser, flags, --help, --print-config and the example etc/antler-chunkserver.cfg all follow it.
// Every key needs a restart; nothing reloads on SIGHUP yet.
import path from 'node:path';
import {
  CHUNK_LIST_BATCH_MAX, CHUNKSERVER_RESERVE_DEFAULT_BYTES, ConfigError, PORT_CSSERV, PORT_MATOCS,
  assert, schemaDefaults, type ConfigKey, type ConfigValues, type Level,
} from '@antlerfs/protocol';
import { SPARE_FILES_MAX } from './spare-files.ts';

export const VERSION = '0.1.0';

export const CHUNKSERVER_SCHEMA: ConfigKey[] = [
  { key: 'DATA_PATH', type: 'string', default: '/var/lib/antlerfs/chunkserver',
    doc: 'folder for the csid file and the lock (and the default chunk folder)' },
  { key: 'HDD_CONF_FILENAME', type: 'string', default: '',
    doc: 'file listing one chunk folder per line, with an optional "reserve=SIZE"' },
  { key: 'HDD_PATHS', type: 'string', default: '',
    doc: 'comma-separated chunk folders (used with or instead of HDD_CONF_FILENAME)' },
  { key: 'HDD_RESERVE_BYTES', type: 'bytes', default: CHUNKSERVER_RESERVE_DEFAULT_BYTES, min: 0,
    unit: 'bytes', doc: 'free space kept on each folder; below it new chunks get ENOSPC' },
  { key: 'CSSERV_LISTEN_HOST', type: 'string', default: '0.0.0.0',
    doc: 'address the data port listens on' },
  { key: 'CSSERV_LISTEN_PORT', type: 'int', default: PORT_CSSERV, min: 0, max: 65535,
    doc: 'data port for clients and other chunkservers (0 = any free port)' },
  { key: 'ADVERTISE_HOST', type: 'string', default: '',
    doc: 'address given to the master for the data port (empty: the listen host, '
      + 'or 127.0.0.1 when listening on 0.0.0.0)' },
  { key: 'MASTER_HOST', type: 'string', default: '127.0.0.1',
    doc: 'master address, or a comma-separated list of host[:port] tried in turn (the one '
      + 'that accepts registration is kept)' },
  { key: 'MASTER_PORT', type: 'int', default: PORT_MATOCS, min: 1, max: 65535,
    doc: 'master port for chunkservers (for MASTER_HOST entries without a port)' },
  { key: 'MASTER_RECONNECT_DELAY_MAX_MS', type: 'int', default: 2000, min: 10, max: 60_000,
    unit: 'ms', doc: 'longest wait between two rounds of attempts to reach a master' },
  { key: 'MASTER_TIMEOUT_MS', type: 'int', default: 10_000, min: 100, max: 600_000, unit: 'ms',
    doc: 'a request to the master without a reply for this long drops the link' },
  { key: 'HEARTBEAT_INTERVAL_MS', type: 'int', default: 1000, min: 10, max: 60_000, unit: 'ms',
    doc: 'interval of heartbeats (space and chunk count) to the master' },
  { key: 'CHUNK_LIST_BATCH_MAX', type: 'int', default: CHUNK_LIST_BATCH_MAX, min: 1,
    max: CHUNK_LIST_BATCH_MAX, doc: 'chunks per CSTOMA_CHUNKS message at registration' },
  { key: 'CHECKSUM_WORKERS', type: 'int', default: 1, min: 1, max: 64,
    doc: 'threads that verify whole chunks (start-up checks, scrub, replication)' },
  { key: 'OPEN_FILES_MAX', type: 'int', default: 4096, min: 4, max: 1_000_000,
    doc: 'chunk files kept open at once (least recently used are closed); each keeps its '
      + '8 KiB checksum table in memory, so a read of it needs no path lookup or header read' },
  { key: 'HDD_SPARE_FILES_MAX', type: 'int', default: SPARE_FILES_MAX, min: 0, max: 1_000_000,
    doc: 'files of deleted chunks kept emptied per chunk folder and renamed into place for new '
      + 'chunks (no inode freed or allocated; 0: deleted chunk files are unlinked)' },
  { key: 'HDD_DROP_WRITTEN_CACHE', type: 'bool', default: true,
    doc: 'drop written chunk data from the page cache once it is on its way to disk (clients '
      + 'cache what they read; the cache is kept for headers and folders)' },
  { key: 'WRITES_INFLIGHT_MAX', type: 'int', default: 64, min: 1, max: 4096,
    doc: 'block writes in progress per connection before it stops reading' },
  { key: 'READS_INFLIGHT_MAX', type: 'int', default: 16, min: 1, max: 4096,
    doc: 'reads in progress per connection before it stops reading' },
  { key: 'DATA_CONNECTIONS_MAX', type: 'int', default: 4096, min: 1, max: 100_000,
    doc: 'connections the data port accepts at once' },
  { key: 'CHAIN_LINKS_PER_SERVER', type: 'int', default: 2, min: 1, max: 64,
    doc: 'connections kept to each next chunkserver of a write chain' },
  { key: 'CHAIN_TIMEOUT_MS', type: 'int', default: 30_000, min: 100, max: 600_000, unit: 'ms',
    doc: 'a write forwarded down the chain without a reply for this long fails' },
  { key: 'REPLICATIONS_MAX', type: 'int', default: 2, min: 1, max: 64,
    doc: 'replications (copies from other chunkservers) running at once' },
  { key: 'REPLICATION_QUEUE_MAX', type: 'int', default: 64, min: 0, max: 100_000,
    doc: 'replication orders waiting for a slot; past it an order gets EAGAIN' },
  { key: 'REPLICATION_BYTES_PER_SECOND', type: 'bytes', default: 0, min: 0, unit: 'bytes/s',
    doc: 'bandwidth all replications share (0 = unlimited)' },
  { key: 'REPLICATION_READS_INFLIGHT_MAX', type: 'int', default: 4, min: 1, max: 64,
    doc: 'reads of up to 1 MiB one replication keeps in flight to its source' },
  { key: 'REPLICATION_TIMEOUT_MS', type: 'int', default: 30_000, min: 100, max: 600_000,
    unit: 'ms', doc: 'a source that does not answer a replication request this long is skipped' },
  { key: 'SCRUB_BYTES_PER_SECOND', type: 'bytes', default: 8 * 1024 * 1024, min: 0,
    unit: 'bytes/s', doc: 'rate at which every chunk is re-read and verified (0 = no scrub)' },
  { key: 'SCRUB_PASS_MIN_MS', type: 'int', default: 3_600_000, min: 0, max: 30 * 86_400_000,
    unit: 'ms', doc: 'shortest time one scrub pass over every chunk takes (then it waits)' },
  { key: 'HDD_IO_ERRORS_MAX', type: 'int', default: 3, min: 1, max: 1_000_000,
    doc: 'I/O errors on a chunk folder after which it is marked damaged (its chunks '
      + 'reported lost, no new chunks)' },
  { key: 'LOG_LEVEL', type: 'string', default: 'info', doc: 'debug, info, warn or error' },
];

export interface ChunkserverConfig {
  dataPath: string;
  hddConfFilename: string;
  hddPaths: string[];
  hddReserveBytes: number;
  listenHost: string;
  listenPort: number;
  advertiseHost: string;
  /** Masters to try in turn (MASTER_HOST entries, MASTER_PORT where none is given). */
  masters: MasterAddress[];
  masterReconnectDelayMaxMs: number;
  masterTimeoutMs: number;
  heartbeatIntervalMs: number;
  chunkListBatchMax: number;
  checksumWorkers: number;
  openFilesMax: number;
  hddSpareFilesMax: number;
  hddDropWrittenCache: boolean;
  writesInflightMax: number;
  readsInflightMax: number;
  dataConnectionsMax: number;
  chainLinksPerServer: number;
  chainTimeoutMs: number;
  replicationsMax: number;
  replicationQueueMax: number;
  replicationBytesPerSecond: number;
  replicationReadsInflightMax: number;
  replicationTimeoutMs: number;
  scrubBytesPerSecond: number;
  scrubPassMinMs: number;
  hddIoErrorsMax: number;
  logLevel: Level;
}

export interface MasterAddress {
  host: string;
  port: number;
}

const LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error'];

function str(values: ConfigValues, key: string): string {
  const v = values[key];
  assert(typeof v === 'string', `${key} is a string`);
  return v;
}

function int(values: ConfigValues, key: string): number {
  const v = values[key];
  assert(typeof v === 'number' && Number.isSafeInteger(v), `${key} is an integer`);
  return v;
}

/** Masters in a list at most this long (a cluster has one active master and a few shadows). */
const MASTERS_MAX = 16;

/**
 * Parses MASTER_HOST: "host", "host:port", "[v6addr]:port" or a bare v6 address, separated by
 * commas; entries without a port get `defaultPort`.
 */
export function parseMasters(text: string, defaultPort: number): MasterAddress[] {
  const entries = text.split(',').map((e) => e.trim()).filter((e) => e !== '');
  if (entries.length === 0) throw new ConfigError('MASTER_HOST must name at least one master');
  if (entries.length > MASTERS_MAX) {
    throw new ConfigError(`MASTER_HOST lists ${entries.length} masters, at most ${MASTERS_MAX}`);
  }
  return entries.map((entry) => {
    const m = /^\[([^\]]+)\](?::(.*))?$/.exec(entry) ?? /^([^:]+):([^:]*)$/.exec(entry);
    // A bare IPv6 address has several colons and no port.
    const host = m ? m[1]! : entry;
    const portText = m ? m[2] : undefined;
    if (portText === undefined) return { host, port: defaultPort };
    const port = /^\d+$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) {
      throw new ConfigError(`MASTER_HOST entry "${entry}": port must be 1..65535`);
    }
    return { host, port };
  });
}

/** Typed view of loaded values; checks what the schema's ranges cannot express. */
export function chunkserverConfig(values: ConfigValues): ChunkserverConfig {
  const logLevel = str(values, 'LOG_LEVEL') as Level;
  if (!LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LEVELS.join(', ')}, got "${logLevel}"`);
  }
  const dataPath = str(values, 'DATA_PATH');
  if (dataPath === '') throw new ConfigError('DATA_PATH must not be empty');
  const listenHost = str(values, 'CSSERV_LISTEN_HOST');
  let advertiseHost = str(values, 'ADVERTISE_HOST');
  if (advertiseHost === '') {
    advertiseHost = listenHost === '0.0.0.0' || listenHost === '::' ? '127.0.0.1' : listenHost;
  }
  const hddPaths = str(values, 'HDD_PATHS').split(',').map((p) => p.trim()).filter((p) => p !== '');
  return {
    dataPath: path.resolve(dataPath),
    hddConfFilename: str(values, 'HDD_CONF_FILENAME'),
    hddPaths,
    hddReserveBytes: int(values, 'HDD_RESERVE_BYTES'),
    listenHost,
    listenPort: int(values, 'CSSERV_LISTEN_PORT'),
    advertiseHost,
    masters: parseMasters(str(values, 'MASTER_HOST'), int(values, 'MASTER_PORT')),
    masterReconnectDelayMaxMs: int(values, 'MASTER_RECONNECT_DELAY_MAX_MS'),
    masterTimeoutMs: int(values, 'MASTER_TIMEOUT_MS'),
    heartbeatIntervalMs: int(values, 'HEARTBEAT_INTERVAL_MS'),
    chunkListBatchMax: int(values, 'CHUNK_LIST_BATCH_MAX'),
    checksumWorkers: int(values, 'CHECKSUM_WORKERS'),
    openFilesMax: int(values, 'OPEN_FILES_MAX'),
    hddSpareFilesMax: int(values, 'HDD_SPARE_FILES_MAX'),
    hddDropWrittenCache: values.HDD_DROP_WRITTEN_CACHE === true,
    writesInflightMax: int(values, 'WRITES_INFLIGHT_MAX'),
    readsInflightMax: int(values, 'READS_INFLIGHT_MAX'),
    dataConnectionsMax: int(values, 'DATA_CONNECTIONS_MAX'),
    chainLinksPerServer: int(values, 'CHAIN_LINKS_PER_SERVER'),
    chainTimeoutMs: int(values, 'CHAIN_TIMEOUT_MS'),
    replicationsMax: int(values, 'REPLICATIONS_MAX'),
    replicationQueueMax: int(values, 'REPLICATION_QUEUE_MAX'),
    replicationBytesPerSecond: int(values, 'REPLICATION_BYTES_PER_SECOND'),
    replicationReadsInflightMax: int(values, 'REPLICATION_READS_INFLIGHT_MAX'),
    replicationTimeoutMs: int(values, 'REPLICATION_TIMEOUT_MS'),
    scrubBytesPerSecond: int(values, 'SCRUB_BYTES_PER_SECOND'),
    scrubPassMinMs: int(values, 'SCRUB_PASS_MIN_MS'),
    hddIoErrorsMax: int(values, 'HDD_IO_ERRORS_MAX'),
    logLevel,
  };
}

/** Default values as a typed config (tests and embedders start from it). */
export function defaultChunkserverConfig(): ChunkserverConfig {
  const values = schemaDefaults(CHUNKSERVER_SCHEMA);
  return chunkserverConfig(values);
}
