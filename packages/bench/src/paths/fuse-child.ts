// One phase of the mount's file workloads, run in a child process by fuse-files.ts so that
// nothing of the bench (its event loop, its client sessions) sits between the calls: one thread
// of synchronous node:fs calls, as a program on the mount would make them. Usage:
//   fuse-child.ts PHASE DIR COUNT   (PHASE: create stat rename unlink small-write small-read)
// It prints one JSON line: seconds, ops, latency, wrong answers, its own CPU seconds, and for
// small-read the sha256 of every file (each timed read is compared with the pattern; the hash
// is taken in a second pass, not timed, as the library's path does). The sync calls are the
// point of this file.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { assertNever } from '@antlerfs/protocol';
import { LatencyRecorder, type Latency } from '../percentiles.ts';
import { SMALL_FILE_BYTES } from './path-context.ts';
import { smallFilePattern } from './small-files.ts';

export const CHILD_PHASES = [
  'create', 'stat', 'rename', 'unlink', 'small-write', 'small-read',
] as const;
export type ChildPhase = (typeof CHILD_PHASES)[number];

export interface ChildResult {
  phase: ChildPhase;
  seconds: number;
  ops: number;
  latency: Latency;
  /** Answers that contradict the earlier phases (a stat of a non-empty file, wrong bytes). */
  wrong: number;
  cpuSeconds: number;
  sha256: string;
}

const pattern = smallFilePattern();
const CREATE_FLAGS = fs.constants.O_CREAT | fs.constants.O_WRONLY;

/** One op of `phase` on item i; returns false when its answer is wrong. */
function op(phase: ChildPhase, dir: string, i: number, count: number, buf: Buffer): boolean {
  const f = path.join(dir, `f${i}`);
  switch (phase) {
    case 'create':
      fs.closeSync(fs.openSync(f, CREATE_FLAGS, 0o644));
      return true;
    case 'stat': {
      const st = fs.statSync(f);
      return st.isFile() && st.size === 0;
    }
    case 'rename':
      fs.renameSync(f, path.join(dir, `r${i}`));
      return true;
    case 'unlink':
      fs.unlinkSync(path.join(dir, `r${i}`));
      return true;
    case 'small-write': {
      const fd = fs.openSync(f, 'w');
      try {
        return fs.writeSync(fd, pattern.io(i, count * SMALL_FILE_BYTES)) === SMALL_FILE_BYTES;
      } finally {
        fs.closeSync(fd);
      }
    }
    case 'small-read': {
      const fd = fs.openSync(f, 'r');
      let n: number;
      try {
        n = fs.readSync(fd, buf, 0, SMALL_FILE_BYTES, 0);
      } finally {
        fs.closeSync(fd);
      }
      const data = buf.subarray(0, n);
      return n === SMALL_FILE_BYTES &&
        pattern.matches(i * SMALL_FILE_BYTES, data, count * SMALL_FILE_BYTES);
    }
    default:
      return assertNever(phase, 'phase');
  }
}

/** sha256 of every file read back end to end, in a second pass that is not timed. */
function hashFiles(dir: string, count: number): string {
  const hash = crypto.createHash('sha256');
  for (let i = 0; i < count; i++) hash.update(fs.readFileSync(path.join(dir, `f${i}`)));
  return hash.digest('hex');
}

export function runPhase(phase: ChildPhase, dir: string, count: number): ChildResult {
  const latency = new LatencyRecorder(count);
  const buf = Buffer.allocUnsafe(SMALL_FILE_BYTES);
  let wrong = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    if (!op(phase, dir, i, count, buf)) wrong++;
    latency.since(start);
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    phase, seconds, ops: count, latency: latency.summary(), wrong,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    sha256: phase === 'small-read' ? hashFiles(dir, count) : '',
  };
}

function main(argv: string[]): void {
  const [phase, dir, countText] = argv;
  const count = Number(countText);
  if (!CHILD_PHASES.includes(phase as ChildPhase) || dir === undefined ||
    !Number.isInteger(count) || count < 1) {
    process.stderr.write(`usage: fuse-child.ts ${CHILD_PHASES.join('|')} DIR COUNT\n`);
    process.exitCode = 2;
    return;
  }
  process.stdout.write(JSON.stringify(runPhase(phase as ChildPhase, dir, count)) + '\n');
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  main(process.argv.slice(2));
}
