// The metalogger's data folder, in the master's own layout (metadata.amd, .back.N generations,
// changelog.<firstVersion>.alog), so a master can start from it. This file owns what happens to
// the folder as a whole: recovery at start (the master's own replay), clearing it before a
// downloaded dump is installed, setting a history aside that the master does not share
// (bounded: SET_ASIDE_KEEP_MAX folders), and pruning old changelog files.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '@antlerfs/protocol';
import { listChangelogFiles, pruneChangelogFiles } from '../changelog.ts';
import type { Metadata } from '../metadata.ts';
import { DUMP_FILE, listDumps, oldestDumpVersion, readDumpVersion } from '../metadata-dump.ts';
import { RecoveryError, recoverMetadata } from '../replay.ts';

/** A dump being downloaded; the master's recovery does not look at this name. */
export const DOWNLOAD_FILE = 'metadata.amd.download';
const SET_ASIDE_PREFIX = 'set-aside.';
/** Set-aside folders kept; each may hold a whole dump, so older ones are removed. */
export const SET_ASIDE_KEEP_MAX = 2;
/** Written into a set-aside folder: why its files were taken out of the mirror. */
const SET_ASIDE_REASON_FILE = 'REASON';
const MIRROR_FILE_PATTERN = /^(metadata\.amd(\.[a-z0-9.]+)?|changelog\.\d+\.alog)$/;

export interface RecoveredFolder {
  /** The metadata at the newest version held, or null when the folder holds none. */
  metadata: Metadata | null;
  dumpVersion: number;
  replayedRecords: number;
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}

/**
 * Loads the newest valid dump and replays the changelog after it, exactly as a master would
 * (a torn last record is cut and reported). A folder that cannot be recovered is set aside:
 * the master can always send a fresh dump, so the metalogger starts over rather than stopping.
 */
export async function recoverFolder(
  dir: string, backMetaKeepPrevious: number, log: Logger,
): Promise<RecoveredFolder> {
  fs.mkdirSync(dir, { recursive: true });
  fs.rmSync(path.join(dir, DOWNLOAD_FILE), { force: true }); // a download cut short
  const none: RecoveredFolder = { metadata: null, dumpVersion: 0, replayedRecords: 0 };
  if (listDumps(dir).length === 0) {
    // Never let the master's recovery invent a new file system here: its root would not be
    // the master's.
    if (listChangelogFiles(dir).length > 0) {
      await setAside(dir, 'changelog files without a metadata dump', log);
    }
    return none;
  }
  try {
    const r = await recoverMetadata({
      dataPath: dir, defaultGoal: 1, defaultTrashtimeS: 0, backMetaKeepPrevious, log,
      nowMs: Date.now,
    });
    return { metadata: r.metadata, dumpVersion: r.dumpVersion, replayedRecords: r.replayedRecords };
  } catch (err) {
    if (!(err instanceof RecoveryError)) throw err;
    log.error('the mirrored metadata cannot be recovered: setting it aside and starting over ' +
      'from a fresh dump of the master', { reason: err.message });
    await setAside(dir, err.message, log);
    return none;
  }
}

/** Names of the dumps and changelog files in `dir` (not the lock, not set-aside folders). */
async function mirrorFiles(dir: string, except: string[]): Promise<string[]> {
  const names = await fsp.readdir(dir);
  return names.filter((n) => MIRROR_FILE_PATTERN.test(n) && !except.includes(n));
}

/** Deletes every dump and changelog file but `except` (a history the master's dump covers). */
export async function removeMirrorFiles(dir: string, except: string[] = []): Promise<number> {
  const names = await mirrorFiles(dir, except);
  for (const name of names) await fsp.unlink(path.join(dir, name));
  await syncDir(dir);
  return names.length;
}

/**
 * Moves every dump and changelog file but `except` into set-aside.<ms>/ with the reason, so a
 * history the master does not share is kept for an operator; only the newest
 * SET_ASIDE_KEEP_MAX such folders stay. Returns the folder's name, or null if nothing moved.
 */
export async function setAside(
  dir: string, reason: string, log: Logger, except: string[] = [],
): Promise<string | null> {
  const names = await mirrorFiles(dir, except);
  if (names.length === 0) return null;
  const stamp = Date.now();
  const taken = new Set(await fsp.readdir(dir));
  let name = `${SET_ASIDE_PREFIX}${stamp}`;
  for (let n = 1; taken.has(name); n++) name = `${SET_ASIDE_PREFIX}${stamp}-${n}`;
  const target = path.join(dir, name);
  await fsp.mkdir(target);
  await fsp.writeFile(path.join(target, SET_ASIDE_REASON_FILE), reason + '\n');
  for (const file of names) await fsp.rename(path.join(dir, file), path.join(target, file));
  await syncDir(target);
  await syncDir(dir);
  log.warn('files set aside', { folder: name, files: names.length, reason });
  const folders = (await fsp.readdir(dir)).filter((n) => n.startsWith(SET_ASIDE_PREFIX))
    .sort(bySetAsideTime);
  for (const old of folders.slice(0, Math.max(0, folders.length - SET_ASIDE_KEEP_MAX))) {
    await fsp.rm(path.join(dir, old), { recursive: true, force: true });
    log.info('old set-aside folder removed', { folder: old, keep: SET_ASIDE_KEEP_MAX });
  }
  return name;
}

/** Oldest first: set-aside.<ms>, then set-aside.<ms>-<n> made in the same millisecond. */
function bySetAsideTime(a: string, b: string): number {
  const key = (name: string): [number, number] => {
    const m = /^set-aside\.(\d+)(?:-(\d+))?$/.exec(name);
    return m === null ? [0, 0] : [Number(m[1]), Number(m[2] ?? 0)];
  };
  const [am, an] = key(a);
  const [bm, bn] = key(b);
  return am - bm || an - bn;
}

/**
 * Removes changelog files no kept dump needs (as the master does), then, while more than
 * `backLogs` remain, files that lie wholly before the newest dump. The newest file stays.
 */
export async function pruneMirror(dir: string, backLogs: number): Promise<string[]> {
  const oldest = await oldestDumpVersion(dir);
  if (oldest === null) return [];
  const removed = await pruneChangelogFiles(dir, oldest);
  const newest = readDumpVersion(path.join(dir, DUMP_FILE));
  if (newest === null) return removed;
  const files = listChangelogFiles(dir);
  for (let i = 0; files.length - i > backLogs && i + 1 < files.length; i++) {
    if (files[i + 1]!.firstVersion - 1 > newest) break; // the newest dump still needs it
    await fsp.unlink(files[i]!.path);
    removed.push(path.basename(files[i]!.path));
  }
  return removed;
}
