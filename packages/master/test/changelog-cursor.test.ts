// Goal: the cursor gives back the changelog's records byte for byte from any version, across
// file rotations, in frames bounded by bytes; records removed by pruning or damaged on disk
// end it with a reason; zeros after a file's records (the writer's, left by a crash) end that
// file. Method: a ChangelogWriter writing three files in a temp folder.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InodeType, Logger, setLogLevel } from '@antlerfs/protocol';
import type { Change } from '../src/change.ts';
import { ChangelogCursor } from '../src/changelog-cursor.ts';
import {
  CHANGELOG_HEADER_BYTES, ChangelogWriter, RECORD_MAX_BYTES, listChangelogFiles, peekRecord,
} from '../src/changelog.ts';
import { removeTempDirs, tempDir } from './helpers.ts';

setLogLevel('warn');
const log = new Logger('test');
const RECORDS = 300;

function change(i: number): Change {
  const origin = i % 2 === 0 ? { clientId: BigInt(i), requestId: i } : undefined;
  return {
    kind: 'create', parent: 1, name: `file-${i}-${'x'.repeat(i % 50)}`, inode: i + 2,
    type: InodeType.FILE, mode: 0o644, uid: 0, gid: 0, timeMs: 1e12 + i, target: '', origin,
  };
}

/** Versions 1..RECORDS in three files (rotations after 100 and 200). */
async function threeFiles(dir: string): Promise<void> {
  const w = await ChangelogWriter.open({
    dir, firstVersion: 1, batchRecordsMax: 16, log, onFatal: (e) => { throw e; },
  });
  for (let v = 1; v <= RECORDS; v++) {
    const durable = w.append(v, change(v));
    if (v % 100 === 0 && v < RECORDS) {
      await durable;
      await w.rotate();
    }
  }
  await w.close();
}

/** Every record's bytes on disk, by version. */
function recordsOnDisk(dir: string): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (const f of listChangelogFiles(dir)) {
    const body = fs.readFileSync(f.path).subarray(CHANGELOG_HEADER_BYTES);
    for (let o = 0, i = 0; o < body.length && i < RECORDS && body.readUInt32BE(o) !== 0; i++) {
      const r = peekRecord(body, o);
      assert.ok(r.ok);
      if (!r.ok) break;
      out.set(r.version, body.subarray(o, o + r.bytes));
      o += r.bytes;
    }
  }
  return out;
}

test('from any version, across rotations, in bounded frames, byte for byte', async () => {
  for (const zeros of [false, true]) await readEverywhere(zeros);
});

/**
 * Reads the three files from several versions; with `zeros`, each file holds zeros after its
 * records, as the writer leaves them when the process dies before cutting them.
 */
async function readEverywhere(zeros: boolean): Promise<void> {
  const dir = tempDir();
  await threeFiles(dir);
  assert.equal(listChangelogFiles(dir).map((f) => f.firstVersion), [1, 101, 201]);
  const files = zeros ? listChangelogFiles(dir) : [];
  for (const f of files) fs.appendFileSync(f.path, Buffer.alloc(70_000));
  const disk = recordsOnDisk(dir);
  assert.is(disk.size, RECORDS);
  for (const from of [1, 100, 101, 150, 299, 300]) {
    const cursor = new ChangelogCursor(dir, from);
    const got: Buffer[] = [];
    let frames = 0;
    for (; cursor.next <= RECORDS && frames < 10_000; frames++) {
      const r = await cursor.read(RECORDS, 2000);
      assert.ok(!('gone' in r), `from ${from}`);
      if ('gone' in r) break;
      assert.is(r.firstVersion + r.count, cursor.next);
      assert.ok(r.bytes < 2000 + RECORD_MAX_BYTES, 'a frame is bounded');
      got.push(...r.buffers);
    }
    await cursor.close();
    const expected = [...disk.entries()].filter(([v]) => v >= from).map(([, b]) => b);
    assert.ok(Buffer.concat(got).equals(Buffer.concat(expected)), `from ${from}`);
    if (from === 1) assert.ok(frames > 3, 'several frames');
  }
  const upTo = new ChangelogCursor(dir, 10);
  const part = await upTo.read(20, 1 << 20);
  assert.ok(!('gone' in part) && part.count === 11, 'stops at the version asked for');
  await upTo.close();
}

test('pruned or damaged records end the cursor with a reason', async () => {
  const dir = tempDir();
  await threeFiles(dir);
  const [first, second] = listChangelogFiles(dir);
  fs.rmSync(first!.path);
  const pruned = await new ChangelogCursor(dir, 50).read(RECORDS, 1 << 20);
  assert.ok('gone' in pruned && /no changelog file holds version 50/.test(pruned.gone));
  const bytes = fs.readFileSync(second!.path);
  bytes[CHANGELOG_HEADER_BYTES + 500]! ^= 0x10;
  fs.writeFileSync(second!.path, bytes);
  const damaged = new ChangelogCursor(dir, 101);
  const r = await damaged.read(RECORDS, 1 << 20);
  assert.ok('gone' in r, 'a damaged record is never sent');
  assert.match((r as { gone: string }).gone, new RegExp(path.basename(second!.path)));
  await damaged.close();
});

test.after(removeTempDirs);
test.run();
