// Goal: one process at a time holds a data folder. Processes taking and releasing the lock of
// one folder as fast as they can never hold it together (a lock file never appears empty, so
// nobody takes it for a dead owner's), the others are refused naming the holder; a lock left
// by a dead process is taken over, a live holder's is not.
// Method: real child processes racing takeLock on one temporary folder for a bounded time.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { takeLock } from '../src/index.ts';

const RACERS = 8;
const DAEMON_TS = path.resolve(import.meta.dirname, '../src/daemon.ts');

/**
 * A child that waits for `go` to appear, then for LOOP_MS takes the lock whenever it can, marks
 * the folder as held (a file created exclusively: a second holder finds it there), lets go of
 * both, and prints how often it held the lock and how often it found another holder.
 */
const LOOP_MS = 600;
const CHILD = `
import fs from 'node:fs';
import path from 'node:path';
import { takeLock } from ${JSON.stringify(DAEMON_TS)};
const [dir, go] = process.argv.slice(2);
const held = path.join(dir, '..', 'held');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
for (let i = 0; i < 3000 && !fs.existsSync(go); i++) await sleep(1);
let takes = 0, overlaps = 0, refusals = 0;
const end = Date.now() + ${LOOP_MS};
while (Date.now() < end) {
  let release;
  try { release = takeLock(dir, 'racer'); } catch (err) {
    if (!/in use by another process, pid \\d+/.test(err.message)) throw err;
    refusals++;
    continue;
  }
  takes++;
  try { fs.writeFileSync(held, '', { flag: 'wx' }); } catch { overlaps++; release(); continue; }
  fs.unlinkSync(held);
  release();
}
console.log(JSON.stringify({ takes, overlaps, refusals }));
`;

test('processes racing for one folder never hold it at the same time', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'antler-lock-'));
  try {
    const script = path.join(root, 'racer.mjs');
    fs.writeFileSync(script, CHILD);
    const dir = path.join(root, 'data');
    const go = path.join(root, 'go');
    const outs = Array.from({ length: RACERS }, () => {
      const child = spawn(process.execPath, ['--import', 'tsx', script, dir, go], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
      return new Promise<string>((resolve) => child.once('exit', () => resolve(out.trim())));
    });
    await new Promise((r) => setTimeout(r, 1000)); // every child started and waiting
    fs.writeFileSync(go, '');
    const results = (await Promise.all(outs)).map((o) => {
      try { return JSON.parse(o) as { takes: number; overlaps: number; refusals: number }; }
      catch { throw new Error(`a racer failed: ${o}`); }
    });
    const sum = (k: 'takes' | 'overlaps' | 'refusals') => results.reduce((n, r) => n + r[k], 0);
    assert.ok(sum('takes') >= RACERS, `the lock changed hands (${sum('takes')} takes)`);
    assert.ok(sum('refusals') > 0, 'racers were refused while another held it');
    assert.is(sum('overlaps'), 0, 'never two holders at once');
    assert.not.ok(fs.existsSync(path.join(dir, '.lock')), 'released at the end');
    assert.equal(fs.readdirSync(dir), [], 'no file of a racer is left behind');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("a dead process's lock is taken over; a live holder's is refused", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'antler-lock-'));
  try {
    fs.writeFileSync(path.join(dir, '.lock'), '999999999\n'); // no such process
    const release = takeLock(dir, 'test');
    assert.is(fs.readFileSync(path.join(dir, '.lock'), 'utf8').trim(), String(process.pid));
    release();
    assert.not.ok(fs.existsSync(path.join(dir, '.lock')));
    fs.writeFileSync(path.join(dir, '.lock'), `${process.ppid}\n`); // alive: our parent
    assert.throws(() => takeLock(dir, 'test'), new RegExp(`pid ${process.ppid}`));
    assert.is(fs.readFileSync(path.join(dir, '.lock'), 'utf8').trim(), String(process.ppid),
      'the live holder keeps its lock');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
