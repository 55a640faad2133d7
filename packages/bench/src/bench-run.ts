// One bench run: the machine's limits first, then the cluster (started here or existing), then
// every selected path; then the report: a table on stdout, a JSON file and, with --html, an HTML
// page. A path that fails becomes a figure of 0 with a failed check, so the other paths still
// run and the run exits 1.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@antlerfs/client';
import { assertNever, InodeType } from '@antlerfs/protocol';
import { existingCluster, startOwnCluster, type ClusterTarget } from './cluster-target.ts';
import { BENCH_VERSION, type BenchParams, type LimitName, type PathName } from './config.ts';
import { DataPattern } from './data-pattern.ts';
import { Deadline } from './deadline.ts';
import { measureChecksumSpeed } from './limits/checksum-speed.ts';
import { measureLoopbackDisk } from './limits/loopback-disk.ts';
import { measureLoopbackTcp } from './limits/loopback-tcp.ts';
import { measureRawDisk } from './limits/raw-disk.ts';
import { writeHtmlReport } from './html-report.ts';
import { CS_DIRECT_CHAINS, runCsDirect } from './paths/cs-direct.ts';
import { runFuse } from './paths/fuse.ts';
import { runMasterMemory } from './paths/master-memory.ts';
import { runMetadataOps } from './paths/metadata-ops.ts';
import { SEQ_GOALS, type PathContext } from './paths/path-context.ts';
import { runRandomRead } from './paths/random-read.ts';
import { runSeqRead } from './paths/seq-read.ts';
import { runSeqWrite } from './paths/seq-write.ts';
import { runSmallFiles } from './paths/small-files.ts';
import { runS3PutGet } from './paths/s3-put-get.ts';
import { dropPageCaches } from './page-cache.ts';
import { Progress } from './progress.ts';
import {
  allChecks, compareReports, failedFigure, fillDerived, formatTable, paramDifferences,
  readReport, writeReport, type BenchReport, type Figure,
} from './report.ts';

interface RunState {
  params: BenchParams;
  progress: Progress;
  scratchDir: string;
  pattern: DataPattern;
  /** sha256 of a --size file of the pattern, computed once, when seq-read first needs it. */
  expectedSha256: () => string;
}

type FigureKey = Pick<Figure, 'id' | 'kind' | 'unit'>;

async function measureLimit(s: RunState, name: LimitName): Promise<Figure[]> {
  const deadline = new Deadline(name, s.params.pathTimeoutMs);
  const { progress } = s;
  switch (name) {
    case 'raw-disk':
      return measureRawDisk({
        dir: s.scratchDir, sizeBytes: s.params.sizeBytes, pattern: s.pattern, deadline, progress,
        randomReads: s.params.randomReads, syncCount: s.params.metadataOpsPerClient,
        smallFiles: s.params.smallFiles,
      });
    case 'loopback-tcp': {
      const memory = await measureLoopbackTcp({ totalBytes: s.params.loopbackBytes, deadline,
        progress });
      // Into a file of the size the write paths write, on the filesystem of their disks.
      await dropPageCaches();
      const disk = await measureLoopbackDisk({ dir: s.scratchDir, totalBytes: s.params.sizeBytes,
        deadline, progress });
      return [memory, disk];
    }
    case 'checksum-speed':
      return [measureChecksumSpeed({ bytesPerRound: s.params.checksumBytes, deadline, progress })];
    default:
      return assertNever(name, 'limit');
  }
}

/** Runs one limit or path; a throw becomes a failed figure, reported, and the run goes on. */
async function guarded(
  s: RunState, what: FigureKey, run: () => Promise<Figure | Figure[]>,
): Promise<Figure[]> {
  try {
    // Every measurement starts from the same memory: on a virtual machine, pages the guest
    // touches for the first time cost the writer several times more than reused ones, so a
    // path run after gigabytes of fresh page cache would pay for its predecessors.
    await dropPageCaches();
    const r = await run();
    return Array.isArray(r) ? r : [r];
  } catch (err) {
    const detail = err instanceof Error ? err.stack ?? err.message : String(err);
    s.progress.note(`${what.id} failed: ${detail}`);
    return [failedFigure(what, err)];
  }
}

interface PathJob {
  what: FigureKey;
  run: () => Promise<Figure | Figure[]>;
}

/** The measurements of one path: each goal, or each number of concurrent clients. */
function pathJobs(ctx: PathContext, name: PathName): PathJob[] {
  switch (name) {
    case 'seq-write':
      return SEQ_GOALS.map((goal) => ({
        what: { id: `seq-write.goal${goal}`, kind: 'path', unit: 'MB/s' },
        run: () => runSeqWrite(ctx, goal),
      }));
    case 'seq-read':
      return SEQ_GOALS.map((goal) => ({
        what: { id: `seq-read.goal${goal}`, kind: 'path', unit: 'MB/s' },
        run: () => runSeqRead(ctx, goal),
      }));
    case 'metadata-ops':
      return ctx.params.metadataClientCounts.map((n) => ({
        what: { id: `metadata.c${n}`, kind: 'path', unit: 'ops/s' },
        run: () => runMetadataOps(ctx, n),
      }));
    case 'random-read':
      return [{ what: { id: 'random-read.4k', kind: 'path', unit: 'ops/s' },
        run: () => runRandomRead(ctx) }];
    case 'small-files':
      return [{ what: { id: 'small-files', kind: 'path', unit: 'ops/s' },
        run: () => runSmallFiles(ctx) }];
    case 'cs-direct':
      return CS_DIRECT_CHAINS.map((chain) => ({
        what: { id: `cs-direct.chain${chain}`, kind: 'path', unit: 'MB/s' },
        run: () => runCsDirect(ctx, chain),
      }));
    case 'fuse':
      return [{ what: { id: 'fuse', kind: 'path', unit: 'MB/s' }, run: () => runFuse(ctx) }];
    case 's3-put-get':
      return [{
        what: { id: 's3-put-get', kind: 'path', unit: 'ops/s' },
        run: () => runS3PutGet(ctx, ctx.masterAddr),
      }];
    case 'master-memory':
      return [{ what: { id: 'master-memory', kind: 'path', unit: 'MiB/Mfiles' },
        run: () => runMasterMemory(ctx, ctx.monitorAddr ?? undefined) }];
    default:
      return assertNever(name, 'path');
  }
}

function runFolderName(now: Date): string {
  return `/antler-bench-${now.toISOString().replace(/[:.]/g, '-')}-${process.pid}`;
}

/** Starts or reaches the cluster, runs the paths, and always stops what it started. */
async function measurePaths(s: RunState, target: ClusterTarget, now: Date): Promise<Figure[]> {
  const { params } = s;
  const connect = (): Promise<Client> => Client.connect({ master: target.masterAddr });
  const root = runFolderName(now);
  const admin = await connect();
  const figures: Figure[] = [];
  try {
    await admin.mkdir(root, { recursive: true });
    const needsSha = params.paths.includes('seq-read') || params.paths.includes('fuse');
    const ctx: PathContext = {
      params, connect, root, pattern: s.pattern, progress: s.progress,
      expectedSha256: needsSha ? s.expectedSha256() : '', processes: target.processes,
      masterAddr: target.masterAddr, monitorAddr: target.monitorAddr, scratchDir: s.scratchDir,
    };
    for (const name of params.paths) {
      for (const job of pathJobs(ctx, name)) figures.push(...await guarded(s, job.what, job.run));
    }
    if (target.kind === 'external') await removeRunFolder(s, admin, root);
  } finally {
    await admin.close();
  }
  return figures;
}

/** Entries of the run's folder removed at most (small files, sequential files, folders). */
const RUN_ENTRIES_MAX = 100_000;

/**
 * On a cluster that outlives the run, the run's folder goes: a walk without recursion, files
 * first, then each folder once it is empty (deepest first).
 */
async function removeRunFolder(s: RunState, client: Client, root: string): Promise<void> {
  try {
    const folders = [root];
    let removed = 0;
    for (let i = 0; i < folders.length && removed < RUN_ENTRIES_MAX; i++) {
      for (const e of await client.readdir(folders[i]!)) {
        const p = `${folders[i]}/${e.name}`;
        if (e.attr.type === InodeType.DIR) {
          folders.push(p);
        } else {
          await client.unlink(p);
          removed++;
        }
      }
    }
    for (const folder of folders.reverse()) await client.rmdir(folder);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    s.progress.note(`could not remove ${root}: ${why}`);
  }
}

function hostInfo(): BenchReport['host'] {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(), cpus: cpus.length, cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    node: process.version, kernel: os.release(), loadAverage: os.loadavg(),
  };
}

function reportParams(p: BenchParams): BenchReport['params'] {
  return {
    sizeBytes: p.sizeBytes, ioSizeBytes: p.ioSizeBytes, quick: p.quick,
    limits: p.limits, paths: p.paths, seqGoals: [...SEQ_GOALS],
    metadataOpsPerClient: p.metadataOpsPerClient, metadataClientCounts: p.metadataClientCounts,
    smallFiles: p.smallFiles, randomReads: p.randomReads,
    loopbackBytes: p.loopbackBytes, checksumBytesPerRound: p.checksumBytes,
    pathTimeoutS: p.pathTimeoutMs / 1000,
  };
}

/** Measures everything selected and returns the report (ratios filled, nothing written). */
export async function runBench(params: BenchParams, progress: Progress): Promise<BenchReport> {
  const started = new Date();
  const host = hostInfo();
  const scratchDir = fs.mkdtempSync(path.join(os.tmpdir(), 'antler-bench-'));
  const removeScratch = (): void => fs.rmSync(scratchDir, { recursive: true, force: true });
  process.once('exit', removeScratch);
  const pattern = new DataPattern(params.ioSizeBytes);
  let sha: string | null = null;
  const s: RunState = {
    params, progress, scratchDir, pattern,
    expectedSha256: () => (sha ??= pattern.sha256(params.sizeBytes)),
  };
  const figures: Figure[] = [];
  let target: ClusterTarget | null = null;
  try {
    for (const name of params.limits) {
      const unit = name === 'checksum-speed' ? 'GB/s' : 'MB/s';
      const what: FigureKey = { id: name, kind: 'limit', unit };
      figures.push(...await guarded(s, what, () => measureLimit(s, name)));
    }
    if (params.paths.length > 0) {
      // A cluster that does not start or answer is one failed figure; the limits still print.
      figures.push(...await guarded(s, { id: 'cluster', kind: 'path', unit: 'MB/s' }, async () => {
        progress.begin(params.master === null
          ? `starting a cluster with ${params.chunkservers} chunkservers`
          : `using the cluster of ${params.master}`);
        target = params.master === null
          ? await startOwnCluster(params.chunkservers) : existingCluster(params.master);
        progress.end(`master at ${target.masterAddr}`);
        return measurePaths(s, target, started);
      }));
    }
  } finally {
    await (target as ClusterTarget | null)?.stop();
    removeScratch();
  }
  fillDerived(figures);
  return {
    tool: 'antler-bench', version: BENCH_VERSION, startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(), params: reportParams(params), host,
    cluster: {
      kind: params.master === null ? 'own' : 'external',
      masterAddr: (target as ClusterTarget | null)?.masterAddr ?? params.master ?? '',
      chunkservers: (target as ClusterTarget | null)?.chunkservers ?? null,
    },
    figures,
  };
}

/** The whole command: run, write the JSON, print the table. Returns the exit code. */
export async function benchMain(params: BenchParams): Promise<number> {
  const progress = new Progress();
  // Exit hooks (the harness's and ours) stop the daemons and remove temporary data.
  const interrupted = (signal: string): void => {
    progress.note(`${signal}: stopping`);
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  // Read the old run first: a wrong file name should not cost a whole run.
  let old: BenchReport | null = null;
  try {
    if (params.compareFile !== null) old = readReport(params.compareFile);
  } catch (err) {
    process.stderr.write(`antler-bench: --compare: ${(err as Error).message}\n`);
    return 2;
  }
  const report = await runBench(params, progress);
  writeReport(report, params.outFile);
  const changes = old === null ? undefined : compareReports(old, report);
  process.stdout.write(formatTable(report, changes));
  if (old !== null) {
    process.stdout.write(`compared with ${params.compareFile} of ${old.startedAt}\n`);
    for (const d of paramDifferences(old, report)) process.stdout.write(`  params differ: ${d}\n`);
  }
  process.stdout.write(`results: ${params.outFile}\n`);
  if (params.htmlFile !== null) {
    writeHtmlReport(report, changes, params.htmlFile);
    process.stdout.write(`html report: ${params.htmlFile}\n`);
  }
  const failed = allChecks(report).filter((c) => !c.passed);
  for (const c of failed) {
    process.stderr.write(`antler-bench: check ${c.name} failed: ${c.detail}\n`);
  }
  return failed.length === 0 ? 0 : 1;
}
