// Goal: a changelog whose last record is torn at any offset (a crash in the middle of a write)
// starts up by itself: the torn record is cut and reported, and the state is exactly the one
// before that record. Method: a seeded workload on a MetaStore left open as if its process
// died; copies of its folder have the last file truncated at random offsets inside the last
// record (or zeroed from there, as when the write was torn inside the zeros the writer keeps
// ahead of its records); each copy is opened and compared with a copy cut exactly at the
// record's start. The folder copied whole, zeros and all, opens with every change.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Logger } from '@antlerfs/protocol';
import { defaultMasterConfig } from '../src/config.ts';
import { CHANGELOG_HEADER_BYTES, RECORD_HEAD_BYTES, listChangelogFiles } from '../src/changelog.ts';
import { MetaStore } from '../src/meta-store.ts';
import { canonical, captureLog, randomWorkload, removeTempDirs, seeded, tempDir } from './helpers.ts';

const log = new Logger('test');
const crashed: MetaStore[] = [];
const TEAR_TRIALS = 12;

function open(dataPath: string): Promise<MetaStore> {
  const config = defaultMasterConfig({ dataPath, defaultGoal: 2 });
  return MetaStore.open({ config, log, onFatal: (err) => { throw err; } });
}

/**
 * Where the last record of a changelog file starts and where the records end, walking the size
 * fields up to the zeros the writer keeps ahead of its records.
 */
function lastRecord(bytes: Buffer): { start: number; end: number } {
  let o = CHANGELOG_HEADER_BYTES;
  let last = -1;
  while (o + RECORD_HEAD_BYTES <= bytes.length && bytes.readUInt32BE(o) !== 0) {
    last = o;
    o += RECORD_HEAD_BYTES + bytes.readUInt32BE(o);
  }
  assert.ok(last >= 0 && o <= bytes.length, 'the records end inside the file');
  assert.ok(bytes.subarray(o).every((b) => b === 0), 'only zeros follow the records');
  return { start: last, end: o };
}

/**
 * A copy of the folder whose last changelog file is cut at `cutAt`, or, with `zeroFrom`, keeps
 * its length and holds zeros from there on (a write torn inside the zeros written ahead).
 */
function copyWithLastFileCut(src: string, cutAt: number, zeroFrom = false): string {
  const dst = tempDir('antler-tear-');
  for (const name of fs.readdirSync(src)) {
    if (name === '.lock') continue;
    fs.copyFileSync(path.join(src, name), path.join(dst, name));
  }
  const last = listChangelogFiles(dst).at(-1)!.path;
  if (zeroFrom) {
    const size = fs.statSync(last).size;
    const fd = fs.openSync(last, 'r+');
    fs.writeSync(fd, Buffer.alloc(size - cutAt), 0, size - cutAt, cutAt);
    fs.closeSync(fd);
  } else {
    fs.truncateSync(last, cutAt);
  }
  return dst;
}

test('a last record torn at random offsets is cut and reported; nothing else is lost', async () => {
  const dir = tempDir();
  const live = await open(dir);
  crashed.push(live);
  await randomWorkload(live, 300, seeded(17));
  await new Promise((r) => setTimeout(r, 50)); // let the last group commit reach the file
  const lastFile = listChangelogFiles(dir).at(-1)!.path;
  const bytes = fs.readFileSync(lastFile);
  const { start, end } = lastRecord(bytes);
  assert.ok(bytes.length > end, 'the writer keeps zeros ahead of its records');
  const clean = await open(copyWithLastFileCut(dir, start));
  const expected = canonical(clean.md);
  const expectedVersion = clean.md.version;
  await clean.close();
  assert.is(expectedVersion, live.md.version - 1, 'the cut copy lacks exactly the last change');
  const rnd = seeded(5);
  for (let i = 0; i < TEAR_TRIALS; i++) {
    const cut = start + 1 + Math.floor(rnd() * (end - start - 1));
    const copy = copyWithLastFileCut(dir, cut, i % 2 === 1);
    let store: MetaStore | null = null;
    const lines = await captureLog(async () => { store = await open(copy); });
    const opened = store as MetaStore | null;
    assert.ok(opened !== null, `started with the file cut at ${cut}`);
    assert.is(opened.md.version, expectedVersion, `version after a cut at ${cut}`);
    assert.is(canonical(opened.md), expected, `state after a cut at ${cut}`);
    assert.ok(lines.some((l) => /torn last record cut off/.test(l)), `cut at ${cut} is reported`);
    await opened.close();
  }
  // Whole, with the zeros still after it (the process died before cutting them): every
  // change is there, and the zeros go without a word of a torn record.
  let whole: MetaStore | null = null;
  const lines = await captureLog(async () => { whole = await open(copyWithLastFileCut(dir, end,
    true)); });
  const opened = whole as MetaStore | null;
  assert.ok(opened !== null);
  assert.is(opened.md.version, live.md.version);
  assert.is(canonical(opened.md), canonical(live.md));
  assert.ok(lines.some((l) => /zeros after the last record cut off/.test(l)));
  assert.not.ok(lines.some((l) => /torn/.test(l)));
  await opened.close();
});

test.after(() => removeTempDirs());
test.run();
