// Goal: the disk's small-op limits measure what they say: N fdatasyncs, N random 4 KiB reads
// with every read's bytes checked, N small files made and read back compared, ops/s and
// latencies filled. Method: tiny counts on a
// temporary folder (no timing thresholds: only that each op ran and was checked).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DataPattern } from '../src/data-pattern.ts';
import { Deadline } from '../src/deadline.ts';
import {
  measureFdatasync, measureRandomReadLimit, measureSmallFilesLimit,
} from '../src/limits/disk-ops.ts';
import { smallFilePattern } from '../src/paths/small-files.ts';
import { quietProgress } from './quiet-progress.ts';

const IO = 64 * 1024;
const SIZE = 16 * IO;

test('fdatasync limit: one op per append, latencies of each', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-diskops-'));
  try {
    const f = await measureFdatasync({ dir, syncCount: 20, deadline: new Deadline('t', 60_000),
      progress: quietProgress() });
    assert.equal([f.id, f.kind, f.unit, f.ops, f.latency?.count],
      ['raw-disk.fdatasync', 'limit', 'ops/s', 20, 20]);
    assert.ok(f.value > 0);
    assert.equal(fs.readdirSync(dir), [], 'its file is removed');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('random read limit: every read compared with the pattern; a changed file fails', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-diskops-'));
  try {
    const pattern = new DataPattern(IO);
    const file = path.join(dir, 'raw.bin');
    fs.writeFileSync(file, Buffer.concat(Array.from({ length: pattern.ioCount(SIZE) },
      (_, i) => pattern.io(i, SIZE))));
    const o = { file, sizeBytes: SIZE, reads: 200, pattern, deadline: new Deadline('t', 60_000),
      progress: quietProgress(), dropCaches: false };
    const good = await measureRandomReadLimit(o);
    assert.equal([good.id, good.ops, good.bytes, good.latency?.count],
      ['raw-disk.read4k', 200, 200 * 4096, 200]);
    assert.ok(good.checks?.every((c) => c.passed));
    fs.writeFileSync(file, Buffer.alloc(SIZE));
    const bad = await measureRandomReadLimit(o);
    assert.not.ok(bad.checks?.every((c) => c.passed));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('small files limit: each file made and read back once, compared; its files left in dir',
  async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-diskops-'));
    try {
      const [w, r] = await measureSmallFilesLimit({ dir, count: 300, pattern: smallFilePattern(),
        deadline: new Deadline('t', 60_000), progress: quietProgress(), dropCaches: false });
      assert.equal([w!.id, w!.ops, w!.bytes, w!.latency?.count],
        ['raw-disk.small-write', 300, 300 * 65536, 300]);
      assert.equal([r!.id, r!.ops, r!.latency?.count], ['raw-disk.small-read', 300, 300]);
      assert.ok(r!.checks?.every((c) => c.passed), JSON.stringify(r!.checks));
      assert.ok(w!.value > 0 && r!.value > 0);
      const [folder, ...others] = fs.readdirSync(dir);
      assert.equal(others, [], 'one folder of its own');
      const files = fs.readdirSync(path.join(dir, folder!), { recursive: true })
        .filter((f) => fs.statSync(path.join(dir, folder!, String(f))).isFile());
      assert.is(files.length, 300, 'its files stay for the run\'s scratch folder to remove');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

test.run();
