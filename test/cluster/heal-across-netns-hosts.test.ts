// Goal: a chunkserver whose network link drops (the process keeps running) costs no data: every
// file reads right, the master copies its chunks elsewhere until goal 2 holds again, and when
// the link comes back the surplus copies are removed, leaving exactly 2 per chunk.
// Method: one master host, four chunkserver hosts, each a network namespace on one bridge; the
// test process is the client host, with its own veth into the bridge. 300 MiB at goal 2; one
// chunkserver host's bridge port is taken down, later up again. The master's health matrix
// (CLTOMA_HEALTH) and the chunk files on disk are polled with bounded waits. Where namespaces
// are unavailable (not root, no `ip`), the same steps run on loopback with the server stopped
// and started instead of its link cut.
import fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Client } from '@antlerfs/client';
import { ChunkserverState } from '@antlerfs/protocol';
import { startCluster, type Cluster } from '../harness/cluster.ts';
import { MIB, contentSha256 } from '../harness/data.ts';
import { readSha256, writeContent } from '../harness/files.ts';
import { startHostNet } from '../harness/netns.ts';
import { waitUntil } from '../harness/wait.ts';

const CHUNKSERVERS = 4;
const FILES = 10;
const FILE_BYTES = 30 * MIB;
const GOAL = 2;
/** The master declares a silent chunkserver lost after this long. */
const CS_TIMEOUT_MS = 3000;
/** Bound of every wait: loss noticed, copies made, link back, surplus removed. */
const WAIT_MS = 30_000;
/** Poll interval of the timed waits: the precision of the printed re-replication time. */
const POLL_MS = 20;

/** Counts of goal-2 chunks by valid copies, as the master reports them. */
async function goalRow(client: Client): Promise<number[]> {
  return (await client.health()).matrix[String(GOAL)] ?? [];
}

/** True when every chunk has exactly GOAL valid copies. */
function exactlyAtGoal(row: number[]): boolean {
  return row.every((n, copies) => copies === GOAL ? n === FILES : n === 0);
}

async function checkAllFiles(client: Client): Promise<void> {
  for (let i = 0; i < FILES; i++) {
    const got = await readSha256(client, `/net/f${i}`);
    assert.is(got.sizeBytes, FILE_BYTES, `size of f${i}`);
    assert.is(got.sha256, contentSha256(i, FILE_BYTES), `sha256 of f${i}`);
  }
}

/** Is the master listing chunkserver `host:port` as connected? */
async function isOnline(client: Client, host: string, port: number): Promise<boolean> {
  const s = (await client.chunkservers()).find((c) => c.host === host && c.port === port);
  return s !== undefined && s.state !== ChunkserverState.LOST;
}

/** Wall-clock ms of the master's last `chunkserver lost` line for `host:port`, if any. */
function lostLoggedAt(cluster: Cluster, host: string, port: number): number | undefined {
  const lines = fs.readFileSync(cluster.master.logFile, 'utf8').split('\n')
    .filter((l) => l.includes('chunkserver lost') && l.includes(`host=${host} port=${port}`));
  const at = Date.parse(lines.at(-1)?.split(' ')[0] ?? '');
  return Number.isFinite(at) ? at : undefined;
}

function bytesOn(cluster: Cluster, i: number): number {
  return cluster.chunkFiles(i).length * FILE_BYTES;
}

test('a dropped chunkserver link heals to goal 2; surplus goes when it returns', async () => {
  await using net = await startHostNet(['m', 'cs1', 'cs2', 'cs3', 'cs4']);
  const h = net.hosts;
  await using cluster = await startCluster({
    chunkservers: CHUNKSERVERS,
    // Chunk files are counted as the files' copies: no empty chunks made ahead.
    masterArgs: ['--replication-loop-ms', '200', '--chunkserver-timeout-ms', String(CS_TIMEOUT_MS),
      '--chunk-pool-size', '0'],
    hosts: net.isolated
      ? { master: h.m!, chunkservers: [h.cs1!, h.cs2!, h.cs3!, h.cs4!] }
      : undefined,
  });
  const client = await cluster.client();
  await client.mkdir('/net');
  await client.setGoal('/net', GOAL);
  for (let i = 0; i < FILES; i++) {
    await writeContent(client, `/net/f${i}`, { seed: i, sizeBytes: FILE_BYTES });
  }
  await waitUntil('every chunk written with 2 copies', async () =>
    exactlyAtGoal(await goalRow(client)) || undefined, { timeoutMs: WAIT_MS });
  // The host holding the most copies is cut (by chance one may hold none).
  const held = cluster.chunkservers.map((_, i) => bytesOn(cluster, i));
  const victim = held.indexOf(Math.max(...held));
  const victimName = `cs${victim + 1}`;
  const victimPort = Number(cluster.chunkservers[victim]!.ready.dataPort);
  const victimHost = net.hosts[victimName]!.addr;
  const lostBytes = held[victim]!;
  assert.ok(lostBytes > 0, 'the cut host holds copies');

  const copiedBefore = (await client.health()).replication.bytesDone;
  const cutAt = Date.now();
  if (net.isolated) net.cut(victimName);
  else await cluster.stopChunkserver(victim);
  // The master's own log line dates the loss; polling its lists would lag the copying.
  const lostAt = await waitUntil('the master logs the lost host', () =>
    lostLoggedAt(cluster, victimHost, victimPort), { timeoutMs: WAIT_MS, intervalMs: POLL_MS });
  // Reads run while the master copies. The matrix may lag the loss for a moment, so "restored"
  // also needs a new copy of every lost one (each chunk is FILE_BYTES) and an idle queue.
  const [healedAt] = await Promise.all([
    waitUntil('goal 2 restored without the cut host', async () => {
      const health = await client.health();
      const r = health.replication;
      const done = exactlyAtGoal(health.matrix[String(GOAL)] ?? []) && r.queue === 0 &&
        r.running === 0 && r.bytesDone - copiedBefore >= lostBytes;
      return done && Date.now();
    }, { timeoutMs: WAIT_MS, intervalMs: POLL_MS }),
    checkAllFiles(client),
  ]);
  const healedSeconds = Math.max(healedAt - lostAt, POLL_MS) / 1000;
  const copied = (await client.health()).replication.bytesDone - copiedBefore;
  console.log(`re-replication: ${(lostBytes / MIB).toFixed(0)} MiB of copies lost, ` +
    `${(copied / MIB).toFixed(1)} MiB copied in ${healedSeconds.toFixed(2)} s ` +
    `(±${POLL_MS} ms) after the master dropped the host ` +
    `(${((lostAt - cutAt) / 1000).toFixed(2)} s after the cut): ` +
    `${(copied / 1e6 / healedSeconds).toFixed(1)} MB/s`);
  await checkAllFiles(client);

  if (net.isolated) net.heal(victimName);
  else await cluster.startChunkserver(victim);
  await waitUntil('the host is back and every chunk has exactly 2 copies, on disk too', async () =>
    (await isOnline(client, victimHost, victimPort) &&
      exactlyAtGoal(await goalRow(client)) &&
      cluster.chunkFiles().length === FILES * GOAL) || undefined, { timeoutMs: WAIT_MS });
  await checkAllFiles(client);
});

test.run();
