// Goal: start-up recovery gives back exactly the live state: dump + changelog replay after a
// crash (no clean stop), a torn tail cut off and reported, a corrupt newest dump replaced by
// an older generation, and refusals (mid-file corruption, a gap, a missing dump) that name
// the file and say what to do. Method: a MetaStore driven by a seeded random workload on a
// temporary DATA_PATH, abandoned without closing, then reopened.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Logger, ROOT_INODE } from '@antlerfs/protocol';
import { defaultMasterConfig } from '../src/config.ts';
import { listChangelogFiles } from '../src/changelog.ts';
import { MetaStore } from '../src/meta-store.ts';
import { serializeDump } from '../src/metadata-dump.ts';
import { RecoveryError } from '../src/replay.ts';
import {
  canonical, captureLog, flipMidRecords, randomWorkload, removeTempDirs, seeded, tearChangelog,
  tempDir,
} from './helpers.ts';

const log = new Logger('test');
/** Stores left open as if their process died; kept referenced so nothing closes them. */
const crashed: MetaStore[] = [];

function open(dataPath: string, backMetaKeepPrevious = 3): Promise<MetaStore> {
  const config = defaultMasterConfig({ dataPath, defaultGoal: 3, backMetaKeepPrevious });
  return MetaStore.open({ config, log, onFatal: (err) => { throw err; } });
}

async function refused(dataPath: string, pattern: RegExp): Promise<string> {
  try {
    await open(dataPath);
  } catch (err) {
    assert.instance(err, RecoveryError);
    assert.match((err as Error).message, pattern);
    return (err as Error).message;
  }
  return assert.unreachable('start-up should have been refused') as never;
}

test('empty DATA_PATH is a new file system with DEFAULT_GOAL', async () => {
  const dir = tempDir();
  const store = await open(path.join(dir, 'new'));
  assert.is(store.version, 0);
  assert.is(store.md.namespace.dir(ROOT_INODE).goal, 3);
  assert.ok(fs.existsSync(path.join(dir, 'new', 'metadata.amd')));
  await store.close();
});

test('crash after a dump: dump + replay equals the live state', async () => {
  const dir = tempDir();
  const live = await open(dir);
  await randomWorkload(live, 400, seeded(1));
  await live.writeDump('test');
  await randomWorkload(live, 400, seeded(2));
  const expected = canonical(live.md);
  assert.ok(live.md.namespace.inodes.size > 50, 'the workload built a tree');
  assert.ok(live.md.chunks.liveCount > 10, 'and chunks');
  // No close(): the process "dies" here. Every awaited change is already on disk.
  crashed.push(live);
  const again = await open(dir);
  assert.is(canonical(again.md), expected);
  // And after a clean stop the dump alone carries everything.
  await again.close();
  const third = await open(dir);
  assert.is(canonical(third.md), expected);
  await third.close();
});

test('a torn last record is cut off and reported; the rest replays', async () => {
  const dir = tempDir();
  const live = await open(dir);
  crashed.push(live);
  await randomWorkload(live, 200, seeded(3));
  const expected = canonical(live.md);
  const last = listChangelogFiles(dir).at(-1)!.path;
  const end = tearChangelog(last, Buffer.from([0, 0, 0, 40, 1, 2, 3]));
  const tornBytes = fs.statSync(last).size - end; // with the zeros after it
  let again: MetaStore | null = null;
  const lines = await captureLog(async () => { again = await open(dir); });
  assert.is(canonical(again!.md), expected);
  const reported = lines.some((l) => /torn last record cut off/.test(l) &&
    l.includes(`bytes=${tornBytes}`) && l.includes(`offset=${end}`));
  assert.ok(reported, 'reported in the log');
  assert.is(fs.statSync(last).size, end, 'the file was cut back');
  await again!.close();
});

test('a corrupt newest dump falls back to an older generation, saying so', async () => {
  const dir = tempDir();
  const live = await open(dir);
  crashed.push(live);
  await randomWorkload(live, 200, seeded(4));
  await live.writeDump('first');
  await randomWorkload(live, 200, seeded(5));
  await live.writeDump('second');
  await randomWorkload(live, 100, seeded(6));
  const expected = canonical(live.md);
  const dump = path.join(dir, 'metadata.amd');
  const bytes = fs.readFileSync(dump);
  bytes[bytes.length >> 1]! ^= 1;
  fs.writeFileSync(dump, bytes);
  let again: MetaStore | null = null;
  const lines = await captureLog(async () => { again = await open(dir); });
  assert.is(canonical(again!.md), expected);
  assert.ok(lines.some((l) => /dump unusable/.test(l) && /checksum mismatch/.test(l)));
  assert.ok(lines.some((l) => /using an older dump/.test(l) && /metadata\.amd\.back\.1/.test(l)));
  await again!.close();
});

test('an interrupted dump install (only the tmp file is new) completes on start', async () => {
  const dir = tempDir();
  const live = await open(dir);
  crashed.push(live);
  await randomWorkload(live, 100, seeded(7));
  await live.writeDump('x');
  const expected = canonical(live.md);
  // As if the process died between writing the tmp file and renaming it.
  fs.renameSync(path.join(dir, 'metadata.amd'), path.join(dir, 'metadata.amd.tmp'));
  const again = await open(dir);
  assert.is(canonical(again.md), expected);
  assert.ok(fs.existsSync(path.join(dir, 'metadata.amd')));
  assert.not.ok(fs.existsSync(path.join(dir, 'metadata.amd.tmp')));
  // A crash while writing a dump leaves half a tmp file: ignored, nothing lost.
  await randomWorkload(again, 100, seeded(13));
  const later = canonical(again.md);
  const newer = Buffer.concat(serializeDump(again.md, Date.now()).buffers);
  fs.writeFileSync(path.join(dir, 'metadata.amd.tmp'), newer.subarray(0, newer.length >> 1));
  crashed.push(again);
  let third: MetaStore | null = null;
  const lines = await captureLog(async () => { third = await open(dir); });
  assert.is(canonical(third!.md), later);
  assert.ok(lines.some((l) => /an unfinished dump is ignored/.test(l)));
  assert.not.ok(lines.some((l) => /using an older dump/.test(l)), 'no false alarm');
  assert.not.ok(fs.existsSync(path.join(dir, 'metadata.amd.tmp')));
  await third!.close();
});

test('corruption in the middle of the changelog stops start-up, naming the file', async () => {
  const dir = tempDir();
  const live = await open(dir);
  crashed.push(live);
  await randomWorkload(live, 200, seeded(8));
  const file = listChangelogFiles(dir).at(-1)!.path;
  flipMidRecords(file);
  const message = await refused(dir, /changelog corrupt/);
  assert.match(message, path.basename(file));
  assert.match(message, /after version \d+/);
  assert.match(message, /Restore the file/);
});

test('a missing changelog file (a version gap) stops start-up', async () => {
  const dir = tempDir();
  const live = await open(dir);
  crashed.push(live);
  await randomWorkload(live, 50, seeded(9)); // changelog.1.alog
  await live.writeDump('a'); // rotates to a second file
  await randomWorkload(live, 50, seeded(10));
  await live.writeDump('b'); // and a third
  await randomWorkload(live, 50, seeded(12));
  const files = listChangelogFiles(dir);
  assert.is(files.length, 3);
  // Only the oldest dump (the new file system, version 0) is left, and the middle file is lost.
  fs.rmSync(path.join(dir, 'metadata.amd'));
  fs.rmSync(path.join(dir, 'metadata.amd.back.1'));
  fs.rmSync(files[1]!.path);
  const message = await refused(dir, /changelog gap/);
  assert.match(message, path.basename(files[2]!.path));
  assert.match(message, /Restore the missing changelog file/);
});

test('no dump but changelog files: refused with what to do', async () => {
  const dir = tempDir();
  const live = await open(dir);
  crashed.push(live);
  await randomWorkload(live, 20, seeded(11));
  for (const f of fs.readdirSync(dir)) {
    if (f.startsWith('metadata.amd')) fs.rmSync(path.join(dir, f));
  }
  await refused(dir, /no metadata dump.*restore a dump/);
});

test.after(removeTempDirs);
test.run();
