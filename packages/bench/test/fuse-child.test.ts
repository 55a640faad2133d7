// Goal: each phase the mount's file workloads run in a child process does what it says and
// counts wrong answers, whatever file system it runs on. Method: the phases on a local
// temporary folder, in order (create, stat, rename, unlink; small-write, small-read), then a
// changed byte and a non-empty file to see them counted; and the child as a real process.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runPhase } from '../src/paths/fuse-child.ts';
import { SMALL_FILE_BYTES } from '../src/paths/path-context.ts';
import { smallFilePattern } from '../src/paths/small-files.ts';

const CHILD = path.resolve(path.dirname(fileURLToPath(import.meta.url)),
  '../src/paths/fuse-child.ts');

function withDir(fn: (dir: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-child-'));
  try {
    fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('metadata phases create, stat, rename and unlink every file', () => {
  withDir((dir) => {
    assert.is(runPhase('create', dir, 20).ops, 20);
    assert.is(fs.readdirSync(dir).length, 20);
    fs.writeFileSync(path.join(dir, 'f3'), 'x'); // a stat expects an empty file
    const stat = runPhase('stat', dir, 20);
    assert.equal([stat.wrong, stat.latency.count], [1, 20]);
    runPhase('rename', dir, 20);
    assert.ok(fs.existsSync(path.join(dir, 'r19')) && !fs.existsSync(path.join(dir, 'f19')));
    const unlink = runPhase('unlink', dir, 20);
    assert.is(fs.readdirSync(dir).length, 0);
    assert.ok(unlink.seconds > 0 && unlink.cpuSeconds >= 0);
    assert.ok(unlink.latency.p99Ms >= unlink.latency.p50Ms);
  });
});

test('small files: written from the pattern, read back with sha256; a flip is counted', () => {
  withDir((dir) => {
    const count = 5;
    assert.is(runPhase('small-write', dir, count).wrong, 0);
    assert.is(fs.statSync(path.join(dir, 'f4')).size, SMALL_FILE_BYTES);
    const read = runPhase('small-read', dir, count);
    const expected = smallFilePattern().sha256(count * SMALL_FILE_BYTES);
    assert.equal([read.wrong, read.sha256], [0, expected]);
    const f2 = path.join(dir, 'f2');
    const bytes = fs.readFileSync(f2);
    bytes[100]! ^= 1;
    fs.writeFileSync(f2, bytes);
    const bad = runPhase('small-read', dir, count);
    assert.is(bad.wrong, 1);
    assert.is.not(bad.sha256, expected);
    const all = Buffer.concat(Array.from({ length: count },
      (_, i) => fs.readFileSync(path.join(dir, `f${i}`))));
    assert.is(bad.sha256, crypto.createHash('sha256').update(all).digest('hex'));
  });
});

test('as a process it prints one JSON result, and refuses a bad phase', () => {
  withDir((dir) => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', CHILD, 'create', dir, '3'],
      { encoding: 'utf8' });
    const r = JSON.parse(out) as { phase: string; ops: number };
    assert.equal([r.phase, r.ops], ['create', 3]);
    assert.throws(() => execFileSync(process.execPath, ['--import', 'tsx', CHILD, 'bogus', dir,
      '3'], { stdio: 'pipe' }), /usage/);
  });
});

test.run();
