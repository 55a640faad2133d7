// Goal: the report's logic on fixed figures, with no cluster: throughput units, ratios against
// limits, the table's columns and marks, the JSON round trip with its validation, and --compare.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  allChecks, compareReports, failedFigure, fillCpuRates, fillDerived, fillRatios, fillTargets,
  formatChange, formatCpu, formatNumber, formatTable, formatTarget, paramDifferences, parseReport,
  readReport, renderColumns, throughput, writeReport, type BenchReport, type Figure,
} from '../src/report.ts';

function figures(): Figure[] {
  return [
    { id: 'raw-disk.write', kind: 'limit', label: 'raw write', value: 800, unit: 'MB/s',
      mibPerS: 762.94, seconds: 1.34, bytes: 1_073_741_824 },
    { id: 'raw-disk.read', kind: 'limit', label: 'raw read', value: 1000, unit: 'MB/s',
      mibPerS: 953.67, seconds: 1.07, bytes: 1_073_741_824, note: 'cached' },
    { id: 'checksum-xxh64', kind: 'limit', label: 'xxh64', value: 12.4, unit: 'GB/s',
      seconds: 0.1 },
    { id: 'seq-write.goal1', kind: 'path', label: 'write goal 1', value: 200, unit: 'MB/s',
      mibPerS: 190.73, seconds: 5.3, limitId: 'raw-disk.write',
      cpuSeconds: { master: 0.05, cs0: 1.25, bench: 2.5 } },
    { id: 'seq-read.goal1', kind: 'path', label: 'read goal 1', value: 500, unit: 'MB/s',
      mibPerS: 476.84, seconds: 2.1, limitId: 'raw-disk.read',
      checks: [{ name: 'sha256', passed: true, detail: 'a vs a' }] },
    { id: 'metadata.create.c1', kind: 'path', label: 'creates', value: 1234.5, unit: 'ops/s',
      seconds: 1.6, ops: 2000 },
  ];
}

function report(fs: Figure[] = figures()): BenchReport {
  return {
    tool: 'antler-bench', version: '0.1.0', startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: '2025-01-01T00:01:00.000Z',
    params: { sizeBytes: 1_073_741_824, quick: false, metadataClientCounts: [1, 8] },
    host: { hostname: 'h', cpus: 2, cpuModel: 'cpu', node: 'v20', kernel: '6.1',
      loadAverage: [0.5, 0.25, 0.125] },
    cluster: { kind: 'own', masterAddr: '127.0.0.1:1234', chunkservers: 3 },
    figures: fs,
  };
}

test('throughput gives MB/s (10^6) and MiB/s (2^20)', () => {
  const t = throughput(1024 * 1024 * 100, 2);
  assert.is(t.mibPerS, 50);
  assert.ok(Math.abs(t.mbPerS - 52.4288) < 1e-9);
  assert.throws(() => throughput(1, 0), /takes time/);
});

test('fillRatios divides by the limit of the same unit only', () => {
  const fs = figures();
  fs.push({ id: 'odd', kind: 'path', label: 'x', value: 5, unit: 'ops/s', seconds: 1,
    limitId: 'checksum-xxh64' });
  fs.push({ id: 'orphan', kind: 'path', label: 'x', value: 5, unit: 'MB/s', seconds: 1,
    limitId: 'no-such-limit' });
  fillRatios(fs);
  const byId = new Map(fs.map((f) => [f.id, f]));
  assert.is(byId.get('seq-write.goal1')!.ratio, 0.25);
  assert.is(byId.get('seq-read.goal1')!.ratio, 0.5);
  assert.is(byId.get('odd')!.ratio, undefined);
  assert.is(byId.get('orphan')!.ratio, undefined);
  assert.is(byId.get('metadata.create.c1')!.ratio, undefined);
});

test('fillRatios refuses duplicate ids', () => {
  const fs = figures();
  fs.push({ ...fs[0]! });
  assert.throws(() => fillRatios(fs), /unique/);
});

test('formatNumber keeps about three significant digits', () => {
  assert.is(formatNumber(1234.56), '1235');
  assert.is(formatNumber(123.456), '123.5');
  assert.is(formatNumber(12.3456), '12.35');
  assert.is(formatNumber(0.12345), '0.123');
  assert.is(formatChange(12.345), '+12.3%');
  assert.is(formatChange(-5), '-5.0%');
  assert.is(formatChange(null), '-');
});

test('renderColumns pads to the widest cell and aligns numbers right', () => {
  const text = renderColumns([['a', '1'], ['bbb', '22']], new Set([1]));
  assert.is(text, 'a     1\nbbb  22\n');
});

test('the table shows each figure with its limit, ratio, cpu, checks and notes', () => {
  const r = report();
  fillRatios(r.figures);
  const text = formatTable(r);
  const lines = text.split('\n');
  const head = lines.find((l) => l.startsWith('figure'))!;
  for (const column of ['limit', 'ratio', 'p50/p99 ms', 'MooseFS', 'target', 'met', 'cpu']) {
    assert.ok(head.includes(column), `a ${column} column`);
  }
  assert.not.ok(head.includes('change'));
  const write = lines.find((l) => l.startsWith('seq-write.goal1'))!;
  assert.match(write, /200\.0 MB\/s/);
  assert.match(write, /190\.7/);
  assert.match(write, /raw-disk\.write 800\.0/);
  assert.match(write, /0\.25/);
  assert.match(write, /master 0\.05 {2}cs0 1\.25 {2}bench 2\.50 {2}\(s\)/);
  assert.match(lines.find((l) => l.startsWith('seq-read.goal1'))!, /sha256 ok/);
  assert.match(lines.find((l) => l.startsWith('raw-disk.read'))!, /cached/);
  const meta = lines.find((l) => l.startsWith('metadata.create.c1'))!;
  assert.match(meta, /1235 ops\/s/);
  assert.match(text, /params: sizeBytes=1073741824 quick=false metadataClientCounts=1,8/);
  assert.match(text, /cluster: started by the bench at 127\.0\.0\.1:1234, 3 chunkservers/);
  assert.match(text, /linux 6\.1, load 0\.50 0\.25 0\.13 at start/);
});

test('targets come from the reference table; met needs the value, the ratio and passed checks',
  () => {
    const fs = figures();
    fs.push({ id: 'metadata.stat.c1', kind: 'path', label: 's', value: 20_000, unit: 'ops/s',
      seconds: 1, ops: 2000, latency: { p50Ms: 0.04, p99Ms: 1.5, count: 2000 } });
    fs.push({ id: 'master-memory.rss', kind: 'path', label: 'm', value: 300, unit: 'MiB/Mfiles',
      seconds: 1 });
    fs.push({ id: 'seq-read.goal3', kind: 'path', label: 'r', value: 5000, unit: 'MB/s',
      seconds: 1, checks: [{ name: 'sha256', passed: false, detail: 'a vs b' }] });
    fillRatios(fs);
    fillTargets(fs);
    const byId = new Map(fs.map((f) => [f.id, f]));
    // 600 MiB/s x 1.2 in MB/s, and a ratio of 0.8 to the raw disk asked for too.
    const write = byId.get('seq-write.goal1')!.target!;
    assert.ok(Math.abs(write.value - 600 * 1.048576 * 1.2) < 1e-9);
    assert.is(write.ratioMin, 0.8);
    assert.is(write.met, false);
    assert.is(formatTarget(write), '>=755.0 & ratio>=0.80');
    assert.is(byId.get('metadata.stat.c1')!.target!.met, true);
    const memory = byId.get('master-memory.rss')!.target!;
    assert.equal([memory.better, memory.value, memory.mooseFs, memory.met],
      ['lower', 350, null, true]);
    assert.is(byId.get('seq-read.goal3')!.target!.met, false, 'a failed check never meets');
    assert.is(byId.get('raw-disk.write')!.target, undefined, 'limits have no target');
    const text = formatTable(report(fs));
    assert.match(text.split('\n').find((l) => l.startsWith('metadata.stat.c1'))!,
      /0\.040\/1\.50 .* 8300 +>=9960 +met$/);
    assert.match(text, /MooseFS 3\.0\.117 through its FUSE mount on a 2-core machine/);
  });

test('CPU is given per GiB of MB/s figures and per 1000 ops of ops/s figures', () => {
  const fs: Figure[] = [
    { id: 'a', kind: 'path', label: 'a', value: 100, unit: 'MB/s', seconds: 1,
      bytes: 512 * 1024 * 1024, cpuSeconds: { cs0: 1, bench: 0.5 } },
    { id: 'b', kind: 'path', label: 'b', value: 100, unit: 'ops/s', seconds: 1, ops: 4000,
      cpuSeconds: { master: 2 } },
    { id: 'c', kind: 'path', label: 'c', value: 100, unit: 'MiB/Mfiles', seconds: 1,
      cpuSeconds: { master: 2 } },
  ];
  fillCpuRates(fs);
  assert.equal(fs[0]!.cpuPer, { per: 'GiB', seconds: { cs0: 2, bench: 1 } });
  assert.equal(fs[1]!.cpuPer, { per: '1k ops', seconds: { master: 0.5 } });
  assert.is(fs[2]!.cpuPer, undefined);
  assert.is(formatCpu(fs[0]!), 'cs0 2.00  bench 1.00  (s/GiB)');
  assert.is(formatCpu(fs[1]!), 'master 0.50  (s/1k ops)');
  assert.is(formatCpu(fs[2]!), 'master 2.00  (s)');
});

test('a failed measurement is a figure of 0 whose check says why; it meets no target', () => {
  const f = failedFigure({ id: 'fuse.seq-write.goal1', kind: 'path', unit: 'MB/s' },
    new Error('no /dev/fuse'));
  assert.equal([f.value, f.checks], [0, [{ name: 'ran', passed: false, detail: 'no /dev/fuse' }]]);
  const fs = [f];
  fillDerived(fs);
  assert.is(fs[0]!.target!.met, false);
  assert.match(formatTable(report(fs)), /fuse\.seq-write\.goal1 .*NOT met.*ran FAILED/);
});

test('a failed check is marked in the table and listed by allChecks', () => {
  const fs = figures();
  fs[4]!.checks = [{ name: 'sha256', passed: false, detail: 'a vs b' }];
  const r = report(fs);
  assert.match(formatTable(r), /sha256 FAILED/);
  assert.equal(allChecks(r).map((c) => c.passed), [false]);
});

test('the JSON round-trips through a file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-report-'));
  try {
    const file = path.join(dir, 'sub', 'run.json');
    const r = report();
    fillRatios(r.figures);
    writeReport(r, file);
    assert.equal(readReport(file), r);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('parseReport names what is wrong with a file', () => {
  assert.throws(() => readReport('/no/such/run.json'), /cannot read \/no\/such\/run\.json: ENOENT/);
  assert.throws(() => parseReport('{', 'x.json'), /x\.json: not JSON/);
  assert.throws(() => parseReport('{"tool":"other"}', 'x.json'), /not an antler-bench result/);
  assert.throws(() => parseReport('{"tool":"antler-bench"}', 'x.json'), /no figures/);
  const bad = { ...report(), figures: [{ id: 'a', kind: 'path', value: 'fast', unit: 'MB/s' }] };
  assert.throws(() => parseReport(JSON.stringify(bad), 'x.json'), /a: value is not a number/);
  const unit = { ...report(), figures: [{ id: 'a', kind: 'path', value: 1, unit: 'furlongs' }] };
  assert.throws(() => parseReport(JSON.stringify(unit), 'x.json'), /unknown unit furlongs/);
});

test('compareReports gives the change per figure, new and gone figures too', () => {
  const oldR = report();
  const newFigures = figures().filter((f) => f.id !== 'checksum-xxh64');
  newFigures[2]!.value = 250; // seq-write.goal1: 200 -> 250
  newFigures.push({ id: 'metadata.stat.c8', kind: 'path', label: 's', value: 9, unit: 'ops/s',
    seconds: 1 });
  const newR = report(newFigures);
  const changes = compareReports(oldR, newR);
  const byId = new Map(changes.map((c) => [c.id, c]));
  assert.is(byId.get('seq-write.goal1')!.changePct, 25);
  assert.is(byId.get('raw-disk.write')!.changePct, 0);
  assert.equal(byId.get('metadata.stat.c8'), {
    id: 'metadata.stat.c8', unit: 'ops/s', oldValue: null, newValue: 9, changePct: null,
  });
  assert.is(byId.get('checksum-xxh64')!.newValue, null);
  assert.is(changes[changes.length - 1]!.id, 'checksum-xxh64');
  const text = formatTable(newR, changes);
  const write = text.split('\n').find((l) => l.startsWith('seq-write.goal1'))!;
  assert.match(write, /200\.0\s+\+25\.0%$/);
  assert.match(text.split('\n').find((l) => l.startsWith('metadata.stat.c8'))!, /new\s+-$/);
  assert.match(text, /only in the old one\): checksum-xxh64/);
});

test('a figure whose unit changed is not compared', () => {
  const oldR = report();
  const newFigures = figures();
  newFigures[2]!.unit = 'MB/s';
  const c = compareReports(oldR, report(newFigures)).find((x) => x.id === 'checksum-xxh64')!;
  assert.is(c.oldValue, null);
  assert.is(c.changePct, null);
});

test('paramDifferences lists the parameters that changed between two runs', () => {
  const oldR = report();
  const newR = report();
  newR.params = { ...newR.params, sizeBytes: 67_108_864, only: ['seq-read'] };
  delete newR.params.quick;
  assert.equal(paramDifferences(oldR, newR), [
    'sizeBytes 1073741824 -> 67108864', 'quick false -> (none)', 'only (none) -> ["seq-read"]',
  ]);
  assert.equal(paramDifferences(oldR, report()), []);
});

test.run();
