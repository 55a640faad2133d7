// The HTML form of a run: one self-contained file (inline CSS and SVG, no script, nothing
// fetched) with the run's header, and per figure a row of horizontal bars on one scale: the
// value, its target, MooseFS's figure and its limit, plus the old value and the change when
// compared with an earlier run. Every text that comes from a report is escaped.
import fs from 'node:fs';
import path from 'node:path';
import { REFERENCE_NAME, TARGET_FACTOR } from './reference.ts';
import {
  formatChange, formatCpu, formatLatency, formatMet, formatNumber, formatTarget,
  type BenchReport, type Change, type Figure,
} from './report.ts';

const BAR_WIDTH_PX = 360;
const BAR_HEIGHT_PX = 14;
const BAR_GAP_PX = 4;
const LABEL_WIDTH_PX = 70;

/** Bar colours by meaning: the value (met, missed, no target), the old value, the marks. */
const BAR_FILL = {
  value: '#4a7bd0', met: '#2a9d4a', missed: '#d0702a', old: '#999999', target: '#222222',
  moosefs: '#b9a04a', limit: '#cccccc',
} as const;

interface Bar {
  name: string;
  value: number;
  kind: keyof typeof BAR_FILL;
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function barsOf(f: Figure, byId: Map<string, Figure>, change: Change | undefined): Bar[] {
  const bars: Bar[] = [{ name: 'value', value: f.value,
    kind: f.target === undefined ? 'value' : f.target.met ? 'met' : 'missed' }];
  if (change?.oldValue != null) bars.push({ name: 'old', value: change.oldValue, kind: 'old' });
  if (f.target !== undefined) bars.push({ name: 'target', value: f.target.value, kind: 'target' });
  if (f.target?.mooseFs != null) {
    bars.push({ name: 'MooseFS', value: f.target.mooseFs, kind: 'moosefs' });
  }
  const limit = f.limitId !== undefined ? byId.get(f.limitId) : undefined;
  if (limit !== undefined && limit.unit === f.unit) {
    bars.push({ name: 'limit', value: limit.value, kind: 'limit' });
  }
  return bars;
}

/** Horizontal bars on one linear scale from 0 to the largest of them. */
export function barChart(bars: Bar[], unit: string): string {
  const max = Math.max(...bars.map((b) => b.value), Number.MIN_VALUE);
  const height = bars.length * (BAR_HEIGHT_PX + BAR_GAP_PX);
  const width = LABEL_WIDTH_PX + BAR_WIDTH_PX + 120;
  const rows = bars.map((b, i) => {
    const y = i * (BAR_HEIGHT_PX + BAR_GAP_PX);
    const w = Math.max(1, (Math.max(0, b.value) / max) * BAR_WIDTH_PX);
    return `<text x="0" y="${y + BAR_HEIGHT_PX - 3}">${escapeHtml(b.name)}</text>` +
      `<rect fill="${BAR_FILL[b.kind]}" x="${LABEL_WIDTH_PX}" y="${y}" width="${w.toFixed(1)}" ` +
      `height="${BAR_HEIGHT_PX}"/>` +
      `<text x="${(LABEL_WIDTH_PX + w + 4).toFixed(1)}" y="${y + BAR_HEIGHT_PX - 3}">` +
      `${escapeHtml(formatNumber(b.value))} ${escapeHtml(unit)}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">` +
    `${rows.join('')}</svg>`;
}

function cell(s: string, cls = ''): string {
  return `<td${cls === '' ? '' : ` class="${cls}"`}>${escapeHtml(s)}</td>`;
}

function figureRow(f: Figure, byId: Map<string, Figure>, change: Change | undefined): string {
  const checks = (f.checks ?? []).map((c) => `${c.name} ${c.passed ? 'ok' : 'FAILED'}`);
  if (f.note !== undefined) checks.push(f.note);
  const failed = (f.checks ?? []).some((c) => !c.passed);
  return '<tr>' +
    `<td><b>${escapeHtml(f.id)}</b><br><small>${escapeHtml(f.label)}</small></td>` +
    cell(`${formatNumber(f.value)} ${f.unit}`, 'num') +
    cell(formatLatency(f), 'num') +
    cell(f.ratio !== undefined ? f.ratio.toFixed(2) : '', 'num') +
    cell(formatTarget(f.target), 'num') +
    cell(formatMet(f.target), f.target === undefined ? '' : f.target.met ? 'ok' : 'bad') +
    (change === undefined ? '' : cell(formatChange(change.changePct), 'num')) +
    `<td>${barChart(barsOf(f, byId, change), f.unit)}</td>` +
    cell(formatCpu(f), 'small') +
    cell(checks.join(', '), failed ? 'bad small' : 'small') +
    '</tr>';
}

const STYLE = `body{font:13px sans-serif;margin:1em}table{border-collapse:collapse}
td,th{border-bottom:1px solid #ddd;padding:3px 6px;vertical-align:top;text-align:left}
.num{text-align:right;white-space:nowrap}.small{font-size:11px;max-width:22em}
.ok{color:#070}.bad{color:#b00}`;

/** The whole document. */
export function formatHtml(report: BenchReport, changes?: Change[]): string {
  const byId = new Map(report.figures.map((f) => [f.id, f]));
  const changeById = new Map((changes ?? []).map((c) => [c.id, c]));
  const head = ['figure', 'result', 'p50/p99 ms', 'ratio', 'target', 'met',
    ...(changes !== undefined ? ['change'] : []), 'value / target / MooseFS / limit', 'cpu',
    'checks'];
  const rows = report.figures.map((f) => figureRow(f, byId,
    changes !== undefined ? changeById.get(f.id) : undefined));
  const gone = (changes ?? []).filter((c) => c.newValue === null)
    .map((c) => `${c.id} (${formatNumber(c.oldValue ?? 0)} ${c.unit})`);
  const params = Object.entries(report.params)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`).join(' ');
  const h = report.host;
  return '<!doctype html>\n<html><head><meta charset="utf-8">' +
    `<title>antler-bench ${escapeHtml(report.startedAt)}</title><style>${STYLE}</style>` +
    '</head><body>' +
    `<h1>antler-bench ${escapeHtml(report.version)} &mdash; ${escapeHtml(report.startedAt)}</h1>` +
    `<p>params: ${escapeHtml(params)}<br>host: ${escapeHtml(`${h.hostname}, ${h.cpus} x ` +
      `${h.cpuModel}, node ${h.node}, linux ${h.kernel}`)}<br>cluster: ` +
    `${escapeHtml(`${report.cluster.kind} at ${report.cluster.masterAddr}`)}</p>` +
    `<table><tr>${head.map((x) => `<th>${escapeHtml(x)}</th>`).join('')}</tr>` +
    `${rows.join('\n')}</table>` +
    (gone.length > 0 ? `<p>only in the old run: ${escapeHtml(gone.join(', '))}</p>` : '') +
    `<p>MooseFS: ${escapeHtml(REFERENCE_NAME)}; target ${TARGET_FACTOR} x MooseFS (upper end ` +
    'of a range) or a goal stated directly. Bars: value (green: target met, orange: not met, ' +
    'blue: no target), old value, target, MooseFS, limit.</p>' +
    '</body></html>\n';
}

export function writeHtmlReport(report: BenchReport, changes: Change[] | undefined,
  file: string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, formatHtml(report, changes));
}
