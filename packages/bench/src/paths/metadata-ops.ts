// Metadata path: creates, stats, renames and unlinks per second, with 1 and with N concurrent
// client sessions. Each session works in its own folder, one op at a time, a fixed number of
// ops per kind; the kinds run one after another so each figure is one kind of op, with the
// latency of each op. The master alone answers these (no chunkserver is touched); a change is
// fsynced in its changelog before the reply, so the disk's fdatasync rate is the limit of
// creates, renames and unlinks (stats touch no disk: no limit).
import type { Client } from '@antlerfs/client';
import { assert, assertNever } from '@antlerfs/protocol';
import type { Deadline } from '../deadline.ts';
import { LatencyRecorder } from '../percentiles.ts';
import type { Figure } from '../report.ts';
import { cpuMeter, pathDeadline, type PathContext } from './path-context.ts';

const OP_KINDS = ['create', 'stat', 'rename', 'unlink'] as const;
type OpKind = (typeof OP_KINDS)[number];

interface Session {
  client: Client;
  dir: string;
}

async function doOp(kind: OpKind, s: Session, i: number): Promise<boolean> {
  switch (kind) {
    case 'create': {
      const fh = await s.client.open(`${s.dir}/f${i}`, 'w');
      await fh.close();
      return true;
    }
    case 'stat': {
      const attr = await s.client.stat(`${s.dir}/f${i}`);
      return attr.length === 0;
    }
    case 'rename':
      await s.client.rename(`${s.dir}/f${i}`, `${s.dir}/r${i}`);
      return true;
    case 'unlink':
      await s.client.unlink(`${s.dir}/r${i}`);
      return true;
    default:
      return assertNever(kind, 'op kind');
  }
}

interface PhaseResult {
  seconds: number;
  ops: number;
  /** Ops whose answer was not what the earlier ops imply (a stat of a non-empty file). */
  wrong: number;
  latency: LatencyRecorder;
}

async function runPhase(
  ctx: PathContext, kind: OpKind, sessions: Session[], deadline: Deadline,
): Promise<PhaseResult> {
  const opsPerSession = ctx.params.metadataOpsPerClient;
  const total = opsPerSession * sessions.length;
  let done = 0;
  let wrong = 0;
  const latency = new LatencyRecorder(total);
  const t0 = performance.now();
  await Promise.all(sessions.map(async (s) => {
    for (let i = 0; i < opsPerSession; i++) {
      deadline.check();
      const start = performance.now();
      if (!(await doOp(kind, s, i))) wrong++;
      latency.since(start);
      done++;
      ctx.progress.update(done, total, 'ops');
    }
  }));
  assert(done === total, 'every op ran');
  return { seconds: (performance.now() - t0) / 1000, ops: total, wrong, latency };
}

async function openSessions(ctx: PathContext, count: number): Promise<Session[]> {
  const sessions: Session[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const client = await ctx.connect();
      const dir = `${ctx.root}/meta-c${count}-s${i}`;
      sessions.push({ client, dir });
      await client.mkdir(dir, { recursive: true });
    }
  } catch (err) {
    await closeSessions(sessions);
    throw err;
  }
  return sessions;
}

async function closeSessions(sessions: Session[]): Promise<void> {
  await Promise.all(sessions.map((s) => Promise.resolve(s.client.close()).catch(() => undefined)));
}

/** Every op kind with `clientCount` concurrent sessions: one figure per kind. */
export async function runMetadataOps(ctx: PathContext, clientCount: number): Promise<Figure[]> {
  assert(clientCount >= 1, 'at least one client');
  const sessions = await openSessions(ctx, clientCount);
  const figures: Figure[] = [];
  try {
    for (const kind of OP_KINDS) {
      const what = `metadata ${kind}, ${clientCount} client${clientCount > 1 ? 's' : ''}`;
      ctx.progress.begin(what);
      const cpu = cpuMeter(ctx);
      const r = await runPhase(ctx, kind, sessions, pathDeadline(ctx, what));
      const cpuSeconds = cpu();
      const opsPerS = r.ops / r.seconds;
      ctx.progress.end(`${opsPerS.toFixed(0)} ops/s`);
      const checks = kind === 'stat'
        ? [{ name: 'stat', passed: r.wrong === 0, detail: `${r.wrong} of ${r.ops} not empty` }]
        : undefined;
      figures.push({
        id: `metadata.${kind}.c${clientCount}`, kind: 'path', label: `${what}, ops/s`,
        value: opsPerS, unit: 'ops/s', seconds: r.seconds, ops: r.ops, cpuSeconds,
        latency: r.latency.summary(), ...(checks ? { checks } : {}),
        ...(kind === 'stat' ? {} : { limitId: 'raw-disk.fdatasync' }),
      });
    }
  } finally {
    await closeSessions(sessions);
  }
  return figures;
}
