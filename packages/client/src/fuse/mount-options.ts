// antler-mount's settings: one schema (KEY = VALUE in etc/antler-mount.cfg, --key flags, --help,
// --print-config) plus the mount(8)-style spellings users expect: -H master[:port], -o opt[=v],
// -u MOUNTPOINT. Those are rewritten into --key flags before the usual config loader runs, so a
// value's origin shows in --print-config. Timeouts in -o are seconds (FUSE convention); the keys
// are in ms.
import {
  ConfigError, PORT_MATOCL, type ConfigKey, type ConfigValues, type Level,
} from '@antlerfs/protocol';
import { READERS_MAX } from './fuse-device.ts';
import { MAX_WRITE_BYTES_MAX } from './init-negotiation.ts';

export const VERSION = '0.1.0';
const TIMEOUT_MAX_MS = 86_400_000;

export const MOUNT_SCHEMA: ConfigKey[] = [
  { key: 'MASTER_HOST', type: 'string', default: '127.0.0.1',
    doc: 'master address, or a comma-separated list of host[:port] tried in turn' },
  { key: 'MASTER_PORT', type: 'int', default: PORT_MATOCL, min: 1, max: 65535,
    doc: 'master client port (for MASTER_HOST entries without a port)' },
  { key: 'ATTR_TIMEOUT_MS', type: 'int', default: 1000, min: 0, max: TIMEOUT_MAX_MS, unit: 'ms',
    doc: 'how long the kernel trusts attributes (another client\'s change shows after this)' },
  { key: 'ENTRY_TIMEOUT_MS', type: 'int', default: 1000, min: 0, max: TIMEOUT_MAX_MS, unit: 'ms',
    doc: 'how long the kernel trusts a name -> inode answer (renames elsewhere show after this)' },
  { key: 'NEGATIVE_TIMEOUT_MS', type: 'int', default: 0, min: 0, max: TIMEOUT_MAX_MS, unit: 'ms',
    doc: 'how long the kernel remembers that a name does not exist (0 = not at all)' },
  { key: 'ALLOW_OTHER', type: 'bool', default: true,
    doc: 'let every user use the mount (permissions are checked by the kernel)' },
  { key: 'READ_ONLY', type: 'bool', default: false, doc: 'mount read-only' },
  { key: 'NONEMPTY', type: 'bool', default: false,
    doc: 'mount over a directory that is not empty (its files are hidden meanwhile)' },
  { key: 'FUSE_POLL', type: 'bool', default: true,
    doc: 'read /dev/fuse on the event loop (needs the native addon; else FUSE_READERS threads)' },
  { key: 'FUSE_READERS', type: 'int', default: 4, min: 1, max: READERS_MAX,
    doc: 'reader threads when FUSE_POLL is off or the addon is not built' },
  { key: 'MAX_WRITE_BYTES', type: 'bytes', default: MAX_WRITE_BYTES_MAX, min: 4096,
    max: MAX_WRITE_BYTES_MAX, unit: 'bytes', doc: 'largest read or write request from the kernel' },
  { key: 'READ_AHEAD_BYTES', type: 'bytes', default: 4 * 1024 * 1024, min: 0,
    max: 256 * 1024 * 1024, unit: 'bytes',
    doc: 'kernel readahead of the mount (0 = leave the kernel default)' },
  { key: 'DEBUG', type: 'bool', default: false, doc: 'log every request and its answer' },
  { key: 'LOG_LEVEL', type: 'string', default: 'info', doc: 'debug, info, warn or error' },
];

export interface MountConfig {
  mountPoint: string;
  /** "host:port[,host:port...]" for Client.connect. */
  master: string;
  attrTimeoutMs: number;
  entryTimeoutMs: number;
  negativeTimeoutMs: number;
  allowOther: boolean;
  readOnly: boolean;
  nonempty: boolean;
  devicePoll: boolean;
  readers: number;
  maxWriteBytes: number;
  readAheadBytes: number;
  debug: boolean;
  logLevel: Level;
}

/** What the command line asks for, once -H/-o/-u are rewritten. */
export interface ParsedCommand {
  /** -u MOUNTPOINT: unmount instead of mounting. */
  unmount: string | null;
  /** Arguments for loadConfig: --key flags, -c, --help, ..., positionals. */
  configArgs: string[];
}

// -o names that are not a key's lower-case spelling; timeouts take seconds.
const O_ALIASES: Record<string, { key: string; seconds?: boolean; value?: string }> = {
  attr_timeout: { key: 'ATTR_TIMEOUT_MS', seconds: true },
  entry_timeout: { key: 'ENTRY_TIMEOUT_MS', seconds: true },
  negative_timeout: { key: 'NEGATIVE_TIMEOUT_MS', seconds: true },
  ro: { key: 'READ_ONLY', value: 'yes' },
  rw: { key: 'READ_ONLY', value: 'no' },
  readers: { key: 'FUSE_READERS' },
  poll: { key: 'FUSE_POLL' },
  max_write: { key: 'MAX_WRITE_BYTES' },
  read_ahead: { key: 'READ_AHEAD_BYTES' },
  master: { key: 'MASTER_HOST' },
};
/** mount(8)/fstab options with no meaning here; accepted so fstab lines work. */
const O_IGNORED = new Set(['defaults', '_netdev', 'nofail', 'auto', 'noauto', 'user', 'users']);

/** Rewrites -H, -o, -u, -f, -d into what loadConfig understands. */
export function parseCommand(argv: readonly string[]): ParsedCommand {
  const configArgs: string[] = [];
  let unmount: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new ConfigError(`${arg} needs a value`);
      return v;
    };
    if (arg === '-H' || arg === '--master') configArgs.push('--master-host', next());
    else if (arg.startsWith('-H') && arg.length > 2) configArgs.push('--master-host', arg.slice(2));
    else if (arg === '-o') configArgs.push(...mountOptionFlags(next()));
    else if (arg.startsWith('-o') && arg.length > 2) {
      configArgs.push(...mountOptionFlags(arg.slice(2)));
    }
    else if (arg === '-u' || arg === '--unmount') unmount = next();
    else if (arg === '-d') configArgs.push('--debug', 'yes');
    else if (arg === '-f') continue; // always in the foreground
    else configArgs.push(arg);
  }
  return { unmount, configArgs };
}

/** "attr_timeout=2,ro,debug" -> ["--attr-timeout-ms", "2000", "--read-only", "yes", ...]. */
export function mountOptionFlags(text: string): string[] {
  const out: string[] = [];
  for (const item of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const eq = item.indexOf('=');
    const name = (eq < 0 ? item : item.slice(0, eq)).toLowerCase();
    const raw = eq < 0 ? undefined : item.slice(eq + 1);
    if (O_IGNORED.has(name)) continue;
    const alias = O_ALIASES[name];
    const key = alias?.key ?? name.toUpperCase();
    const spec = MOUNT_SCHEMA.find((s) => s.key === key);
    if (spec === undefined) throw new ConfigError(`unknown mount option ${name} (see --help)`);
    let value = alias?.value ?? raw ?? (spec.type === 'bool' ? 'yes' : undefined);
    if (value === undefined) throw new ConfigError(`mount option ${name} needs a value`);
    if (alias?.seconds === true) value = secondsToMs(name, value);
    out.push(`--${key.toLowerCase().replace(/_/g, '-')}`, value);
  }
  return out;
}

function secondsToMs(name: string, value: string): string {
  const seconds = Number(value);
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds < 0) {
    throw new ConfigError(`mount option ${name} takes seconds, got "${value}"`);
  }
  return String(Math.round(seconds * 1000));
}

/** The master list for the client: entries without a port get MASTER_PORT. */
export function masterAddress(host: string, port: number): string {
  return host.split(',').map((s) => s.trim()).filter((s) => s !== '').map((entry) => {
    const hasPort = /^\[.*\]:\d+$/.test(entry) || /^[^:[\]]+:\d+$/.test(entry);
    if (hasPort) return entry;
    const bareIpv6 = entry.includes(':') && !entry.startsWith('[');
    return bareIpv6 ? `[${entry}]:${port}` : `${entry}:${port}`;
  }).join(',');
}

export function mountConfig(values: ConfigValues, mountPoint: string): MountConfig {
  const level = String(values.LOG_LEVEL);
  if (!['debug', 'info', 'warn', 'error'].includes(level)) {
    throw new ConfigError(`LOG_LEVEL must be debug, info, warn or error, got "${level}"`);
  }
  const debug = values.DEBUG === true;
  return {
    mountPoint,
    master: masterAddress(String(values.MASTER_HOST), Number(values.MASTER_PORT)),
    attrTimeoutMs: Number(values.ATTR_TIMEOUT_MS),
    entryTimeoutMs: Number(values.ENTRY_TIMEOUT_MS),
    negativeTimeoutMs: Number(values.NEGATIVE_TIMEOUT_MS),
    allowOther: values.ALLOW_OTHER === true,
    readOnly: values.READ_ONLY === true,
    nonempty: values.NONEMPTY === true,
    devicePoll: values.FUSE_POLL === true,
    readers: Number(values.FUSE_READERS),
    maxWriteBytes: Number(values.MAX_WRITE_BYTES),
    readAheadBytes: Number(values.READ_AHEAD_BYTES),
    debug,
    logLevel: debug ? 'debug' : (level as Level),
  };
}

export const MOUNT_HELP_EXTRA = [
  'mount options (-o name[=value],...; also --KEY flags and config keys):',
  '  attr_timeout=S entry_timeout=S negative_timeout=S   cache timeouts in seconds',
  '  allow_other[=no]  ro  rw  nonempty  debug  poll=no  readers=N',
  '  max_write=SIZE  read_ahead=SIZE',
  '  master=HOST[:PORT]  and any key in lower case (log_level=debug)',
  '',
  'other flags:',
  '  -H HOST[:PORT][,...]   master address(es) [MASTER_HOST]',
  '  -u MOUNTPOINT          unmount (lazily if files are still open there)',
  '  -f                     accepted: antler-mount always stays in the foreground',
  '  -d                     same as -o debug',
  '',
  'Stays in the foreground and logs to stdout; SIGTERM or SIGINT unmount cleanly (a second',
  'signal aborts the connection). Mounting needs root.',
  '',
].join('\n');
