// Goal: the antler-bench command works end to end. Method: run the real binary with --quick, so
// it measures the limits, starts its own cluster (master + 3 chunkservers on 127.0.0.1), runs
// every path (the FUSE mount too: the suite runs as root with fuse3) and writes its JSON and
// HTML; then check the JSON: every figure present and above zero, every check (sha256, bytes,
// length, goal, fio) passed, CPU of the daemons (and of the mount) recorded, per GiB for the
// data paths, latencies where they matter, targets where MooseFS gave a figure. No timing
// thresholds: only that each figure was measured and checked.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FUSE_FIGURE_IDS } from '../src/paths/fuse.ts';
import { referenceFor } from '../src/reference.ts';
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

const GOALS = [1, 2, 3];
const EXPECTED_IDS = [
  'raw-disk.write', 'raw-disk.read', 'raw-disk.read4k', 'raw-disk.fdatasync',
  'raw-disk.small-write', 'raw-disk.small-read', 'loopback-tcp', 'loopback-tcp.to-disk',
  'checksum-xxh64',
  ...GOALS.flatMap((g) => [`seq-write.goal${g}`, `seq-read.goal${g}`]),
  'random-read.4k', 'small-files.write', 'small-files.read',
  ...['create', 'stat', 'rename', 'unlink']
    .flatMap((kind) => [1, 8].map((n) => `metadata.${kind}.c${n}`)),
  ...GOALS.flatMap((c) => [`cs-direct.write.chain${c}`, `cs-direct.read.chain${c}`]),
  ...FUSE_FIGURE_IDS,
  's3.put.4k', 's3.get.4k', 's3.put.1m', 's3.get.1m',
  'master-memory.rss',
];
/**
 * Present when the master's monitor reports its heap. Its growth over the quick run's 20,000
 * files is within the garbage collector's noise (it can even shrink), so only its checks count.
 */
const OPTIONAL_IDS = ['master-memory.heap'];
/** Figures of single ops whose latency percentiles are reported. */
const LATENCY_ID = /random-read|small-files|metadata\.|s3\.|read4k|fdatasync|raw-disk\.small-/;

test('--version and --help answer without running anything', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-cli-'));
  try {
    const v = await runBench(['--version'], dir);
    assert.is(v.code, 0);
    assert.is(v.stdout, 'antler-bench 0.1.0\n');
    const h = await runBench(['--help'], dir);
    assert.is(h.code, 0);
    const flags = ['--size', '--quick', '--only', '--out', '--compare', '--master', '--html'];
    for (const flag of flags) {
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
    const html = path.join(dir, 'quick.html');
    const run = await runBench(['--quick', '--out', out, '--html', html], dir);
    assert.is(run.code, 0, `exit code ${run.code}\n${run.stderr}`);
    const report = readReport(out);
    const ids = report.figures.map((f) => f.id).filter((id) => !OPTIONAL_IDS.includes(id));
    assert.equal(ids.sort(), [...EXPECTED_IDS].sort());
    for (const f of report.figures) {
      if (!OPTIONAL_IDS.includes(f.id)) assert.ok(f.value > 0, `${f.id} = ${f.value}`);
      for (const c of f.checks ?? []) assert.ok(c.passed, `${f.id}: ${c.name}: ${c.detail}`);
      if (LATENCY_ID.test(f.id)) assert.ok(f.latency !== undefined, `${f.id} has latencies`);
      if (referenceFor(f.id) !== undefined) assert.ok(f.target !== undefined, `${f.id} target`);
      if (f.limitId !== undefined) assert.ok(f.ratio !== undefined, `${f.id} has a ratio`);
      if (f.kind !== 'path') continue;
      const daemons = ['master', 'cs0', 'cs1', 'cs2', 'bench',
        ...(f.id.startsWith('fuse.') ? ['mount', 'tool'] : []),
        ...(f.id.startsWith('s3.') ? ['s3'] : [])];
      for (const name of daemons) {
        assert.ok(f.cpuSeconds?.[name] !== undefined, `${f.id} has cpu seconds of ${name}`);
      }
      if (f.unit === 'MB/s') assert.is(f.cpuPer?.per, 'GiB', `${f.id}: cpu per GiB`);
    }
    const page = fs.readFileSync(html, 'utf8');
    assert.is(page.match(/<svg/g)?.length, report.figures.length, 'a chart per figure');
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
