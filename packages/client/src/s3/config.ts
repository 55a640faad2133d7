// antler-s3 settings: one schema drives the `KEY = VALUE` file (etc/antler-s3.cfg), the flags
// (--s3-listen-port <-> S3_LISTEN_PORT), --help and --print-config; s3ConfigFrom turns the
// parsed values into the typed S3Config every part of the gateway reads. Keys marked
// reloadable are applied again on SIGHUP (credentials and anonymous buckets).
import { PORT_MATOCL, type ConfigKey, type ConfigValues } from '@antlerfs/protocol';

export const S3_VERSION = '0.1.0';

export interface S3ConfigKey extends ConfigKey {
  /** A SIGHUP reload applies a new value of this key without a restart. */
  reloadable: boolean;
}

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
/** S3's own ceiling for one PUT (and one part). */
const BODY_LIMIT_BYTES = 5 * GIB;
/** S3's largest multipart upload has 10000 parts. */
const PARTS_LIMIT = 10_000;

export const S3_CONFIG_SCHEMA: S3ConfigKey[] = [
  { key: 'MASTER', type: 'string', default: `127.0.0.1:${PORT_MATOCL}`, reloadable: false,
    doc: 'The master (host:port, or several separated by commas) the gateway is a client of.' },
  { key: 'S3_LISTEN_HOST', type: 'string', default: '0.0.0.0', reloadable: false,
    doc: 'Address the HTTP listener binds to.' },
  { key: 'S3_LISTEN_PORT', type: 'int', default: 9000, min: 0, max: 65535, reloadable: false,
    doc: 'HTTP port of the gateway (0 picks a free port).' },
  { key: 'S3_ROOT', type: 'string', default: '/s3', reloadable: false,
    doc: 'Folder of the file system whose subfolders are the buckets.' },
  { key: 'S3_REGION', type: 'string', default: 'us-east-1', reloadable: false,
    doc: 'Region that signatures must name and GetBucketLocation reports.' },
  { key: 'S3_DOMAIN', type: 'string', default: '', reloadable: false,
    doc: 'Domain for virtual-host addressing (bucket.DOMAIN); empty: path style only.' },
  { key: 'S3_CREDENTIALS_FILE', type: 'string', default: '', reloadable: true,
    doc: 'File of "ACCESS_KEY SECRET_KEY" lines; empty: no signed request is accepted.' },
  { key: 'S3_ANONYMOUS_READ', type: 'string', default: '', reloadable: true,
    doc: 'Buckets (comma list) that unsigned requests may list and read.' },
  { key: 'S3_BODY_MAX_BYTES', type: 'bytes', default: BODY_LIMIT_BYTES, min: 1,
    max: BODY_LIMIT_BYTES, reloadable: false, unit: 'bytes',
    doc: 'Largest body of one PutObject or UploadPart; larger ones get EntityTooLarge.' },
  { key: 'S3_CONNECTIONS_MAX', type: 'int', default: 1024, min: 1, max: 65_536,
    reloadable: false, doc: 'Most HTTP connections open at once; more are closed at accept.' },
  { key: 'S3_PARTS_MAX', type: 'int', default: PARTS_LIMIT, min: 1, max: PARTS_LIMIT,
    reloadable: false, doc: 'Highest part number of a multipart upload.' },
  { key: 'S3_PART_MIN_BYTES', type: 'bytes', default: 5 * MIB, min: 0, max: BODY_LIMIT_BYTES,
    reloadable: false, unit: 'bytes',
    doc: 'Smallest part of a multipart upload but the last (S3: 5 MiB); else EntityTooSmall.' },
  { key: 'S3_FSYNC', type: 'bool', default: true, reloadable: false,
    doc: 'Sync every new object on the chunkservers before answering its PUT.' },
  { key: 'S3_WRITE_BEHIND_MAX_BYTES', type: 'bytes', default: 8 * MIB, min: MIB, max: GIB,
    reloadable: false, unit: 'bytes',
    doc: 'Bytes of one upload sent and not yet acknowledged before reading more of its body.' },
  { key: 'S3_IDLE_TIMEOUT_MS', type: 'int', default: 120_000, min: 1000, max: 3_600_000,
    reloadable: false, unit: 'ms', doc: 'A connection idle this long is closed.' },
];

export interface S3Config {
  master: string;
  listenHost: string;
  listenPort: number;
  /** Normalised absolute folder of the buckets, without a trailing slash. */
  root: string;
  region: string;
  domain: string;
  credentialsFile: string;
  anonymousReadBuckets: string[];
  bodyMaxBytes: number;
  connectionsMax: number;
  partsMax: number;
  partMinBytes: number;
  fsync: boolean;
  writeBehindMaxBytes: number;
  idleTimeoutMs: number;
}

function normalizeRoot(root: string): string {
  const parts = root.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new Error(`S3_ROOT ${root}: must not contain ".."`);
  return '/' + parts.join('/');
}

export function s3ConfigFrom(v: ConfigValues): S3Config {
  return {
    master: String(v.MASTER),
    listenHost: String(v.S3_LISTEN_HOST),
    listenPort: Number(v.S3_LISTEN_PORT),
    root: normalizeRoot(String(v.S3_ROOT)),
    region: String(v.S3_REGION),
    domain: String(v.S3_DOMAIN).toLowerCase().replace(/^\.+|\.+$/g, ''),
    credentialsFile: String(v.S3_CREDENTIALS_FILE),
    anonymousReadBuckets: String(v.S3_ANONYMOUS_READ).split(',').map((s) => s.trim())
      .filter((s) => s !== ''),
    bodyMaxBytes: Number(v.S3_BODY_MAX_BYTES),
    connectionsMax: Number(v.S3_CONNECTIONS_MAX),
    partsMax: Number(v.S3_PARTS_MAX),
    partMinBytes: Number(v.S3_PART_MIN_BYTES),
    fsync: v.S3_FSYNC === true,
    writeBehindMaxBytes: Number(v.S3_WRITE_BEHIND_MAX_BYTES),
    idleTimeoutMs: Number(v.S3_IDLE_TIMEOUT_MS),
  };
}

export function defaultS3Config(): S3Config {
  return s3ConfigFrom(Object.fromEntries(S3_CONFIG_SCHEMA.map((k) => [k.key, k.default])));
}
