// The metalogger's configuration schema: every key with its type, default, unit, range, whether
// a SIGHUP reload applies it, and one sentence of doc. The parser, --help, --print-config and
// etc/antler-metalogger.cfg (checked by a test) all come from this one table.
import os from 'node:os';
import {
  PORT_MATOML, configInt as int, configString as str, schemaChanges, schemaDefaults,
  type ConfigKey, type ConfigValues,
} from '@antlerfs/protocol';

export interface MetaloggerConfigKey extends ConfigKey {
  /** A SIGHUP reload applies a new value of this key without a restart. */
  reloadable: boolean;
}

export const METALOGGER_CONFIG_SCHEMA: MetaloggerConfigKey[] = [
  {
    key: 'DATA_PATH', type: 'string', default: '/var/lib/antlerfs/metalogger', reloadable: false,
    doc: 'Folder of the mirrored dumps and changelog files (the master\'s own layout).',
  },
  {
    key: 'MASTER_HOST', type: 'string', default: '127.0.0.1', reloadable: false,
    doc: 'Master host[:port], or several separated by commas: tried in turn, the one that ' +
      'answers is kept.',
  },
  {
    key: 'MASTER_PORT', type: 'int', default: PORT_MATOML, min: 1, max: 65_535, reloadable: false,
    doc: 'Master port for metaloggers (for MASTER_HOST entries without a port).',
  },
  {
    key: 'METALOGGER_NAME', type: 'string', default: '', reloadable: false,
    doc: 'Name this metalogger registers with (empty: the host name).',
  },
  {
    key: 'MASTER_RECONNECT_DELAY_MAX_MS', type: 'int', default: 2000, min: 10, max: 60_000,
    unit: 'ms', reloadable: true,
    doc: 'Longest wait between two rounds of attempts to reach a master.',
  },
  {
    key: 'MASTER_TIMEOUT_MS', type: 'int', default: 10_000, min: 100, max: 600_000, unit: 'ms',
    reloadable: false,
    doc: 'A master silent this long (no records, keepalive or reply) is dropped and redialled.',
  },
  {
    key: 'BACK_LOGS', type: 'int', default: 50, min: 1, max: 10_000, reloadable: true,
    doc: 'Most changelog files kept; older ones go once a kept dump no longer needs them.',
  },
  {
    key: 'BACK_META_KEEP_PREVIOUS', type: 'int', default: 3, min: 0, max: 99, reloadable: true,
    doc: 'Older dumps kept as metadata.amd.back.1..N, with the changelog files they need.',
  },
  {
    key: 'CHANGELOG_ROTATE_RECORDS', type: 'int', default: 1_000_000, min: 1,
    max: 1_000_000_000, reloadable: true,
    doc: 'A changelog file holding this many records is closed and a new one started.',
  },
  {
    key: 'METADATA_SAVE_FREQ', type: 'int', default: 3600, min: 1, max: 86_400, unit: 's',
    reloadable: true,
    doc: 'Seconds between two dumps of the mirrored metadata written here (and one on stop).',
  },
  {
    key: 'LAG_LOG_INTERVAL_MS', type: 'int', default: 10_000, min: 100, max: 3_600_000, unit: 'ms',
    reloadable: true, doc: 'Milliseconds between two log lines with the lag behind the master.',
  },
];

/** The typed view of the values, with units in the names. */
export interface MetaloggerConfig {
  dataPath: string;
  masters: MasterAddress[];
  name: string;
  reconnectDelayMaxMs: number;
  masterTimeoutMs: number;
  backLogs: number;
  backMetaKeepPrevious: number;
  changelogRotateRecords: number;
  metadataSaveFreqS: number;
  lagLogIntervalMs: number;
}

export interface MasterAddress {
  host: string;
  port: number;
}



/** Masters a metalogger may follow at most (MASTER_HOST entries). */
export const MASTER_HOSTS_MAX = 16;

/**
 * Parses "a, b:9500, [::1]:9419" into addresses; a missing port is `defaultPort`. Returns a
 * reason instead when the list is empty, too long or holds a bad entry.
 */
export function parseMasterHosts(
  text: string, defaultPort: number,
): MasterAddress[] | { invalid: string } {
  const out: MasterAddress[] = [];
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const m = /^(?:\[([^\]]+)\]|([^:\s]+))(?::(\d+))?$/.exec(entry);
    if (!m) return { invalid: `MASTER_HOST entry "${entry}" is not host[:port]` };
    const port = m[3] === undefined ? defaultPort : Number(m[3]);
    if (!Number.isInteger(port) || port < 1 || port > 65_535) {
      return { invalid: `MASTER_HOST entry "${entry}": port outside 1..65535` };
    }
    out.push({ host: m[1] ?? m[2]!, port });
  }
  if (out.length === 0) return { invalid: 'MASTER_HOST names no master' };
  if (out.length > MASTER_HOSTS_MAX) {
    return { invalid: `MASTER_HOST lists ${out.length} masters, at most ${MASTER_HOSTS_MAX}` };
  }
  return out;
}

/** The typed config; throws Error with the reason when MASTER_HOST cannot be parsed. */
export function metaloggerConfigFrom(values: ConfigValues): MetaloggerConfig {
  const masters = parseMasterHosts(str(values, 'MASTER_HOST'), int(values, 'MASTER_PORT'));
  if ('invalid' in masters) throw new Error(masters.invalid);
  const name = str(values, 'METALOGGER_NAME');
  return {
    dataPath: str(values, 'DATA_PATH'),
    masters,
    name: name === '' ? os.hostname() : name,
    reconnectDelayMaxMs: int(values, 'MASTER_RECONNECT_DELAY_MAX_MS'),
    masterTimeoutMs: int(values, 'MASTER_TIMEOUT_MS'),
    backLogs: int(values, 'BACK_LOGS'),
    backMetaKeepPrevious: int(values, 'BACK_META_KEEP_PREVIOUS'),
    changelogRotateRecords: int(values, 'CHANGELOG_ROTATE_RECORDS'),
    metadataSaveFreqS: int(values, 'METADATA_SAVE_FREQ'),
    lagLogIntervalMs: int(values, 'LAG_LOG_INTERVAL_MS'),
  };
}

/** The defaults as a typed config (tests start from it). */
export function defaultMetaloggerConfig(
  overrides: Partial<MetaloggerConfig> = {},
): MetaloggerConfig {
  const values = schemaDefaults(METALOGGER_CONFIG_SCHEMA);
  return { ...metaloggerConfigFrom(values), ...overrides };
}

/** Keys whose value differs between two loads, split by whether a reload can apply them. */
export function metaloggerConfigChanges(
  before: ConfigValues, after: ConfigValues,
): { reloadable: string[]; needRestart: string[] } {
  return schemaChanges(METALOGGER_CONFIG_SCHEMA, before, after);
}
