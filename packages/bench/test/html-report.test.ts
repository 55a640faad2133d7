// Goal: the HTML report is one self-contained page: a row and an inline SVG chart per figure
// (value, target, MooseFS, limit on one scale; the old value and the change with --compare),
// every text escaped, nothing fetched. Method: format fixed reports and read the markup.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { barChart, escapeHtml, formatHtml, writeHtmlReport } from '../src/html-report.ts';
import { compareReports, fillDerived, type BenchReport, type Figure } from '../src/report.ts';

function report(figures: Figure[]): BenchReport {
  fillDerived(figures);
  return {
    tool: 'antler-bench', version: '0.1.0', startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: '2025-01-01T00:01:00.000Z', params: { sizeBytes: 1024, quick: true },
    host: { hostname: 'h<1>', cpus: 2, cpuModel: 'cpu', node: 'v20', kernel: '6.1',
      loadAverage: [0, 0, 0] },
    cluster: { kind: 'own', masterAddr: '127.0.0.1:1', chunkservers: 3 },
    figures,
  };
}

function figures(readValue: number): Figure[] {
  return [
    { id: 'raw-disk.read', kind: 'limit', label: 'raw read', value: 2000, unit: 'MB/s',
      seconds: 1, bytes: 2e9 },
    { id: 'seq-read.goal1', kind: 'path', label: 'read <goal 1> & "more"', value: readValue,
      unit: 'MB/s', seconds: 1, bytes: 1e9, limitId: 'raw-disk.read',
      cpuSeconds: { cs0: 1, bench: 2 }, checks: [{ name: 'sha256', passed: true, detail: '' }] },
    { id: 'random-read.4k', kind: 'path', label: 'random', value: 12_000, unit: 'ops/s',
      seconds: 1, ops: 2000, latency: { p50Ms: 0.5, p99Ms: 3, count: 2000 } },
  ];
}

function svgs(html: string): string[] {
  return html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
}

test('escapeHtml escapes the five characters that matter', () => {
  assert.is(escapeHtml(`<a href="x">'&'</a>`),
    '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});

test('bars share one scale: the largest is full width, the others in proportion', () => {
  const svg = barChart([
    { name: 'value', value: 50, kind: 'met' }, { name: 'limit', value: 200, kind: 'limit' },
  ], 'MB/s');
  const widths = [...svg.matchAll(/<rect[^>]* width="([\d.]+)"/g)].map((m) => Number(m[1]));
  assert.equal(widths, [90, 360]);
  assert.match(svg, /fill="#2a9d4a"/);
  assert.match(svg, /200\.0 MB\/s/);
});

test('one row and one chart per figure, self-contained and escaped', () => {
  const html = formatHtml(report(figures(900)));
  assert.ok(html.startsWith('<!doctype html>'));
  assert.is(svgs(html).length, 3);
  assert.not.match(html, /<script|src=|href=|@import|url\(/);
  assert.match(html, /read &lt;goal 1&gt; &amp; &quot;more&quot;/);
  assert.match(html, /h&lt;1&gt;/);
  assert.not.match(html, /<goal 1>/);
  // The read's chart: value, target, MooseFS and limit; met (931 MB/s target) is not reached.
  const read = svgs(html)[1]!;
  for (const name of ['value', 'target', 'MooseFS', 'limit']) assert.match(read, new RegExp(name));
  assert.match(read, /fill="#d0702a"/);
  assert.match(html, /NOT met/);
  assert.match(html, /0\.500\/3\.00/);
  assert.match(html, /MooseFS 3\.0\.117 through its FUSE mount on a 2-core machine/);
});

test('with --compare: the old value as a bar, the change, and the figures that are gone', () => {
  const oldR = report([...figures(500), { id: 'gone.one', kind: 'path', label: 'g', value: 3,
    unit: 'ops/s', seconds: 1 }]);
  const newR = report(figures(1000));
  const html = formatHtml(newR, compareReports(oldR, newR));
  assert.match(html, /<th>change<\/th>/);
  assert.match(html, /\+100\.0%/);
  assert.match(svgs(html)[1]!, /old/);
  assert.match(html, /only in the old run: gone\.one \(3\.00 ops\/s\)/);
});

test('writeHtmlReport writes the page, making its folder', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-html-'));
  try {
    const file = path.join(dir, 'sub', 'r.html');
    writeHtmlReport(report(figures(900)), undefined, file);
    assert.is(fs.readFileSync(file, 'utf8'), formatHtml(report(figures(900))));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
