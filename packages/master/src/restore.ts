// antler-metarestore's work, offline: the master's own recovery (src/replay.ts: newest valid
// dump, every changelog record after it with version continuity, a torn last record cut) run
// on a master's or a metalogger's folder, then a fresh metadata.amd at the final version
// (tmp + fsync + rename, the previous one kept as .back). With --check or an output folder the
// source folder is never changed: recovery runs on a scratch copy (hard links, and a real copy
// of the last changelog file, the only one recovery may cut).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Logger, takeLock, type ConfigKey, type LogFields, type Level } from '@antlerfs/protocol';
import { listChangelogFiles } from './changelog.ts';
import { DUMP_FILE, listDumps, serializeDump, writeDump } from './metadata-dump.ts';
import { RecoveryError, recoverMetadata } from './replay.ts';

export const RESTORE_OPTIONS_SCHEMA: ConfigKey[] = [
  {
    key: 'DATA_PATH', type: 'string', default: '',
    doc: 'Folder of a master or a metalogger to restore from (also -d).',
  },
  {
    key: 'OUTPUT_PATH', type: 'string', default: '',
    doc: 'Folder the fresh metadata.amd goes to (also -o); empty: DATA_PATH itself.',
  },
  {
    key: 'CHECK', type: 'bool', default: false,
    doc: 'Only load, replay and report; write and change nothing.',
  },
  {
    key: 'BACK_META_KEEP_PREVIOUS', type: 'int', default: 3, min: 0, max: 99,
    doc: 'Older dumps kept as metadata.amd.back.1..N where the fresh dump is written.',
  },
];

export class RestoreError extends Error {
  override name = 'RestoreError';
}

export interface RestoreOptions {
  dataPath: string;
  /** null or the same folder: restore in place. */
  outputPath: string | null;
  check: boolean;
  backMetaKeepPrevious: number;
  log: Logger;
}

export interface RestoreReport {
  mode: 'in-place' | 'output' | 'check';
  dataPath: string;
  /** The dump the replay started from (its name in DATA_PATH), when known. */
  dumpFile: string | null;
  dumpVersion: number;
  /** A newer dump was unusable and an older generation was used. */
  olderDumpUsed: boolean;
  changelogFiles: number;
  replayedRecords: number;
  finalVersion: number;
  inodes: number;
  tornTail: { file: string; offset: number; bytes: number; reason: string } | null;
  /** Another process holds DATA_PATH's lock: its newest records may still be arriving. */
  sourceInUseByPid: number | null;
  written: string | null;
  writtenBytes: number;
  /** The metadata.amd that was there before is now metadata.amd.back.1. */
  previousKept: boolean;
  ms: number;
}

/** Recovery's log lines are kept as well as printed: the report is built from them. */
class NotingLogger extends Logger {
  readonly events: { message: string; fields: LogFields }[] = [];
  override log(level: Level, message: string, fields?: LogFields): void {
    this.events.push({ message, fields: fields ?? {} });
    super.log(level, message, fields);
  }
}

/** The pid of a live process holding `dir`'s lock file, or null. */
export function lockHolder(dir: string): number | null {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(path.join(dir, '.lock'), 'utf8').trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

function lockForWriting(dir: string, what: string): () => void {
  const pid = lockHolder(dir);
  if (pid !== null) {
    throw new RestoreError(`${dir} is in use by a running daemon (pid ${pid}, lock file ` +
      `${path.join(dir, '.lock')}): stop it first${what}`);
  }
  return takeLock(dir, 'antler-metarestore');
}

/** Hard-links (or copies) the dumps and changelog files of `src` into `dst`. */
function populateScratch(src: string, dst: string): void {
  const logs = listChangelogFiles(src);
  const last = logs.at(-1);
  const names = [...listDumps(src).map((d) => d.path), ...logs.map((l) => l.path)];
  for (const file of names) {
    const target = path.join(dst, path.basename(file));
    if (file === last?.path) { // recovery may cut it: never through a shared inode
      fs.copyFileSync(file, target);
      continue;
    }
    try {
      fs.linkSync(file, target);
    } catch {
      fs.copyFileSync(file, target);
    }
  }
}

export async function restoreMetadata(opts: RestoreOptions): Promise<RestoreReport> {
  const t0 = performance.now();
  const dataPath = path.resolve(opts.dataPath);
  if (!fs.existsSync(dataPath) || !fs.statSync(dataPath).isDirectory()) {
    throw new RestoreError(`${dataPath} is not a folder`);
  }
  if (listDumps(dataPath).length === 0) {
    throw new RestoreError(`${dataPath} holds no metadata dump (metadata.amd or ` +
      'metadata.amd.back.N): restore one from a metalogger or a backup first');
  }
  const out = opts.outputPath === null ? dataPath : path.resolve(opts.outputPath);
  const mode = opts.check ? 'check' : out === dataPath ? 'in-place' : 'output';
  const releases: (() => void)[] = [];
  let scratch: string | null = null;
  try {
    let work = dataPath;
    if (mode === 'in-place') {
      releases.push(lockForWriting(dataPath, ', or restore to another folder with -o'));
    } else {
      if (mode === 'output') {
        fs.mkdirSync(out, { recursive: true });
        if (listChangelogFiles(out).length > 0) {
          throw new RestoreError(`${out} holds changelog files of its own: a master started ` +
            'there would replay them onto the restored metadata. Choose an empty folder');
        }
        releases.push(lockForWriting(out, ''));
      }
      const base = mode === 'check' ? os.tmpdir() : out;
      scratch = fs.mkdtempSync(path.join(base, '.antler-metarestore-'));
      populateScratch(dataPath, scratch);
      work = scratch;
    }
    return await restoreIn(opts, { dataPath, work, out, mode, t0 });
  } finally {
    if (scratch !== null) fs.rmSync(scratch, { recursive: true, force: true });
    for (const release of releases.reverse()) release();
  }
}

interface RestorePlace {
  dataPath: string;
  work: string;
  out: string;
  mode: RestoreReport['mode'];
  t0: number;
}

async function restoreIn(opts: RestoreOptions, place: RestorePlace): Promise<RestoreReport> {
  const { dataPath, work, out, mode } = place;
  const inUse = mode === 'in-place' ? null : lockHolder(dataPath);
  const log = new NotingLogger(opts.log.component);
  const changelogFiles = listChangelogFiles(work).length;
  const fromWork = (text: string): string =>
    work === dataPath ? text : text.split(work + path.sep).join(dataPath + path.sep);
  let recovered;
  try {
    recovered = await recoverMetadata({
      dataPath: work, defaultGoal: 1, defaultTrashtimeS: 0,
      backMetaKeepPrevious: opts.backMetaKeepPrevious, log, nowMs: Date.now,
    });
  } catch (err) {
    if (!(err instanceof RecoveryError)) throw err;
    const unchanged = mode === 'in-place' ? '' : ` Nothing in ${dataPath} was changed.`;
    throw new RestoreError(fromWork(err.message) + '.' + unchanged);
  }
  const md = recovered.metadata;
  const loaded = log.events.find((e) => e.message === 'metadata dump loaded');
  const torn = log.events.find((e) => /torn/.test(e.message));
  let written: string | null = null;
  let writtenBytes = 0;
  let previousKept = false;
  if (mode !== 'check') {
    previousKept = opts.backMetaKeepPrevious > 0 && fs.existsSync(path.join(out, DUMP_FILE));
    const dump = serializeDump(md, Date.now());
    await writeDump(out, dump, opts.backMetaKeepPrevious);
    written = path.join(out, DUMP_FILE);
    writtenBytes = dump.sizeBytes;
  }
  return {
    mode, dataPath,
    dumpFile: typeof loaded?.fields.file === 'string' ? loaded.fields.file : null,
    dumpVersion: recovered.dumpVersion,
    olderDumpUsed: log.events.some((e) => /older dump/.test(e.message)),
    changelogFiles, replayedRecords: recovered.replayedRecords, finalVersion: md.version,
    inodes: md.namespace.inodes.size,
    tornTail: torn === undefined ? null : {
      file: String(torn.fields.file), offset: Number(torn.fields.offset),
      bytes: Number(torn.fields.bytes), reason: String(torn.fields.reason),
    },
    sourceInUseByPid: inUse, written, writtenBytes, previousKept,
    ms: Math.round(performance.now() - place.t0),
  };
}

/** The lines antler-metarestore (or `program`) prints about what it did. */
export function formatRestoreReport(r: RestoreReport, program = 'antler-metarestore'): string {
  const done = r.mode === 'check' ? 'checked' : 'restored';
  const into = r.mode === 'output' && r.written !== null ? ` into ${path.dirname(r.written)}` : '';
  const lines = [`${program}: ${done} ${r.dataPath}${into}`];
  const row = (k: string, v: string): void => { lines.push(`  ${k.padEnd(15)} ${v}`); };
  if (r.sourceInUseByPid !== null) {
    row('note', `the folder is in use by pid ${r.sourceInUseByPid}: its newest records may ` +
      'still be being written');
  }
  row('dump', `${r.dumpFile ?? '?'} at version ${r.dumpVersion}` +
    (r.olderDumpUsed ? ' (a newer dump was unusable: an older generation was used)' : ''));
  row('replayed',
    `${r.replayedRecords} records (${r.changelogFiles} changelog files in the folder)`);
  if (r.tornTail !== null) {
    const t = r.tornTail;
    row('torn tail', `${t.file}: ${t.bytes} bytes cut at offset ${t.offset} (${t.reason}); ` +
      'that batch was never acknowledged');
  } else {
    row('torn tail', 'none');
  }
  row('final version', `${r.finalVersion} (${r.inodes} inodes)`);
  row('written', r.written === null
    ? 'nothing (--check)'
    : `${r.written} (${r.writtenBytes} bytes` +
      `${r.previousKept ? '; the previous one kept as metadata.amd.back.1' : ''})`);
  row('time', `${r.ms} ms`);
  return lines.join('\n') + '\n';
}
