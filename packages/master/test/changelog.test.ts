// Goal: changelog records survive a round trip through real files with group commit; a torn
// last record is reported as such, while damage in the middle, in a non-last file, or a
// version gap is refused with the file and offset named. A change made for a retrying client
// keeps its origin through the record. The writer keeps zeros ahead of its records (cut at
// rotation and close), which a scan takes for the end. Method: real files in a temp folder.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AssertionError, Logger } from '@antlerfs/protocol';
import { ORIGIN_KIND, decodeChange, describeChange, type Change } from '../src/change.ts';
import {
  ChangelogCorruptError, ChangelogWriter, PREPARE_BYTES, RECORD_HEAD_BYTES, encodeRecord,
  listChangelogFiles, parseRecord, peekRecord, pruneChangelogFiles, scanChangelogFile,
  type ScanResult,
} from '../src/changelog.ts';

const log = new Logger('test');
const dirs: string[] = [];
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'antler-changelog-'));
  dirs.push(d);
  return d;
}

function change(i: number): Change {
  switch (i % 3) {
    case 0: return {
      kind: 'create', parent: 1, name: `f${i}`, inode: i + 2, type: 1, mode: 0o644, uid: 0, gid: 0,
      timeMs: 1e12 + i, target: '',
    };
    case 1:
      return { kind: 'writeChunk', inode: 2, chunkIndex: i, chunkId: 2 ** 40 + i, version: 1 };
    default: return {
      kind: 'rename', srcParent: 1, srcName: 'ä', dstParent: 1, dstName: `r${i}`, timeMs: i,
    };
  }
}

interface ReadBack { versions: number[]; changes: Change[]; result: ScanResult }

function readAll(file: string, isLast: boolean): ReadBack {
  const versions: number[] = [];
  const changes: Change[] = [];
  const result = scanChangelogFile(file, isLast, (v, c) => { versions.push(v); changes.push(c); });
  return { versions, changes, result };
}

async function writeRecords(dir: string, count: number): Promise<ChangelogWriter> {
  const w = await ChangelogWriter.open({
    dir, firstVersion: 1, batchRecordsMax: 64, log, onFatal: (e) => { throw e; },
  });
  const done: Promise<void>[] = [];
  for (let i = 0; i < count; i++) done.push(w.append(i + 1, change(i)));
  await Promise.all(done);
  return w;
}

test('an origin goes through a record; malformed origin prefixes are refused', () => {
  const withOrigin: Change = {
    kind: 'unlink', parent: 1, name: 'x', timeMs: 5,
    origin: { clientId: 0xfedcba9876543210n, requestId: 0xffffffff },
  };
  const record = encodeRecord(7, withOrigin);
  const parsed = parseRecord(record, 0);
  assert.ok(parsed.ok);
  assert.equal(parsed.ok && parsed.change, withOrigin);
  assert.equal(peekRecord(record, 0), { ok: true, version: 7, bytes: record.length });
  assert.match(describeChange(withOrigin), /origin=fedcba9876543210:4294967295/);
  const plain = encodeRecord(7, { kind: 'unlink', parent: 1, name: 'x', timeMs: 5 });
  assert.is(record.length - plain.length, 13, 'kind:8 clientId:64 requestId:32');
  const change = record.subarray(RECORD_HEAD_BYTES + 8);
  assert.is(change[0], ORIGIN_KIND);
  const nested = Buffer.concat([change.subarray(0, 13), change]);
  assert.match((decodeChange(nested) as { invalid: string }).invalid, /repeated/);
  assert.match((decodeChange(change.subarray(0, 10)) as { invalid: string }).invalid, /short/);
});

test('round trip with group commit and bounded batches', async () => {
  const dir = tempDir();
  const w = await writeRecords(dir, 1000);
  const stats = w.snapshotStats();
  assert.is(stats.durableVersion, 1000);
  assert.ok(stats.fsyncs < 1000, `many records per fsync (${stats.fsyncs} fsyncs)`);
  assert.ok(stats.batchRecordsMax <= 64, 'a batch never exceeds its bound');
  await w.close();
  const { versions, changes, result } = readAll(path.join(dir, 'changelog.1.alog'), true);
  assert.equal(versions, Array.from({ length: 1000 }, (_, i) => i + 1));
  assert.equal(changes, Array.from({ length: 1000 }, (_, i) => change(i)));
  assert.is(result.tornAt, null);
});

test('a lone record is written on the main thread while the disk is fast', async () => {
  for (const inlineWriteMsMax of [1000, -1]) {
    const dir = tempDir();
    const w = await ChangelogWriter.open({
      dir, firstVersion: 1, batchRecordsMax: 64, log, onFatal: (e) => { throw e; },
      inlineWriteMsMax,
    });
    for (let i = 0; i < 20; i++) await w.append(i + 1, change(i));
    // Appended together: one batch of many records, written in the pool whatever the disk.
    await Promise.all(Array.from({ length: 30 }, (_, i) => w.append(21 + i, change(20 + i))));
    const stats = w.snapshotStats();
    assert.is(stats.durableVersion, 50);
    assert.is(stats.inlineWrites, inlineWriteMsMax > 0 ? 20 : 0, `limit ${inlineWriteMsMax} ms`);
    await w.close();
    const { versions, changes, result } = readAll(path.join(dir, 'changelog.1.alog'), true);
    assert.equal(versions, Array.from({ length: 50 }, (_, i) => i + 1));
    assert.equal(changes, Array.from({ length: 50 }, (_, i) => change(i)));
    assert.is(result.tornAt, null);
  }
});

test('append asserts the next version; whenDurable waits for the fsync', async () => {
  const dir = tempDir();
  const w = await ChangelogWriter.open({
    dir, firstVersion: 5, batchRecordsMax: 8, log, onFatal: () => {},
  });
  assert.throws(() => w.append(6, change(0)), (e: unknown) => e instanceof AssertionError);
  const p = w.append(5, change(0));
  assert.is(w.durableVersion, 4, 'not durable before the fsync');
  await w.whenDurable(5);
  assert.is(w.durableVersion, 5);
  await p;
  await w.close();
});

test('rotation starts a new file at the next version; prune keeps what a dump needs', async () => {
  const dir = tempDir();
  const w = await writeRecords(dir, 10);
  await w.rotate();
  await Promise.all([11, 12, 13].map((v) => w.append(v, change(v))));
  await w.rotate();
  await w.close();
  assert.equal(listChangelogFiles(dir).map((f) => f.firstVersion), [1, 11, 14]);
  assert.equal(readAll(path.join(dir, 'changelog.11.alog'), false).versions, [11, 12, 13]);
  assert.equal(await pruneChangelogFiles(dir, 10), ['changelog.1.alog']);
  assert.equal(await pruneChangelogFiles(dir, 12), [], 'a file with a record after 12 stays');
  assert.equal(await pruneChangelogFiles(dir, 13), ['changelog.11.alog']);
  assert.equal(listChangelogFiles(dir).map((f) => f.firstVersion), [14], 'the newest file stays');
});

test('zeros are kept ahead of the records, cut at rotation and close, and end a scan', async () => {
  const dir = tempDir();
  const w = await writeRecords(dir, 200);
  const first = path.join(dir, 'changelog.1.alog');
  const recordsEnd = (file: string): number => {
    const { result } = readAll(file, true);
    return result.tornAt ?? fs.statSync(file).size;
  };
  // While the writer runs, the file is longer than its records, and only zeros follow them.
  const end = recordsEnd(first);
  const whileOpen = fs.readFileSync(first);
  assert.ok(whileOpen.length >= end + PREPARE_BYTES / 2, `zeros ahead (${whileOpen.length})`);
  assert.ok(whileOpen.subarray(end).every((b) => b === 0));
  const scanned = readAll(first, false); // even in a file that is not the last one
  assert.equal(scanned.versions, Array.from({ length: 200 }, (_, i) => i + 1));
  assert.ok(scanned.result.zerosOnly, 'the zeros are not taken for a torn write');
  // A run longer than the zeros prepared: records go on past them, in order.
  const many = Math.ceil(3 * PREPARE_BYTES / encodeRecord(1, change(0)).length);
  await Promise.all(Array.from({ length: many }, (_, i) => w.append(201 + i, change(i))));
  await w.rotate();
  assert.is(fs.statSync(first).size, recordsEnd(first), 'rotation cut the zeros');
  assert.equal(readAll(first, false).versions.length, 200 + many);
  await w.append(201 + many, change(1));
  await w.close();
  const second = path.join(dir, `changelog.${201 + many}.alog`);
  assert.is(fs.statSync(second).size, recordsEnd(second), 'close cut the zeros');
  assert.equal(readAll(second, true).versions, [201 + many]);
});

test('a torn last record is reported, not refused', async () => {
  const dir = tempDir();
  const w = await writeRecords(dir, 20);
  await w.close();
  const file = path.join(dir, 'changelog.1.alog');
  const goodSize = fs.statSync(file).size;
  const partial = encodeRecord(21, change(21)).subarray(0, 13);
  fs.appendFileSync(file, partial);
  let r = readAll(file, true);
  assert.is(r.versions.length, 20);
  assert.is(r.result.tornAt, goodSize);
  assert.is(r.result.tornBytes, 13);
  // A whole-length record whose bytes did not all land (zeros) is torn too.
  fs.truncateSync(file, goodSize);
  const zeroed = encodeRecord(21, change(21));
  zeroed.fill(0, 10);
  fs.appendFileSync(file, zeroed);
  r = readAll(file, true);
  assert.is(r.result.tornAt, goodSize);
  assert.match(r.result.tornReason, /checksum/);
  // A header cut short in a new last file.
  const empty = path.join(dir, 'changelog.21.alog');
  fs.writeFileSync(empty, Buffer.from('ANTL'));
  assert.is(readAll(empty, true).result.tornAt, 0);
});

test('damage mid-file, in a non-last file, or a gap is refused with file and offset', async () => {
  const dir = tempDir();
  const w = await writeRecords(dir, 50);
  await w.close();
  const file = path.join(dir, 'changelog.1.alog');
  const bytes = fs.readFileSync(file);
  const damaged = Buffer.from(bytes);
  damaged[Math.floor(bytes.length / 2)]! ^= 0x40;
  fs.writeFileSync(file, damaged);
  assert.throws(() => readAll(file, true),
    (e: unknown) => e instanceof ChangelogCorruptError &&
      /changelog\.1\.alog: offset \d+/.test(e.message) &&
      /corruption in the middle/.test(e.message));
  fs.writeFileSync(file, Buffer.concat([bytes, encodeRecord(51, change(51)).subarray(0, 9)]));
  assert.throws(() => readAll(file, false), (e: unknown) => e instanceof ChangelogCorruptError &&
    /not the last changelog file/.test(e.message));
  fs.writeFileSync(file, Buffer.concat([bytes, encodeRecord(53, change(53))]));
  assert.throws(() => readAll(file, true), (e: unknown) => e instanceof ChangelogCorruptError &&
    /version 53 where 51 was expected/.test(e.message));
});

test.after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

test.run();
