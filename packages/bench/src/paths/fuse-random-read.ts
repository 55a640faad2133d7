// 4 KiB random reads through the mount with fio on the mount's goal-1 sequential file:
// RANDOM_READ_DEPTH reads in flight. With O_DIRECT accepted (the mount asks the kernel for
// asynchronous direct I/O), libaio with iodepth 8 keeps 8 in flight from one job; otherwise 8
// psync jobs of one read each do. The label says which. IOPS, fio's completion latency
// percentiles, and fio's own error count and read total as checks.
import { assert } from '@antlerfs/protocol';
import { dropPageCaches } from '../page-cache.ts';
import type { Check, Figure } from '../report.ts';
import { RANDOM_READ_BYTES, RANDOM_READ_DEPTH } from './path-context.ts';
import { fuseMeter, onMount, quote, runTool, tryTool, type FuseRun } from './fuse-run.ts';
import { fuseSeqFile } from './fuse-seq.ts';

/** The part of fio's JSON output read here. */
interface FioJob {
  error: number;
  read: {
    iops: number; io_bytes: number; total_ios: number; runtime: number;
    clat_ns: { percentile?: Record<string, number> };
  };
}

interface Engine {
  label: string;
  args: string;
  jobs: number;
}

/** libaio + O_DIRECT when the mount takes O_DIRECT opens, else 8 psync jobs. */
async function pickEngine(f: FuseRun, file: string): Promise<Engine> {
  const probe = await tryTool(f,
    `dd if=${quote(file)} of=/dev/null bs=${RANDOM_READ_BYTES} count=1 iflag=direct status=none`);
  if (probe.code === 0) {
    return { label: `fio libaio direct=1 iodepth=${RANDOM_READ_DEPTH}`, jobs: 1,
      args: `--ioengine=libaio --direct=1 --iodepth=${RANDOM_READ_DEPTH}` };
  }
  return { label: `fio psync numjobs=${RANDOM_READ_DEPTH} (no O_DIRECT)`, jobs: RANDOM_READ_DEPTH,
    args: `--ioengine=psync --direct=0 --invalidate=1 --numjobs=${RANDOM_READ_DEPTH}` };
}

function parseFio(stdout: string): FioJob {
  // fio may print notes before its JSON document.
  const start = stdout.indexOf('{');
  assert(start >= 0, 'fio printed JSON');
  const doc = JSON.parse(stdout.slice(start)) as { jobs?: FioJob[] };
  const job = doc.jobs?.[0];
  if (job === undefined) throw new Error('fio printed no job');
  return job;
}

export async function runFuseRandomRead(f: FuseRun): Promise<Figure> {
  const { ctx } = f;
  const size = ctx.params.sizeBytes;
  const file = onMount(f, fuseSeqFile(ctx, 1));
  const engine = await pickEngine(f, file);
  const perJob = Math.ceil(ctx.params.randomReads / engine.jobs);
  const total = perJob * engine.jobs;
  await dropPageCaches();
  const what = `mount: 4 KiB random reads, ${engine.label}`;
  ctx.progress.begin(what);
  const cpu = fuseMeter(f);
  const t0 = performance.now();
  const out = await runTool(f, `fio --name=randread --filename=${quote(file)} --rw=randread ` +
    `--bs=${RANDOM_READ_BYTES} --size=${size} --number_ios=${perJob} ${engine.args} ` +
    '--randrepeat=1 --norandommap --group_reporting --output-format=json');
  const wallSeconds = (performance.now() - t0) / 1000;
  const cpuSeconds = cpu();
  const job = parseFio(out);
  const seconds = job.read.runtime > 0 ? job.read.runtime / 1000 : wallSeconds;
  const p = job.read.clat_ns.percentile ?? {};
  const p50 = p['50.000000'];
  const p99 = p['99.000000'];
  ctx.progress.end(`${job.read.iops.toFixed(0)} IOPS`);
  const checks: Check[] = [{
    name: 'fio', passed: job.error === 0 && job.read.total_ios === total,
    detail: `error ${job.error}, ${job.read.total_ios} of ${total} reads`,
  }];
  return {
    id: 'fuse.random-read.4k', kind: 'path', label: `${what}, IOPS`, value: job.read.iops,
    unit: 'ops/s', seconds, ops: job.read.total_ios, bytes: job.read.io_bytes, cpuSeconds,
    limitId: 'raw-disk.read4k',
    ...(p50 !== undefined && p99 !== undefined
      ? { latency: { p50Ms: p50 / 1e6, p99Ms: p99 / 1e6, count: job.read.total_ios } } : {}),
    checks,
  };
}
