// Test runner: runs every *.test.ts (uvu) in its own process, one after another, and closes with
// the line "N passed, N failed". Usage: node --import tsx test/run.ts [filter...]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const filters = process.argv.slice(2);

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
  const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d; process.stdout.write(d); });
    child.stderr.on('data', (d: Buffer) => { output += d; process.stderr.write(d); });
    child.on('close', (c) => resolve({ code: c ?? 1, output }));
  });
  const p = Number(/Passed:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const total = Number(/Total:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(output)?.[1] ?? 0);
  let f = Math.max(0, total - p - skipped);
  if (code !== 0 && f === 0) f = 1; // crashed or failed before uvu's summary
  passed += p;
  failed += f;
  if (f > 0) failures.push(rel);
  process.stdout.write(`--- ${rel}: ${p} passed, ${f} failed, ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}
process.stdout.write(`\n${selected.length} test files in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
if (failures.length) process.stdout.write(`failed files:\n${failures.map((f) => '  ' + f).join('\n')}\n`);
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed > 0 || selected.length === 0 ? 1 : 0);
