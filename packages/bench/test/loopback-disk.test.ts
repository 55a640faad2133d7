// Goal: the loopback-into-a-file limit moves every byte through a socket into a file and
// fsyncs it before it stops the clock, checks the file's length, removes it, and fails with a
// reason (not a hang) when the receiver cannot write. Method: a few MiB and an odd tail into a
// temporary folder; a folder that does not exist (no timing thresholds).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Deadline } from '../src/deadline.ts';
import { measureLoopbackDisk } from '../src/limits/loopback-disk.ts';
import { quietProgress } from './quiet-progress.ts';

test('every byte lands in the file, checked, and the file is removed', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-loopdisk-'));
  try {
    const totalBytes = 8 * 1024 * 1024 + 12_345;
    const f = await measureLoopbackDisk({ dir, totalBytes,
      deadline: new Deadline('t', 60_000), progress: quietProgress() });
    assert.equal([f.id, f.kind, f.unit, f.bytes, f.limitId],
      ['loopback-tcp.to-disk', 'limit', 'MB/s', totalBytes, 'raw-disk.write']);
    assert.ok(f.value > 0 && f.seconds > 0);
    assert.equal(f.checks?.map((c) => [c.name, c.passed]), [['length', true]]);
    assert.match(f.checks![0]!.detail, `file of ${totalBytes}`);
    assert.equal(fs.readdirSync(dir), [], 'its file is removed');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a receiver that cannot open its file fails the limit with the reason', async () => {
  const dir = path.join(os.tmpdir(), `bench-loopdisk-missing-${process.pid}`);
  try {
    await measureLoopbackDisk({ dir, totalBytes: 1024 * 1024,
      deadline: new Deadline('t', 60_000), progress: quietProgress() });
    assert.unreachable('measured into a missing folder');
  } catch (err) {
    assert.instance(err, Error);
    assert.match((err as Error).message, /ENOENT/);
  }
});

test.run();
