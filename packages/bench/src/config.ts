// antler-bench settings: the flag schema (parsed by protocol's loadConfig) and its resolution
// into BenchParams, the one object every limit and path reads. --quick only changes the
// defaults of values not given explicitly, so a quick run can still pick its own --size.
import path from 'node:path';
import { assert, ConfigError, type ConfigKey, type LoadedConfig } from '@antlerfs/protocol';

export const BENCH_VERSION = '0.1.0';

/** What --only may name, in the order they run. Limits first: paths print beside them. */
export const LIMIT_NAMES = ['raw-disk', 'loopback-tcp', 'checksum-speed'] as const;
export const PATH_NAMES = [
  'seq-write', 'seq-read', 'random-read', 'small-files', 'metadata-ops', 'cs-direct', 'fuse',
  's3-put-get', 'master-memory',
] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];
export type PathName = (typeof PATH_NAMES)[number];

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
/** Sizes a bench can ask for: from one write up to what fits a test disk. */
const SIZE_MAX_BYTES = 1024 * GIB;
/** Largest single write or read: one chunk. */
const IO_SIZE_MAX_BYTES = 64 * MIB;

/** Defaults of a full run and of a --quick smoke run. */
const FULL = { sizeBytes: GIB, metadataOps: 2000, loopbackBytes: GIB, checksumBytes: GIB,
  smallFiles: 2000, randomReads: 20_000 };
const QUICK = { sizeBytes: 64 * MIB, metadataOps: 200, loopbackBytes: 256 * MIB,
  checksumBytes: 256 * MIB, smallFiles: 200, randomReads: 2000 };

export const BENCH_SCHEMA: ConfigKey[] = [
  { key: 'MASTER', type: 'string', default: '',
    doc: 'use the cluster of this master (host:port) instead of starting one' },
  { key: 'SIZE', type: 'bytes', default: GIB,
    doc: 'file size of the sequential paths, e.g. 1G (quick: 64M)',
    min: 1, max: SIZE_MAX_BYTES },
  { key: 'IO_SIZE', type: 'bytes', default: MIB, doc: 'bytes per write and per read call, e.g. 1M',
    min: 4096, max: IO_SIZE_MAX_BYTES },
  { key: 'QUICK', type: 'bool', default: false, doc: 'small smoke run: 64 MiB files, few ops' },
  { key: 'ONLY', type: 'string', default: '',
    doc: `comma list of ${[...LIMIT_NAMES, ...PATH_NAMES].join(', ')}` },
  { key: 'OUT', type: 'string', default: '', doc: 'JSON result file [bench-results/<time>.json]' },
  { key: 'COMPARE', type: 'string', default: '', doc: 'earlier JSON result: print the change' },
  { key: 'METADATA_OPS', type: 'int', default: 0,
    doc: 'ops of each kind per metadata client [2000, quick 200]', min: 0, max: 1_000_000 },
  { key: 'METADATA_CLIENTS', type: 'string', default: '1,8',
    doc: 'concurrent metadata clients, one run per number' },
  { key: 'SMALL_FILES', type: 'int', default: 0,
    doc: 'files of 64 KiB of the small-files paths [2000, quick 200]', min: 0, max: 1_000_000 },
  { key: 'RANDOM_READS', type: 'int', default: 0,
    doc: '4 KiB random reads of the random-read paths [20000, quick 2000]', min: 0,
    max: 10_000_000 },
  { key: 'HTML', type: 'string', default: '', doc: 'also write an HTML report with charts' },
  { key: 'CHUNKSERVERS', type: 'int', default: 3, doc: 'chunkservers of the cluster it starts',
    min: 1, max: 9 },
  { key: 'PATH_TIMEOUT_S', type: 'int', default: 1800, doc: 'a limit or path taking longer fails',
    min: 1, max: 86_400, unit: 's' },
];

export interface BenchParams {
  /** host:port of an existing master, or null: start a cluster in a temporary folder. */
  master: string | null;
  chunkservers: number;
  sizeBytes: number;
  ioSizeBytes: number;
  quick: boolean;
  limits: LimitName[];
  paths: PathName[];
  metadataOpsPerClient: number;
  metadataClientCounts: number[];
  smallFiles: number;
  randomReads: number;
  loopbackBytes: number;
  checksumBytes: number;
  pathTimeoutMs: number;
  outFile: string;
  compareFile: string | null;
  /** HTML report to write, or null. */
  htmlFile: string | null;
}

export const LIMITS_NEEDED_BY: Record<PathName, LimitName[]> = {
  'seq-write': ['raw-disk'],
  'seq-read': ['raw-disk'],
  'random-read': ['raw-disk'],
  'small-files': ['raw-disk'],
  'metadata-ops': ['raw-disk'],
  'cs-direct': ['raw-disk'],
  'fuse': ['raw-disk'],
  's3-put-get': ['raw-disk'],
  'master-memory': [],
};

/** Limits and paths to run: all by default; --only picks, adding the limits its paths need. */
export function selectNames(only: string): { limits: LimitName[]; paths: PathName[] } {
  const names = only.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 0) return { limits: [...LIMIT_NAMES], paths: [...PATH_NAMES] };
  const known: readonly string[] = [...LIMIT_NAMES, ...PATH_NAMES];
  for (const n of names) {
    if (!known.includes(n)) {
      throw new ConfigError(`--only: unknown "${n}" (one of ${known.join(', ')})`);
    }
  }
  const paths = PATH_NAMES.filter((p) => names.includes(p));
  const wanted = new Set<string>(names);
  for (const p of paths) for (const l of LIMITS_NEEDED_BY[p]) wanted.add(l);
  // The cheap limits come along unless the list names limits itself.
  if (!LIMIT_NAMES.some((l) => names.includes(l))) {
    wanted.add('loopback-tcp');
    wanted.add('checksum-speed');
  }
  return { limits: LIMIT_NAMES.filter((l) => wanted.has(l)), paths };
}

function parseClientCounts(text: string): number[] {
  const counts = text.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (counts.length === 0 || counts.length > 8) {
    throw new ConfigError('--metadata-clients: give 1 to 8 numbers, e.g. 1,8');
  }
  for (const n of counts) {
    if (!Number.isInteger(n) || n < 1 || n > 64) {
      throw new ConfigError(`--metadata-clients: ${n} is not a client count in 1..64`);
    }
  }
  return counts;
}

function defaultOutFile(now: Date): string {
  const stamp = now.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  return path.join('bench-results', `${stamp}.json`);
}

/** Turns parsed flags into BenchParams; throws ConfigError on values that do not fit together. */
export function resolveParams(loaded: LoadedConfig, now: Date): BenchParams {
  const v = loaded.values;
  const quick = v.QUICK === true;
  const base = quick ? QUICK : FULL;
  const sizeBytes = loaded.source.SIZE === 'default' ? base.sizeBytes : Number(v.SIZE);
  const ioSizeBytes = Number(v.IO_SIZE);
  if (ioSizeBytes > sizeBytes) throw new ConfigError('--io-size is larger than --size');
  const master = String(v.MASTER);
  if (master !== '' && !/^[^:\s]+:\d{1,5}$/.test(master)) {
    throw new ConfigError(`--master: expected host:port, got "${master}"`);
  }
  const opsFlag = Number(v.METADATA_OPS);
  const { limits, paths } = selectNames(String(v.ONLY));
  const params: BenchParams = {
    master: master === '' ? null : master,
    chunkservers: Number(v.CHUNKSERVERS),
    sizeBytes,
    ioSizeBytes,
    quick,
    limits,
    paths,
    metadataOpsPerClient: opsFlag > 0 ? opsFlag : base.metadataOps,
    metadataClientCounts: parseClientCounts(String(v.METADATA_CLIENTS)),
    smallFiles: Number(v.SMALL_FILES) > 0 ? Number(v.SMALL_FILES) : base.smallFiles,
    randomReads: Number(v.RANDOM_READS) > 0 ? Number(v.RANDOM_READS) : base.randomReads,
    loopbackBytes: base.loopbackBytes,
    checksumBytes: base.checksumBytes,
    pathTimeoutMs: Number(v.PATH_TIMEOUT_S) * 1000,
    outFile: String(v.OUT) === '' ? defaultOutFile(now) : String(v.OUT),
    compareFile: String(v.COMPARE) === '' ? null : String(v.COMPARE),
    htmlFile: String(v.HTML) === '' ? null : String(v.HTML),
  };
  assert(params.sizeBytes >= params.ioSizeBytes, 'size holds at least one io');
  assert(params.metadataOpsPerClient > 0, 'metadata ops per client is positive');
  return params;
}
