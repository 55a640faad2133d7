// The bench's result: every figure of one run (limits and paths), its table on stdout, its JSON
// file, and the change against an earlier JSON (--compare). Figures are keyed by a stable id so
// runs of different versions line up; a path figure names the limit it is measured against,
// and carries its MooseFS reference and target (reference.ts), its latency percentiles where
// single ops matter, and its CPU seconds per GiB or per 1000 ops of every process.
import fs from 'node:fs';
import path from 'node:path';
import { assert } from '@antlerfs/protocol';
import type { Latency } from './percentiles.ts';
import {
  meetsTarget, REFERENCE_NAME, referenceFor, TARGET_FACTOR, type Better,
} from './reference.ts';

/** 'MiB/Mfiles': memory per million files, the one unit where lower is better. */
export type Unit = 'MB/s' | 'GB/s' | 'ops/s' | 'MiB/Mfiles';
const UNITS: readonly Unit[] = ['MB/s', 'GB/s', 'ops/s', 'MiB/Mfiles'];

export interface Check {
  name: string;
  passed: boolean;
  detail: string;
}

export interface Figure {
  /** Stable across runs: 'raw-disk.write', 'seq-read.goal2', 'metadata.create.c8'. */
  id: string;
  kind: 'limit' | 'path';
  label: string;
  value: number;
  unit: Unit;
  /** The same throughput in MiB/s (MB/s figures only). */
  mibPerS?: number;
  seconds: number;
  bytes?: number;
  ops?: number;
  /** Id of the limit figure this one is held against, and value / limit. */
  limitId?: string;
  ratio?: number;
  /** CPU seconds each cluster process (and the bench itself, 'bench') used for this figure. */
  cpuSeconds?: Record<string, number>;
  /** cpuSeconds per GiB moved (MB/s figures) or per 1000 ops (ops/s figures). */
  cpuPer?: { per: 'GiB' | '1k ops'; seconds: Record<string, number> };
  /** Latency percentiles of single ops (random reads, small files, metadata ops). */
  latency?: Latency;
  /** The MooseFS reference and our target (src/reference.ts), and whether it is met. */
  target?: FigureTarget;
  checks?: Check[];
  /** Caveat shown beside the figure, e.g. 'cached' when page caches could not be dropped. */
  note?: string;
}

export interface FigureTarget {
  value: number;
  better: Better;
  /** MooseFS's figure in the same unit; null for a goal stated directly. */
  mooseFs: number | null;
  source: string;
  ratioMin?: number;
  met: boolean;
}

export interface BenchReport {
  tool: 'antler-bench';
  version: string;
  startedAt: string;
  finishedAt: string;
  params: Record<string, string | number | boolean | null | number[] | string[]>;
  host: {
    hostname: string; cpus: number; cpuModel: string; node: string; kernel: string;
    /** 1, 5 and 15 minute load averages when the run started: other work skews figures. */
    loadAverage: number[];
  };
  cluster: { kind: 'own' | 'external'; masterAddr: string; chunkservers: number | null };
  figures: Figure[];
}

const BYTES_PER_MB = 1e6;
const BYTES_PER_MIB = 1024 * 1024;

/** MB/s and MiB/s of `bytes` moved in `seconds`. */
export function throughput(bytes: number, seconds: number): { mbPerS: number; mibPerS: number } {
  assert(bytes >= 0, 'bytes is not negative');
  assert(seconds > 0, 'a measurement takes time');
  return { mbPerS: bytes / BYTES_PER_MB / seconds, mibPerS: bytes / BYTES_PER_MIB / seconds };
}

/** A figure standing for a measurement that threw or could not run: 0 and a failed check. */
export function failedFigure(what: Pick<Figure, 'id' | 'kind' | 'unit'>, err: unknown): Figure {
  const detail = err instanceof Error ? err.message : String(err);
  return {
    ...what, label: `${what.id} failed`, value: 0, seconds: 0,
    checks: [{ name: 'ran', passed: false, detail }],
  };
}

/** Fills `ratio` of every figure whose limit is in the same run and in the same unit. */
export function fillRatios(figures: Figure[]): void {
  const byId = new Map(figures.map((f) => [f.id, f]));
  assert(byId.size === figures.length, 'figure ids are unique');
  for (const f of figures) {
    delete f.ratio;
    if (f.limitId === undefined) continue;
    const limit = byId.get(f.limitId);
    if (limit === undefined || limit.unit !== f.unit || limit.value <= 0) continue;
    f.ratio = f.value / limit.value;
  }
}

/** Fills `target` from the reference table: met only by a figure whose checks all passed. */
export function fillTargets(figures: Figure[]): void {
  for (const f of figures) {
    delete f.target;
    const ref = referenceFor(f.id);
    if (ref === undefined) continue;
    const checked = (f.checks ?? []).every((c) => c.passed);
    f.target = {
      value: ref.target, better: ref.better, mooseFs: ref.mooseFs, source: ref.source,
      ...(ref.ratioMin !== undefined ? { ratioMin: ref.ratioMin } : {}),
      met: checked && f.value > 0 && meetsTarget(ref, f.value, f.ratio),
    };
  }
}

const BYTES_PER_GIB = 1024 ** 3;
const OPS_PER_KILO = 1000;

/** Fills `cpuPer`: CPU seconds per GiB of MB/s figures, per 1000 ops of ops/s figures. */
export function fillCpuRates(figures: Figure[]): void {
  for (const f of figures) {
    delete f.cpuPer;
    if (f.cpuSeconds === undefined) continue;
    let scale: { per: 'GiB' | '1k ops'; units: number } | null = null;
    if (f.unit === 'MB/s' && (f.bytes ?? 0) > 0) {
      scale = { per: 'GiB', units: f.bytes! / BYTES_PER_GIB };
    } else if (f.unit === 'ops/s' && (f.ops ?? 0) > 0) {
      scale = { per: '1k ops', units: f.ops! / OPS_PER_KILO };
    }
    if (scale === null) continue;
    const seconds: Record<string, number> = {};
    for (const [name, s] of Object.entries(f.cpuSeconds)) seconds[name] = s / scale.units;
    f.cpuPer = { per: scale.per, seconds };
  }
}

/** Everything derived from the measured values: ratios, then targets, then CPU rates. */
export function fillDerived(figures: Figure[]): void {
  fillRatios(figures);
  fillTargets(figures);
  fillCpuRates(figures);
}

export function allChecks(report: BenchReport): Check[] {
  return report.figures.flatMap((f) => f.checks ?? []);
}

export function writeReport(report: BenchReport, file: string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Why `v` is not a figure, or null when it is one. */
function figureProblem(v: unknown, index: number): string | null {
  if (!isRecord(v)) return `figures[${index}] is not an object`;
  if (typeof v.id !== 'string' || v.id === '') return `figures[${index}].id is not a string`;
  if (typeof v.value !== 'number' || !Number.isFinite(v.value)) {
    return `${v.id}: value is not a number`;
  }
  if (!UNITS.includes(v.unit as Unit)) return `${v.id}: unknown unit ${String(v.unit)}`;
  if (v.kind !== 'limit' && v.kind !== 'path') return `${v.id}: kind is not limit or path`;
  return null;
}

/** Reads a JSON report written by writeReport; throws an Error naming the file and the fault. */
export function readReport(file: string): BenchReport {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseReport(text, file);
}

export function parseReport(text: string, source: string): BenchReport {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not JSON: ${(err as Error).message}`);
  }
  if (!isRecord(v) || v.tool !== 'antler-bench') {
    throw new Error(`${source}: not an antler-bench result`);
  }
  if (!Array.isArray(v.figures)) throw new Error(`${source}: no figures`);
  for (let i = 0; i < v.figures.length; i++) {
    const problem = figureProblem(v.figures[i], i);
    if (problem !== null) throw new Error(`${source}: ${problem}`);
  }
  return v as unknown as BenchReport;
}

export interface Change {
  id: string;
  unit: Unit;
  oldValue: number | null;
  newValue: number | null;
  /** (new - old) / old in percent; null when either side is missing or old is 0. */
  changePct: number | null;
}

/** Change per figure, in the new run's order, then the figures only the old run had. */
export function compareReports(oldReport: BenchReport, newReport: BenchReport): Change[] {
  const oldById = new Map(oldReport.figures.map((f) => [f.id, f]));
  const changes: Change[] = [];
  for (const f of newReport.figures) {
    const old = oldById.get(f.id);
    // A figure whose unit changed is a different measurement: no change is computed.
    const oldValue = old !== undefined && old.unit === f.unit ? old.value : null;
    const changePct = oldValue !== null && oldValue !== 0
      ? ((f.value - oldValue) / oldValue) * 100 : null;
    changes.push({ id: f.id, unit: f.unit, oldValue, newValue: f.value, changePct });
  }
  const newIds = new Set(newReport.figures.map((f) => f.id));
  for (const f of oldReport.figures) {
    if (newIds.has(f.id)) continue;
    changes.push({ id: f.id, unit: f.unit, oldValue: f.value, newValue: null, changePct: null });
  }
  return changes;
}

/** Parameters whose values differ between two runs, as "name old -> new". */
export function paramDifferences(oldReport: BenchReport, newReport: BenchReport): string[] {
  const show = (v: unknown): string => (v === undefined ? '(none)' : JSON.stringify(v));
  const names = new Set([...Object.keys(oldReport.params ?? {}), ...Object.keys(newReport.params)]);
  const out: string[] = [];
  for (const name of names) {
    const a = show(oldReport.params?.[name]);
    const b = show(newReport.params[name]);
    if (a !== b) out.push(`${name} ${a} -> ${b}`);
  }
  return out;
}

/** 3 significant digits or more, never exponent notation. */
export function formatNumber(v: number): string {
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

export function formatChange(pct: number | null): string {
  if (pct === null) return '-';
  const sign = pct > 0 ? '+' : '';
  return `${sign}${pct.toFixed(1)}%`;
}

/** CPU per GiB or per 1000 ops when known, else the plain seconds of the measurement. */
export function formatCpu(f: Figure): string {
  const cpu = f.cpuPer?.seconds ?? f.cpuSeconds;
  if (cpu === undefined) return '';
  const parts = Object.entries(cpu).map(([name, s]) => `${name} ${s.toFixed(2)}`);
  const per = f.cpuPer === undefined ? 's' : `s/${f.cpuPer.per}`;
  return `${parts.join('  ')}  (${per})`;
}

function formatChecks(f: Figure): string {
  const parts = (f.checks ?? []).map((c) => `${c.name} ${c.passed ? 'ok' : 'FAILED'}`);
  if (f.note !== undefined) parts.push(f.note);
  return parts.join(', ');
}

export function formatLatency(f: Figure): string {
  if (f.latency === undefined) return '';
  return `${formatNumber(f.latency.p50Ms)}/${formatNumber(f.latency.p99Ms)}`;
}

export function formatTarget(t: FigureTarget | undefined): string {
  if (t === undefined) return '';
  const bound = t.better === 'higher' ? '>=' : '<=';
  const ratio = t.ratioMin !== undefined ? ` & ratio>=${t.ratioMin.toFixed(2)}` : '';
  return `${bound}${formatNumber(t.value)}${ratio}`;
}

export function formatMet(t: FigureTarget | undefined): string {
  if (t === undefined) return '';
  return t.met ? 'met' : 'NOT met';
}

function figureRow(f: Figure, byId: Map<string, Figure>, change?: Change): string[] {
  const limit = f.limitId !== undefined ? byId.get(f.limitId) : undefined;
  const row = [
    f.id,
    `${formatNumber(f.value)} ${f.unit}`,
    f.mibPerS !== undefined ? formatNumber(f.mibPerS) : '',
    formatLatency(f),
    limit !== undefined ? `${limit.id} ${formatNumber(limit.value)}` : '',
    f.ratio !== undefined ? f.ratio.toFixed(2) : '',
    f.target?.mooseFs != null ? formatNumber(f.target.mooseFs) : '',
    formatTarget(f.target),
    formatMet(f.target),
    formatCpu(f),
    formatChecks(f),
  ];
  if (change !== undefined) {
    row.push(change.oldValue !== null ? formatNumber(change.oldValue) : 'new');
    row.push(formatChange(change.changePct));
  }
  return row;
}

/** Columns padded to their widest cell; numbers right-aligned, text left-aligned. */
export function renderColumns(rows: string[][], rightAligned: ReadonlySet<number>): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, c.length); });
  return rows.map((r) => r.map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!)
    : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

function headerLines(report: BenchReport): string[] {
  const p = Object.entries(report.params)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`).join(' ');
  const h = report.host;
  const c = report.cluster;
  const cs = c.chunkservers === null ? '' : `, ${c.chunkservers} chunkservers`;
  return [
    `antler-bench ${report.version}  ${report.startedAt}`,
    `params: ${p}`,
    `host: ${h.hostname}, ${h.cpus} x ${h.cpuModel}, node ${h.node}, linux ${h.kernel}, ` +
      `load ${(h.loadAverage ?? []).map((l) => l.toFixed(2)).join(' ')} at start`,
    `cluster: ${c.kind === 'own' ? 'started by the bench' : 'existing'} at ${c.masterAddr}${cs}`,
    '', '',
  ];
}

/** The table of a run; with `changes`, two more columns: the old value and the change. */
export function formatTable(report: BenchReport, changes?: Change[]): string {
  const byId = new Map(report.figures.map((f) => [f.id, f]));
  const changeById = new Map((changes ?? []).map((c) => [c.id, c]));
  const head = ['figure', 'result', 'MiB/s', 'p50/p99 ms', 'limit', 'ratio', 'MooseFS',
    'target', 'met', 'cpu', 'checks'];
  if (changes !== undefined) head.push('old', 'change');
  const rows = [head];
  for (const f of report.figures) {
    rows.push(figureRow(f, byId, changes !== undefined ? changeById.get(f.id) : undefined));
  }
  const right = new Set([1, 2, 3, 5, 6, 7, ...(changes !== undefined ? [11, 12] : [])]);
  let text = headerLines(report).join('\n') + renderColumns(rows, right);
  const gone = (changes ?? []).filter((c) => c.newValue === null).map((c) => c.id);
  if (gone.length > 0) text += `not in this run (only in the old one): ${gone.join(', ')}\n`;
  text += `MooseFS: ${REFERENCE_NAME}; target ${TARGET_FACTOR} x MooseFS (upper end of a ` +
    'range) or a goal stated directly\n';
  return text;
}
