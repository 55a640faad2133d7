// Goal: antler-metarestore rebuilds metadata.amd at the final version of a master's folder
// (the master's own replay: newest dump + every record after it), in place, into another
// folder or only as a check that changes nothing; a torn tail is cut and reported; a flipped
// byte in the middle, a gap or a missing dump is refused naming the file, the version and what
// to do, with exit code 1. Method: a MetaStore on a temporary folder driven by a seeded random
// workload and abandoned without closing (a crash), then the function and the real binary.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Logger, setLogLevel } from '@antlerfs/protocol';
import { listChangelogFiles } from '../src/changelog.ts';
import { defaultMasterConfig } from '../src/config.ts';
import { MetaStore } from '../src/meta-store.ts';
import { DUMP_FILE, loadDump } from '../src/metadata-dump.ts';
import { RestoreError, restoreMetadata, type RestoreOptions } from '../src/restore.ts';
import {
  canonical, flipMidRecords, randomWorkload, removeTempDirs, seeded, tearChangelog, tempDir,
} from './helpers.ts';
import { BIN, runBin } from './metalogger-harness.ts';

setLogLevel('error');
const log = new Logger('test');
const crashed: MetaStore[] = [];

interface Crashed { dir: string; expected: string; version: number; dumpVersion: number }

/** A master folder after a crash: a dump at some version, then changelog records after it. */
async function crashedMaster(seed: number): Promise<Crashed> {
  const dir = tempDir('antler-restore-');
  const store = await MetaStore.open({
    config: defaultMasterConfig({ dataPath: dir }), log, onFatal: (err) => { throw err; },
  });
  crashed.push(store);
  await randomWorkload(store, 300, seeded(seed));
  await store.writeDump('test');
  const dumpVersion = store.version;
  await randomWorkload(store, 400, seeded(seed + 1));
  return { dir, expected: canonical(store.md), version: store.version, dumpVersion };
}

type RestoreOver = Partial<RestoreOptions> & { dataPath: string };

function restore(over: RestoreOver): ReturnType<typeof restoreMetadata> {
  return restoreMetadata({ outputPath: null, check: false, backMetaKeepPrevious: 3, log, ...over });
}

/** Every file of a folder with its bytes (to prove nothing changed). */
function snapshot(dir: string): Map<string, Buffer> {
  return new Map(fs.readdirSync(dir).map((n) => [n, fs.readFileSync(path.join(dir, n))]));
}

async function refused(opts: RestoreOver): Promise<string> {
  try {
    await restore(opts);
  } catch (err) {
    assert.instance(err, RestoreError);
    return (err as Error).message;
  }
  return assert.unreachable('the restore should have been refused') as never;
}

test('in place: a fresh dump at the final version, the previous one kept as .back', async () => {
  const m = await crashedMaster(1);
  const before = loadDump(path.join(m.dir, DUMP_FILE)).metadata.version;
  assert.is(before, m.dumpVersion);
  const report = await restore({ dataPath: m.dir });
  assert.is(report.mode, 'in-place');
  assert.is(report.dumpFile, DUMP_FILE);
  assert.is(report.dumpVersion, m.dumpVersion);
  assert.is(report.replayedRecords, m.version - m.dumpVersion);
  assert.is(report.finalVersion, m.version);
  assert.is(report.tornTail, null);
  assert.is(report.written, path.join(m.dir, DUMP_FILE));
  assert.ok(report.previousKept);
  assert.is(canonical(loadDump(path.join(m.dir, DUMP_FILE)).metadata), m.expected);
  const back = loadDump(path.join(m.dir, `${DUMP_FILE}.back.1`)).metadata;
  assert.is(back.version, m.dumpVersion, 'the previous dump is the first back generation');
  assert.not.ok(fs.existsSync(path.join(m.dir, '.lock')), 'the lock is released');
});

test('--check changes nothing; -o writes elsewhere and leaves the source as it was', async () => {
  const m = await crashedMaster(3);
  const last = listChangelogFiles(m.dir).at(-1)!.path;
  const end = tearChangelog(last, Buffer.from([0, 0, 0, 30, 7, 7])); // a torn tail
  const tornBytes = fs.statSync(last).size - end; // with the zeros after it
  const before = snapshot(m.dir);
  const check = await restore({ dataPath: m.dir, check: true });
  assert.is(check.mode, 'check');
  assert.is(check.finalVersion, m.version);
  assert.is(check.written, null);
  assert.is(check.tornTail?.bytes, tornBytes);
  assert.equal(snapshot(m.dir), before, 'the source is byte for byte unchanged');

  const out = path.join(tempDir('antler-restore-out-'), 'new');
  const report = await restore({ dataPath: m.dir, outputPath: out });
  assert.is(report.mode, 'output');
  assert.is(report.written, path.join(out, DUMP_FILE));
  assert.is(report.tornTail?.bytes, tornBytes);
  assert.equal(snapshot(m.dir), before, 'still unchanged');
  assert.equal(fs.readdirSync(out), [DUMP_FILE], 'only the dump (no scratch files left)');
  assert.is(canonical(loadDump(path.join(out, DUMP_FILE)).metadata), m.expected);

  const busy = tempDir('antler-restore-out-');
  fs.copyFileSync(last, path.join(busy, path.basename(last)));
  const message = await refused({ dataPath: m.dir, outputPath: busy });
  assert.match(message, /holds changelog files of its own/);
});

test('a torn tail is cut and reported; the binary prints what it did', async () => {
  const m = await crashedMaster(5);
  const last = listChangelogFiles(m.dir).at(-1)!.path;
  const end = tearChangelog(last, Buffer.from([0, 0, 0, 40, 1, 2, 3]));
  const tornBytes = fs.statSync(last).size - end;
  const r = runBin(BIN.metarestore, ['-d', m.dir]);
  assert.is(r.code, 0, r.stderr);
  assert.is(fs.statSync(last).size, end, 'cut back to the last whole record');
  assert.match(r.stdout,
    new RegExp(`torn tail\\s+${path.basename(last)}: ${tornBytes} bytes cut at offset ${end}`));
  assert.match(r.stdout, new RegExp(`dump\\s+metadata\\.amd at version ${m.dumpVersion}`));
  assert.match(r.stdout, new RegExp(`replayed\\s+${m.version - m.dumpVersion} records`));
  assert.match(r.stdout, new RegExp(`final version\\s+${m.version} `));
  assert.match(r.stdout, /written\s+\S+metadata\.amd \(\d+ bytes; the previous one kept/);
  assert.match(r.stdout, /time\s+\d+ ms/);
  assert.is(canonical(loadDump(path.join(m.dir, DUMP_FILE)).metadata), m.expected);
});

test('a flipped byte in the middle is refused naming the file and the version', async () => {
  const m = await crashedMaster(7);
  const file = listChangelogFiles(m.dir).at(-1)!.path;
  flipMidRecords(file);
  const before = snapshot(m.dir);
  const r = runBin(BIN.metarestore, ['-d', m.dir, '--check']);
  assert.is(r.code, 1);
  assert.is(r.stdout.includes('final version'), false);
  assert.match(r.stderr, new RegExp(`antler-metarestore: changelog corrupt: ${file}`));
  assert.match(r.stderr, /after version \d+/);
  assert.match(r.stderr, /Restore the file from a metalogger or a backup/);
  assert.match(r.stderr, /Nothing in .* was changed/);
  assert.equal(snapshot(m.dir), before);
  const inPlace = runBin(BIN.metarestore, ['-d', m.dir]);
  assert.is(inPlace.code, 1);
  const named = new RegExp(`changelog corrupt: ${file}: offset \\d+, after version`);
  assert.match(inPlace.stderr, named);
  assert.equal(snapshot(m.dir), before, 'nothing is written when the replay fails');
});

test('a gap and a folder without a dump are refused with what to do', async () => {
  const m = await crashedMaster(9);
  const files = listChangelogFiles(m.dir);
  assert.ok(files.length >= 2, 'the dump rotated the changelog');
  fs.rmSync(path.join(m.dir, DUMP_FILE)); // only the version-0 dump is left
  fs.rmSync(files[0]!.path);
  assert.match(await refused({ dataPath: m.dir, check: true }),
    /changelog gap: .*the records 1\.\.\d+ are missing\. Restore the missing changelog file/);
  const empty = tempDir('antler-restore-');
  fs.copyFileSync(files[1]!.path, path.join(empty, path.basename(files[1]!.path)));
  assert.match(await refused({ dataPath: empty }), /holds no metadata dump .*restore one from/);
  const r = runBin(BIN.metarestore, ['-d', path.join(empty, 'missing')]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /is not a folder/);
});

test('a folder a live daemon holds is not restored in place', async () => {
  const m = await crashedMaster(11);
  const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    fs.writeFileSync(path.join(m.dir, '.lock'), `${holder.pid}\n`);
    const message = await refused({ dataPath: m.dir });
    assert.match(message, new RegExp(`in use by a running daemon \\(pid ${holder.pid}`));
    assert.match(message, /stop it first, or restore to another folder with -o/);
    const check = await restore({ dataPath: m.dir, check: true });
    assert.is(check.sourceInUseByPid, holder.pid, 'a check says the folder is in use');
  } finally {
    holder.kill('SIGKILL');
  }
});

test('--help, --version and a missing -d', () => {
  const version = runBin(BIN.metarestore, ['--version']);
  assert.is(version.code, 0);
  assert.is(version.stdout.trim(), 'antler-metarestore 0.1.0');
  const help = runBin(BIN.metarestore, ['--help']);
  assert.is(help.code, 0);
  assert.match(help.stdout, /usage: antler-metarestore -d FOLDER \[-o OUTFOLDER\] \[--check\]/);
  const none = runBin(BIN.metarestore, []);
  assert.is(none.code, 1);
  assert.match(none.stderr, /-d FOLDER is required/);
});

test.after(removeTempDirs);
test.run();
