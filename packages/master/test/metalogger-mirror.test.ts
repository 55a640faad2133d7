// Goal: the metalogger's mirror keeps the master's records byte for byte in the master's own
// layout, so its folder replays to exactly the master's metadata; it refuses records that do
// not follow or do not check; it cuts its own torn tail on open; groups never exceed the torn
// tail the master's recovery accepts; rotation, pruning and set-aside folders stay bounded; a
// record that does not apply stops it until it is reset. Method: a real MetaStore writes the
// records (seeded random workload); the mirror gets them as the master's feed sends them.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InodeType, Logger, setLogLevel } from '@antlerfs/protocol';
import {
  BATCH_BYTES_MAX, CHANGELOG_HEADER_BYTES, encodeRecord, listChangelogFiles, parseRecord,
} from '../src/changelog.ts';
import { defaultMasterConfig } from '../src/config.ts';
import { MetaStore } from '../src/meta-store.ts';
import { DUMP_FILE, loadDump } from '../src/metadata-dump.ts';
import { LogMirror, type LogMirrorSettings } from '../src/metalogger/log-mirror.ts';
import { DOWNLOAD_FILE, SET_ASIDE_KEEP_MAX } from '../src/metalogger/mirror-folder.ts';
import {
  canonical, captureLog, randomWorkload, removeTempDirs, seeded, tempDir,
} from './helpers.ts';

setLogLevel('error');
const log = new Logger('test');
/** Stores and mirrors left open as if their process died (kept referenced). */
const abandoned: unknown[] = [];

interface Master { store: MetaStore; dir: string }

async function masterWith(records: number, seed: number): Promise<Master> {
  const dir = tempDir('antler-mirror-master-');
  const store = await MetaStore.open({
    config: defaultMasterConfig({ dataPath: dir }), log, onFatal: (err) => { throw err; },
  });
  abandoned.push(store);
  await randomWorkload(store, records, seeded(seed));
  return { store, dir };
}

/** The raw records of versions from..to, read from a master's changelog files. */
function recordsOf(dir: string, from: number, to: number): Buffer[] {
  const out: Buffer[] = [];
  for (const file of listChangelogFiles(dir)) {
    const buf = fs.readFileSync(file.path);
    for (let o = CHANGELOG_HEADER_BYTES; ;) {
      const p = parseRecord(buf, o);
      if (!p.ok) break;
      if (p.version >= from && p.version <= to) out.push(buf.subarray(o, o + p.bytes));
      o += p.bytes;
    }
  }
  assert.is(out.length, to - from + 1, `records ${from}..${to} found`);
  return out;
}

const defaults: LogMirrorSettings = {
  changelogRotateRecords: 1_000_000, backLogs: 50, backMetaKeepPrevious: 3,
};

async function openMirror(dir: string, over: Partial<LogMirrorSettings> = {}): Promise<LogMirror> {
  const mirror = await LogMirror.open({
    dir, log, onFatal: (err) => { throw err; }, ...defaults, ...over,
  });
  abandoned.push(mirror);
  return mirror;
}

/** Installs the master's current dump into the mirror, as a download would. */
async function installMasterDump(master: Master, mirror: LogMirror): Promise<void> {
  await master.store.writeDump('test');
  const download = path.join(mirror.dir, DOWNLOAD_FILE);
  fs.copyFileSync(path.join(master.dir, DUMP_FILE), download);
  await mirror.replaceWithDump(loadDump(download).metadata, 'remove');
  assert.is(mirror.version, master.store.version);
}

/** A mirror on a new folder holding the master's dump at its current version. */
async function mirrorFrom(
  master: Master, over: Partial<LogMirrorSettings> = {},
): Promise<LogMirror> {
  const mirror = await openMirror(tempDir('antler-mirror-'), over);
  assert.is(mirror.version, 0, 'a new folder holds nothing');
  assert.not.ok(mirror.holdsMetadata);
  await installMasterDump(master, mirror);
  return mirror;
}

/** Feeds records (from `from` on) in messages of `per` records; returns the first refusal. */
async function feed(
  mirror: LogMirror, records: Buffer[], from: number, per: number, idleEach = false,
): Promise<string | null> {
  for (let i = 0; i < records.length; i += per) {
    const part = records.slice(i, i + per);
    const refused = mirror.accept(from + i, part.length, Buffer.concat(part));
    if (refused !== null) return refused;
    if (idleEach) await mirror.whenIdle();
  }
  await mirror.whenIdle();
  return null;
}

test('records are kept verbatim and the folder replays to the master\'s metadata', async () => {
  const master = await masterWith(200, 1);
  const mirror = await mirrorFrom(master);
  const from = mirror.version + 1;
  await randomWorkload(master.store, 600, seeded(2));
  const to = master.store.version;
  const records = recordsOf(master.dir, from, to);
  const acked: number[] = [];
  mirror.onDurable = (v) => acked.push(v);
  assert.is(await feed(mirror, records, from, 7), null);
  assert.is(mirror.version, to);
  assert.is(acked.at(-1), to, 'the last version is reported durable');
  assert.ok(acked.every((v, i) => i === 0 || v > acked[i - 1]!), 'in order');
  assert.is(canonical(mirror.metadata!), canonical(master.store.md), 'the same metadata');
  const mine = listChangelogFiles(mirror.dir);
  assert.is(mine.length, 1);
  assert.is(mine[0]!.firstVersion, from, 'named by its first record');
  const bytes = fs.readFileSync(mine[0]!.path);
  assert.ok(bytes.subarray(CHANGELOG_HEADER_BYTES).equals(Buffer.concat(records)), 'verbatim');
  await mirror.close();
  assert.ok(fs.existsSync(path.join(mirror.dir, 'metadata.amd.back.1')), 'a final dump');
  const reopened = await openMirror(mirror.dir);
  assert.is(reopened.version, to);
  assert.is(canonical(reopened.metadata!), canonical(master.store.md));
});

test('records that do not follow or do not check are refused, and nothing is kept', async () => {
  const master = await masterWith(100, 3);
  const empty = await openMirror(tempDir('antler-mirror-'));
  const from = master.store.version + 1;
  await randomWorkload(master.store, 50, seeded(4));
  const records = recordsOf(master.dir, from, master.store.version);
  assert.match(empty.accept(1, 1, records[0]!)!, /before any metadata dump/);
  const mirror = await mirrorFrom(master);
  await randomWorkload(master.store, 20, seeded(5));
  const next = mirror.version + 1;
  const good = recordsOf(master.dir, next, next + 2);
  const data = Buffer.concat(good);
  assert.match(mirror.accept(next + 1, 3, data)!, /start at version \d+, expected \d+/);
  assert.match(mirror.accept(next, 2, data)!, /bytes after the last record/);
  assert.match(mirror.accept(next, 3, data.subarray(0, data.length - 1))!, /cut short/);
  assert.match(mirror.accept(next, 1000, data)!, /cannot fit/);
  const flipped = Buffer.from(data);
  flipped[good[0]!.length + 12]! ^= 0x40;
  assert.match(mirror.accept(next, 3, flipped)!, /version \d+: record checksum mismatch/);
  assert.match(mirror.accept(next, 0, data)!, /keepalive with \d+ bytes/);
  assert.is(mirror.accept(next, 0, Buffer.alloc(0)), null, 'a keepalive');
  const outOfOrder = Buffer.concat([good[1]!, good[0]!, good[2]!]);
  assert.match(mirror.accept(next, 3, outOfOrder)!, /where \d+ was expected/);
  await mirror.whenIdle();
  assert.is(mirror.version, next - 1, 'nothing was kept');
  assert.is(listChangelogFiles(mirror.dir).length, 0, 'no file was started');
  assert.is(mirror.accept(next, 3, data), null, 'the good records are taken');
  await mirror.whenIdle();
  assert.is(mirror.version, next + 2);
});

test('a torn tail of its own last file is cut on open and reported', async () => {
  const master = await masterWith(100, 6);
  const mirror = await mirrorFrom(master);
  const from = mirror.version + 1;
  await randomWorkload(master.store, 300, seeded(7));
  const to = master.store.version;
  assert.is(await feed(mirror, recordsOf(master.dir, from, to), from, 50), null);
  // The process dies here (no close); the last write left part of a record behind.
  const last = listChangelogFiles(mirror.dir).at(-1)!.path;
  const size = fs.statSync(last).size;
  fs.appendFileSync(last, Buffer.from([0, 0, 0, 60, 9, 9, 9]));
  let reopened: LogMirror | null = null;
  setLogLevel('warn');
  const lines = await captureLog(async () => { reopened = await openMirror(mirror.dir); });
  setLogLevel('error');
  assert.is(reopened!.version, to, 'every whole record is still held');
  assert.is(fs.statSync(last).size, size, 'cut back to the last whole record');
  assert.ok(lines.some((l) => /torn last record cut off/.test(l)));
  assert.is(canonical(reopened!.metadata!), canonical(master.store.md));
});

test('a message larger than one batch is written in groups the recovery accepts', async () => {
  const master = await masterWith(10, 8);
  const mirror = await mirrorFrom(master);
  const from = mirror.version + 1;
  const target = 'x'.repeat(4000);
  for (let i = 0; i < 1200; i++) {
    await master.store.commit({
      kind: 'create', parent: 1, name: `s${i}`, inode: master.store.nextInode(),
      type: InodeType.SYMLINK, mode: 0o777, uid: 0, gid: 0, timeMs: 1_700_000_000_000 + i,
      target,
    }).durable;
  }
  const records = recordsOf(master.dir, from, master.store.version);
  const bytes = records.reduce((n, r) => n + r.length, 0);
  assert.ok(bytes > BATCH_BYTES_MAX, `${bytes} bytes in one message`);
  assert.is(await feed(mirror, records, from, records.length), null);
  assert.ok(mirror.stats.fsyncs >= 2, 'more than one group');
  assert.ok(mirror.stats.groupBytesMax <= BATCH_BYTES_MAX, 'no group beyond BATCH_BYTES_MAX');
  assert.is(canonical(mirror.metadata!), canonical(master.store.md));
});

test('files rotate by CHANGELOG_ROTATE_RECORDS; dumps prune them within BACK_LOGS', async () => {
  const master = await masterWith(50, 9);
  const mirror = await mirrorFrom(master, {
    changelogRotateRecords: 50, backLogs: 2, backMetaKeepPrevious: 3,
  });
  const from = mirror.version + 1;
  await randomWorkload(master.store, 300, seeded(10));
  const to = master.store.version;
  assert.is(await feed(mirror, recordsOf(master.dir, from, to), from, 10, true), null);
  const files = listChangelogFiles(mirror.dir);
  assert.is(files.length, Math.ceil((to - from + 1) / 50), 'a file per 50 records');
  await mirror.writeDump('test');
  const kept = listChangelogFiles(mirror.dir);
  assert.is(kept.length, 2, 'BACK_LOGS files kept');
  assert.is(kept.at(-1)!.path, files.at(-1)!.path, 'the newest stays');
  const reopened = await openMirror(mirror.dir);
  assert.is(reopened.version, to, 'the newest dump with what is kept holds everything');
  assert.is(canonical(reopened.metadata!), canonical(master.store.md));
});

test('a record that does not apply stops the mirror until it is reset', async () => {
  const master = await masterWith(50, 11);
  const mirror = await mirrorFrom(master);
  const next = mirror.version + 1;
  const reasons: string[] = [];
  mirror.onBroken = (reason) => reasons.push(reason);
  const bad = encodeRecord(next, { kind: 'unlink', parent: 1, name: 'no-such-entry', timeMs: 1 });
  assert.is(mirror.accept(next, 1, bad), null, 'it checks as a record');
  await mirror.whenIdle();
  assert.is(reasons.length, 1);
  assert.match(reasons[0]!, new RegExp(`version ${next} does not apply`));
  assert.is(mirror.version, next - 1, 'the version does not move past it');
  assert.match(mirror.accept(next + 1, 0, Buffer.alloc(0))!, /being reset/);
  await mirror.reset(mirror.broken!);
  assert.is(mirror.version, 0);
  assert.not.ok(mirror.holdsMetadata);
  const setAside = fs.readdirSync(mirror.dir).filter((n) => n.startsWith('set-aside.'));
  assert.is(setAside.length, 1);
  const reason = fs.readFileSync(path.join(mirror.dir, setAside[0]!, 'REASON'), 'utf8');
  assert.match(reason, /does not apply/);
  assert.ok(fs.readdirSync(path.join(mirror.dir, setAside[0]!)).includes(DUMP_FILE));
});

test('a download replaces the held files; set-aside folders stay bounded', async () => {
  const master = await masterWith(50, 12);
  const mirror = await mirrorFrom(master);
  for (let i = 0; i < SET_ASIDE_KEEP_MAX + 2; i++) {
    await randomWorkload(master.store, 20, seeded(20 + i));
    await installMasterDump(master, mirror);
    const names = fs.readdirSync(mirror.dir).filter((n) => !n.startsWith('set-aside.'));
    assert.equal(names.sort(), [DUMP_FILE], 'only the downloaded dump is held');
    await mirror.reset(`reason ${i}`);
  }
  const folders = fs.readdirSync(mirror.dir).filter((n) => n.startsWith('set-aside.'));
  assert.is(folders.length, SET_ASIDE_KEEP_MAX);
  const reasons = folders.map((f) => fs.readFileSync(path.join(mirror.dir, f, 'REASON'), 'utf8'));
  assert.equal(reasons.map((r) => r.trim()).sort(),
    [`reason ${SET_ASIDE_KEEP_MAX}`, `reason ${SET_ASIDE_KEEP_MAX + 1}`], 'the newest are kept');
});

test('changelog files without a dump are set aside at open: nothing is held', async () => {
  const master = await masterWith(30, 13);
  const dir = tempDir('antler-mirror-');
  for (const f of listChangelogFiles(master.dir)) {
    fs.copyFileSync(f.path, path.join(dir, path.basename(f.path)));
  }
  const mirror = await openMirror(dir);
  assert.is(mirror.version, 0);
  assert.is(listChangelogFiles(dir).length, 0);
  assert.is(fs.readdirSync(dir).filter((n) => n.startsWith('set-aside.')).length, 1);
});

test.after(removeTempDirs);
test.run();
