// Goal: SIGKILL of the master in the middle of 20,000 metadata operations from 4 concurrent
// clients loses no acknowledged operation and leaves no half-applied one.
// Method: each client runs units of create -> chmod -> rename (-> unlink for every 4th unit) on
// its own names and logs each acknowledgement. The master is killed once a share of the
// operations is acknowledged and restarted on the same folder and ports; the clients go on. An
// operation that failed (the client gave up while the master was away) may or may not have been
// applied, so its unit allows exactly those two states; every other unit must be in the state
// its acknowledged operations produced.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Client } from '@antlerfs/client';
import { startCluster } from '../harness/cluster.ts';
import { waitUntil } from '../harness/wait.ts';

const CLIENTS = 4;
const OPS_TOTAL = 20_000;
const OPS_PER_CLIENT = OPS_TOTAL / CLIENTS;
/** Kill the master once this many operations are acknowledged (from all clients). */
const KILL_AFTER_ACKED = 6_000;
const PROGRESS_TIMEOUT_MS = 120_000;

/** States of a unit after its first p operations: what the directory shows. */
type UnitState = 'none' | 'f644' | 'f600' | 'g600';
const STATE_AFTER: UnitState[] = ['none', 'f644', 'f600', 'g600', 'none'];

interface UnitLog { opsPlanned: number; acked: number; failedOp: number | null }

function opsOf(i: number): number {
  return i % 4 === 0 ? 4 : 3;
}

async function runClient(c: Client, dir: string, counter: { acked: number; failed: number }):
  Promise<UnitLog[]> {
  const units: UnitLog[] = [];
  let ops = 0;
  for (let i = 0; ops < OPS_PER_CLIENT; i++) {
    const unit: UnitLog = { opsPlanned: opsOf(i), acked: 0, failedOp: null };
    units.push(unit);
    const steps = [
      async () => (await c.open(`${dir}/f${i}`, 'wx', { mode: 0o644 })).close(),
      () => c.chmod(`${dir}/f${i}`, 0o600),
      () => c.rename(`${dir}/f${i}`, `${dir}/g${i}`),
      () => c.unlink(`${dir}/g${i}`),
    ].slice(0, unit.opsPlanned);
    for (let j = 0; j < steps.length; j++) {
      ops++;
      try {
        await steps[j]!();
        unit.acked++;
        counter.acked++;
      } catch {
        unit.failedOp = j;
        counter.failed++;
        ops += steps.length - j - 1;
        break;
      }
    }
  }
  return units;
}

function observed(names: Map<string, number>, i: number): UnitState | 'both' {
  const f = names.get(`f${i}`);
  const g = names.get(`g${i}`);
  if (f !== undefined && g !== undefined) return 'both';
  if (f !== undefined) return f === 0o644 ? 'f644' : 'f600';
  if (g !== undefined) return 'g600';
  return 'none';
}

test('SIGKILL mid 20,000 metadata operations: every acknowledged one survives', async () => {
  await using cluster = await startCluster({ chunkservers: 0 });
  const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, k) => cluster.client(`c${k}`)));
  for (let k = 0; k < CLIENTS; k++) await clients[0]!.mkdir(`/c${k}`);
  const counter = { acked: 0, failed: 0 };
  const runs = clients.map((c, k) => runClient(c, `/c${k}`, counter));
  await waitUntil(`${KILL_AFTER_ACKED} acknowledged operations`,
    () => counter.acked >= KILL_AFTER_ACKED, { timeoutMs: PROGRESS_TIMEOUT_MS });
  assert.is(await cluster.stopMaster('SIGKILL'), 'SIGKILL');
  const ackedAtKill = counter.acked;
  await cluster.startMaster();
  const logs = await Promise.all(runs);
  assert.ok(counter.acked > ackedAtKill, 'operations went on after the restart');

  const reader = await cluster.client('reader');
  const problems: string[] = [];
  for (let k = 0; k < CLIENTS; k++) {
    const names = new Map((await reader.readdir(`/c${k}`)).map((e) => [e.name, e.attr.mode & 0o777]));
    const units = logs[k]!;
    for (let i = 0; i < units.length; i++) {
      const u = units[i]!;
      const allowed = u.failedOp === null
        ? [STATE_AFTER[u.opsPlanned]!]
        : [STATE_AFTER[u.failedOp]!, STATE_AFTER[u.failedOp + 1]!];
      const seen = observed(names, i);
      if (!allowed.includes(seen as UnitState)) {
        problems.push(`/c${k} unit ${i}: ${seen}, expected ${allowed.join(' or ')} (acked ${u.acked})`);
      }
      names.delete(`f${i}`);
      names.delete(`g${i}`);
    }
    for (const extra of names.keys()) problems.push(`/c${k}/${extra}: no operation made it`);
  }
  assert.equal(problems.slice(0, 20), [], `${problems.length} problems; ${counter.acked} ` +
    `acknowledged, ${counter.failed} failed while the master was away`);
  process.stdout.write(`acknowledged ${counter.acked} operations (${ackedAtKill} before the kill),` +
    ` ${counter.failed} failed\n`);
});

test.run();
