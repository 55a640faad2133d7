// Test runner: runs every *.test.ts (uvu) in its own process, one after another, and closes with
// the line "N passed, N failed". Usage: node --import tsx test/run.ts [filter...]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const filters = process.argv.slice(2);
/** A test file that runs longer than this is stopped and counted as failed (a hang, not a pass). */
const FILE_TIMEOUT_MS = Number(process.env.ANTLER_TEST_FILE_TIMEOUT_S ?? 300) * 1000;
/** After SIGTERM, a timed-out test file's process group gets this long before SIGKILL. */
const KILL_GRACE_MS = 10_000;

function findTests(dir: string, out: string[]): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) findTests(p, out);
    else if (e.name.endsWith('.test.ts')) out.push(p);
  }
}

const files: string[] = [];
for (const d of ['packages', 'native', 'test']) findTests(path.join(root, d), files);
files.sort((a, b) => {
  // Unit tests first, cluster tests after.
  const ca = a.includes(`${path.sep}test${path.sep}cluster${path.sep}`) ? 1 : 0;
  const cb = b.includes(`${path.sep}test${path.sep}cluster${path.sep}`) ? 1 : 0;
  return ca - cb || a.localeCompare(b);
});
const selected = filters.length ? files.filter((f) => filters.some((x) => f.includes(x))) : files;

let passed = 0;
let failed = 0;
const failures: string[] = [];
const started = Date.now();
for (const file of selected) {
  const rel = path.relative(root, file);
  const t0 = Date.now();
  process.stdout.write(`\n=== ${rel}\n`);
  let timedOut = false;
  const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
    // Its own process group, so that a hung file is stopped with every daemon it started.
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const signalGroup = (signal: NodeJS.Signals): void => {
      try { process.kill(-child.pid!, signal); } catch { /* already gone */ }
    };
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      const limitS = FILE_TIMEOUT_MS / 1000;
      process.stdout.write(`\n!!! ${rel} still running after ${limitS} s: stopped\n`);
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => signalGroup('SIGKILL'), KILL_GRACE_MS);
    }, FILE_TIMEOUT_MS);
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d; process.stdout.write(d); });
    child.stderr.on('data', (d: Buffer) => { output += d; process.stderr.write(d); });
    child.on('close', (c) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      resolve({ code: c ?? 1, output });
    });
  });
  const p = Number(/Passed:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const total = Number(/Total:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(output)?.[1] ?? 0);
  let f = Math.max(0, total - p - skipped);
  if ((code !== 0 || timedOut) && f === 0) f = 1; // crashed, hung, or failed before uvu's summary
  passed += p;
  failed += f;
  if (f > 0) failures.push(rel);
  process.stdout.write(`--- ${rel}: ${p} passed, ${f} failed, ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}
process.stdout.write(`\n${selected.length} test files in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
if (failures.length) process.stdout.write(`failed files:\n${failures.map((f) => '  ' + f).join('\n')}\n`);
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed > 0 || selected.length === 0 ? 1 : 0);
