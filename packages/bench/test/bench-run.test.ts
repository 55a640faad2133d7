// Goal: the antler-bench command works end to end. Method: run the real binary with --quick, so
// it measures the limits, starts its own cluster (master + 3 chunkservers on 127.0.0.1), runs
// every path and writes its JSON; then check the JSON: every figure present and above zero, every
// check (sha256, bytes, length, goal) passed, CPU seconds of the daemons recorded. No timing
// thresholds: only that each figure was measured.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readReport } from '../src/report.ts';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/antler-bench');
/** A --quick run moves a few hundred MiB; this only stops a hung run. */
const RUN_TIMEOUT_MS = 15 * 60_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the binary in `cwd`, its temporary folders (cluster, raw disk file) under `cwd`/tmp. */
function runBench(args: string[], cwd: string): Promise<Run> {
  const tmp = path.join(cwd, 'tmp');
  fs.mkdirSync(tmp, { recursive: true });
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: tmp },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const EXPECTED_IDS = [
  'raw-disk.write', 'raw-disk.read', 'loopback-tcp', 'checksum-xxh64',
  'seq-write.goal1', 'seq-write.goal2', 'seq-read.goal1', 'seq-read.goal2',
  ...['create', 'stat', 'rename', 'unlink']
    .flatMap((kind) => [1, 8].map((n) => `metadata.${kind}.c${n}`)),
  's3.put.4k', 's3.get.4k', 's3.put.1m', 's3.get.1m',
];

test('--version and --help answer without running anything', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-cli-'));
  try {
    const v = await runBench(['--version'], dir);
    assert.is(v.code, 0);
    assert.is(v.stdout, 'antler-bench 0.1.0\n');
    const h = await runBench(['--help'], dir);
    assert.is(h.code, 0);
    for (const flag of ['--size', '--quick', '--only', '--out', '--compare', '--master']) {
      assert.ok(h.stdout.includes(flag), `help mentions ${flag}`);
    }
    const bad = await runBench(['--only', 'nonsense'], dir);
    assert.is(bad.code, 2);
    assert.match(bad.stderr, /unknown "nonsense"/);
    assert.equal(fs.readdirSync(dir), ['tmp'], 'nothing written');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('--quick measures every figure against a cluster it starts', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-quick-'));
  try {
    const out = path.join(dir, 'quick.json');
    const run = await runBench(['--quick', '--out', out], dir);
    assert.is(run.code, 0, `exit code ${run.code}\n${run.stderr}`);
    const report = readReport(out);
    assert.equal(report.figures.map((f) => f.id).sort(), [...EXPECTED_IDS].sort());
    for (const f of report.figures) {
      assert.ok(f.value > 0, `${f.id} = ${f.value}`);
      for (const c of f.checks ?? []) assert.ok(c.passed, `${f.id}: ${c.name}: ${c.detail}`);
      if (f.kind === 'path') {
        for (const name of ['master', 'cs0', 'cs1', 'cs2', 'bench']) {
          assert.ok(f.cpuSeconds?.[name] !== undefined, `${f.id} has cpu seconds of ${name}`);
        }
      }
    }
    const read = report.figures.find((f) => f.id === 'seq-read.goal2')!;
    assert.ok(read.checks?.some((c) => c.name === 'sha256' && c.passed), 'sha256 checked');
    assert.is(read.limitId, 'raw-disk.read');
    assert.ok(read.ratio !== undefined && read.ratio > 0, 'read has a ratio to its limit');
    assert.is(report.params.quick, true);
    assert.match(run.stdout, /seq-write\.goal1 /);
    assert.match(run.stdout, /raw-disk\.write \d/);
    // Nothing of the cluster or the raw disk file is left behind (tsx keeps its cache there).
    const left = fs.readdirSync(path.join(dir, 'tmp')).filter((n) => n.startsWith('antler-'));
    assert.equal(left, []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
