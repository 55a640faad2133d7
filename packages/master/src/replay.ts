// Start-up recovery: load the newest valid dump (falling back to older generations, saying so)
// and replay every changelog record after its version. A torn last record is cut off and
// reported; a corrupt record in the middle or a version gap stops start-up with the file, the
// version and what to do. An empty DATA_PATH becomes a new file system. Runs before serving,
// so it uses synchronous file access.
import fs from 'node:fs';
import path from 'node:path';
import { FsError, type Logger } from '@antlerfs/protocol';
import { describeChange, type Change } from './change.ts';
import {
  CHANGELOG_HEADER_BYTES, ChangelogCorruptError, listChangelogFiles, scanChangelogFile,
  type ChangelogFile,
} from './changelog.ts';
import { Metadata } from './metadata.ts';
import {
  DUMP_TMP_FILE, installDump, listDumps, loadDump, serializeDump, writeDump,
} from './metadata-dump.ts';

export class RecoveryError extends Error {
  override name = 'RecoveryError';
}

export interface RecoveryOptions {
  dataPath: string;
  defaultGoal: number;
  defaultTrashtimeS: number;
  backMetaKeepPrevious: number;
  log: Logger;
  nowMs: () => number;
}

export interface Recovered {
  metadata: Metadata;
  newFileSystem: boolean;
  dumpVersion: number;
  replayedRecords: number;
}

export async function recoverMetadata(opts: RecoveryOptions): Promise<Recovered> {
  const dir = opts.dataPath;
  fs.mkdirSync(dir, { recursive: true });
  const dumps = listDumps(dir);
  const logs = listChangelogFiles(dir);
  if (dumps.length === 0) {
    if (logs.length > 0) {
      throw new RecoveryError(`${dir} holds changelog files but no metadata dump ` +
        `(metadata.amd or metadata.amd.back.N): restore a dump from a metalogger or a backup`);
    }
    const md = Metadata.fresh({
      timeMs: opts.nowMs(), goal: opts.defaultGoal, trashtimeS: opts.defaultTrashtimeS,
    });
    await writeDump(dir, serializeDump(md, opts.nowMs()), opts.backMetaKeepPrevious);
    opts.log.info('new file system created', {
      dataPath: dir, goal: opts.defaultGoal, clusterId: md.clusterId,
    });
    return { metadata: md, newFileSystem: true, dumpVersion: 0, replayedRecords: 0 };
  }
  const md = await loadNewestDump(dir, dumps.map((d) => d.path), opts);
  const dumpVersion = md.version;
  const replayed = replayChangelogs(md, logs, opts.log);
  removeEmptyTail(logs, md.version, opts.log);
  return { metadata: md, newFileSystem: false, dumpVersion, replayedRecords: replayed };
}

async function loadNewestDump(
  dir: string, candidates: string[], opts: RecoveryOptions,
): Promise<Metadata> {
  const problems: string[] = [];
  let skippedTmp = false;
  for (const file of candidates) {
    const t0 = performance.now();
    let loaded;
    try {
      loaded = loadDump(file);
    } catch (err) {
      const reason = (err as Error).message;
      problems.push(reason);
      if (path.basename(file) === DUMP_TMP_FILE) {
        // A crash while a dump was being written: the installed dumps are untouched.
        opts.log.info('an unfinished dump is ignored', { file, reason });
        skippedTmp = true;
      } else {
        opts.log.warn('metadata dump unusable: trying an older one', { file, reason });
      }
      continue;
    }
    opts.log.info('metadata dump loaded', {
      file: path.basename(file), version: loaded.metadata.version, records: loaded.records,
      inodes: loaded.metadata.namespace.inodes.size, ms: Math.round(performance.now() - t0),
    });
    if (problems.length > (skippedTmp ? 1 : 0)) {
      opts.log.warn('using an older dump than the newest: the changelog after it is replayed', {
        file: path.basename(file), version: loaded.metadata.version,
      });
    }
    if (path.basename(file) === DUMP_TMP_FILE) {
      // A crash between writing a dump and installing it: finish the install.
      await installDump(dir, file, opts.backMetaKeepPrevious);
      opts.log.info('completed the install of an interrupted dump', {
        version: loaded.metadata.version,
      });
    } else {
      fs.rmSync(path.join(dir, DUMP_TMP_FILE), { force: true });
    }
    return loaded.metadata;
  }
  throw new RecoveryError(`no usable metadata dump in ${dir}: ${problems.join('; ')}. ` +
    'Restore metadata.amd from a metalogger or a backup');
}

/** Replays every record after md.version; returns how many were applied. */
function replayChangelogs(md: Metadata, logs: ChangelogFile[], log: Logger): number {
  const t0 = performance.now();
  let applied = 0;
  let files = 0;
  for (let i = 0; i < logs.length; i++) {
    const file = logs[i]!;
    const next = logs[i + 1];
    if (next !== undefined && next.firstVersion - 1 <= md.version) continue; // all older
    files++;
    let result;
    try {
      result = scanChangelogFile(file.path, next === undefined, (version, change) => {
        if (version <= md.version) return;
        applyRecord(md, file.path, version, change);
        applied++;
      });
    } catch (err) {
      if (!(err instanceof ChangelogCorruptError)) throw err;
      throw new RecoveryError(`changelog corrupt: ${err.message}. Acknowledged changes ` +
        'after this point cannot be replayed. Restore the file from a metalogger or a ' +
        'backup; to start without the changes after this point, cut the file at that offset ' +
        'by hand');
    }
    if (result.tornAt !== null) cutTornTail(file.path, result.tornAt, result, log);
  }
  log.info('changelog replayed', {
    records: applied, files, metaVersion: md.version, ms: Math.round(performance.now() - t0),
  });
  return applied;
}

function applyRecord(md: Metadata, file: string, version: number, change: Change): void {
  if (version !== md.version + 1) {
    throw new RecoveryError(`changelog gap: ${file} holds version ${version} but the metadata is ` +
      `at ${md.version}; the records ${md.version + 1}..${version - 1} are missing. Restore the ` +
      'missing changelog file from a metalogger or a backup');
  }
  try {
    md.apply(version, change);
  } catch (err) {
    const reason = err instanceof FsError ? err.message : (err as Error).stack;
    throw new RecoveryError(`${file}: version ${version} does not apply to the metadata ` +
      `(${reason}; ${describeChange(change)}). The changelog does not belong to this dump: ` +
      'restore the matching dump and changelog files');
  }
}

function cutTornTail(
  file: string, at: number,
  r: { tornBytes: number; tornReason: string; lastVersion: number; zerosOnly: boolean },
  log: Logger,
): void {
  const fields = {
    file: path.basename(file), offset: at, bytes: r.tornBytes, lastVersion: r.lastVersion,
  };
  // Zeros written ahead of the records (the master stopped before cutting them), or a crash
  // during a write: that batch was never fsynced, so no client heard of it.
  if (r.zerosOnly) {
    log.info('changelog: zeros after the last record cut off', fields);
  } else {
    log.warn('changelog: torn last record cut off (never acknowledged)',
      { ...fields, reason: r.tornReason });
  }
  if (at < CHANGELOG_HEADER_BYTES) fs.rmSync(file);
  else fs.truncateSync(file, at);
}

/** Files that hold no record after the replay point are removed; the writer starts fresh. */
function removeEmptyTail(logs: ChangelogFile[], version: number, log: Logger): void {
  for (const f of logs) {
    if (f.firstVersion <= version || !fs.existsSync(f.path)) continue;
    log.info('removing an empty changelog file', { file: path.basename(f.path) });
    fs.rmSync(f.path);
  }
}
