// Goal: the cluster heals itself, visibly. At goal 2 with ~100 MiB on three chunkservers:
// a SIGKILLed server's chunks still read right and get their second copy back elsewhere; when
// it returns, the extra copies go (every chunk has exactly 2); a flipped byte in one copy is
// found, reads stay right and the bad copy is replaced; a fourth, empty server gets chunks
// moved to it until the servers hold about the same; a drained server ends up DRAINED with
// every chunk at 2 copies elsewhere, and still marked after a master restart. The time and
// rate of the re-replication are printed.
// Method: a real cluster of four (one stopped before any write), the master's /api/health
// (chunk matrix, replication counters, server states) polled with bounded waits, sha256 of
// every file, chunk files on disk, CLTOMA_CHUNKSERVER_DRAIN sent on a plain client link.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CLTOMA_CHUNKSERVER_DRAIN, CLTOMA_HEALTH, CLTOMA_REGISTER, Logger, PAYLOAD_MAX_CLIENT_MASTER_BYTES,
  PROTOCOL_VERSION, connectLink,
} from '@antlerfs/protocol';
import { HOST, startCluster, type Cluster } from '../harness/cluster.ts';
import { MIB, contentSha256 } from '../harness/data.ts';
import { flipByte } from '../harness/faults.ts';
import { readSha256, writeContent } from '../harness/files.ts';
import { waitUntil } from '../harness/wait.ts';

const FILES = 50;
const FILE_BYTES = 2 * MIB;
/** Where the data of a chunk file starts (header and checksum table before it). */
const CHUNK_DATA_OFFSET = 12_288;
/** Bound of every wait for the cluster to heal (polled, not a threshold). */
const HEAL_WAIT_MS = 120_000;

interface Health {
  /** Passes of the master's chunk scan; the matrix and classes are the last pass's. */
  scan: { passes: number };
  matrix: Record<string, number[]>;
  classes: Record<string, number>;
  replication: Record<string, number>;
  drains: number[];
  chunkservers: {
    csId: number; state: string; copies: number; usagePercent: number; draining: boolean;
  }[];
}

async function health(cluster: Cluster): Promise<Health> {
  const res = await fetch(`http://${HOST}:${cluster.master.ready.monitorPort}/api/health`);
  assert.is(res.status, 200);
  return await res.json() as Health;
}

/** Chunks at goal 2 with exactly `copies` valid copies. */
function atGoal2(h: Health, copies: number): number {
  return h.matrix['2']?.[copies] ?? 0;
}

async function waitHealth(cluster: Cluster, what: string, ok: (h: Health) => boolean):
  Promise<Health> {
  return await waitUntil(what, async () => {
    const h = await health(cluster);
    return ok(h) ? h : false;
  }, { timeoutMs: HEAL_WAIT_MS });
}

async function checkFiles(cluster: Cluster, when: string): Promise<void> {
  const client = await cluster.client();
  for (let i = 0; i < FILES; i++) {
    const back = await readSha256(client, `/heal/f${i}`);
    assert.is(back.sha256, contentSha256(i, FILE_BYTES), `${when}: /heal/f${i} reads right`);
  }
}

function csIdOf(cluster: Cluster, i: number): number {
  return Number(cluster.chunkservers[i]!.ready.csId);
}

/** Marks a server for removal; returns the CLTOMA_HEALTH document seen right after. */
async function drain(cluster: Cluster, csId: number): Promise<Health> {
  const [host, port] = cluster.masterAddr.split(',')[0]!.split(':');
  const link = await connectLink(host!, Number(port), {
    kind: 'client-master', payloadMaxBytes: PAYLOAD_MAX_CLIENT_MASTER_BYTES,
    log: new Logger('drain'),
  });
  try {
    await link.call(CLTOMA_REGISTER, { clientName: 'drain', protocolVersion: PROTOCOL_VERSION });
    await link.call(CLTOMA_CHUNKSERVER_DRAIN, { csId, drain: 1 });
    const { body } = await link.call(CLTOMA_HEALTH, {});
    return JSON.parse(body.json) as Health;
  } finally {
    link.close('done');
  }
}

test('lost server, returning server, flipped byte, new server and drain all heal', async () => {
  await using cluster = await startCluster({
    chunkservers: 4,
    masterArgs: [
      '--balance-margin-percent', '0', '--replication-loop-ms', '500',
      '--chunkserver-timeout-ms', '3000',
    ],
    chunkserverArgs: ['--scrub-pass-min-ms', '1000', '--scrub-bytes-per-second', '1073741824'],
  });
  await cluster.stopChunkserver(3); // the empty newcomer of later
  const client = await cluster.client();
  await client.mkdir('/heal');
  await client.setGoal('/heal', 2);
  for (let i = 0; i < FILES; i++) {
    await writeContent(client, `/heal/f${i}`, { seed: i, sizeBytes: FILE_BYTES });
  }
  await waitHealth(cluster, 'every chunk at 2 copies after writing',
    (h) => atGoal2(h, 2) === FILES);

  // 1. A server dies: reads still work, and the second copies come back elsewhere.
  const lostCopies = (await health(cluster)).chunkservers
    .find((s) => s.csId === csIdOf(cluster, 0))!.copies;
  const before = (await health(cluster)).replication;
  const t0 = Date.now();
  const killedId = csIdOf(cluster, 0);
  await cluster.stopChunkserver(0, 'SIGKILL');
  const seenGone = await waitHealth(cluster, 'the killed server is seen gone',
    (h) => h.chunkservers.find((s) => s.csId === killedId)?.state !== 'online');
  await checkFiles(cluster, 'one server killed');
  // The matrix is the last scan pass's: one that started after the loss was seen counts.
  const healed = await waitHealth(cluster, 'every chunk at 2 copies again',
    (h) => h.scan.passes >= seenGone.scan.passes + 2 && atGoal2(h, 2) === FILES);
  const seconds = (Date.now() - t0) / 1000;
  const bytes = healed.replication.bytesDone! - before.bytesDone!;
  console.log(`re-replication: ${lostCopies} chunks, ${(bytes / MIB).toFixed(1)} MiB in ` +
    `${seconds.toFixed(1)} s (${(bytes / MIB / seconds).toFixed(1)} MiB/s end to end, ` +
    `rate over the last minute ${(healed.replication.rateBytesPerSecond! / MIB).toFixed(1)} ` +
    `MiB/s)`);
  // At least one copy per chunk it held (a rebalancing move may have run alongside).
  assert.ok(healed.replication.done! - before.done! >= lostCopies, 'every chunk it held copied');

  // 2. It comes back: the extra copies go, every chunk has exactly 2.
  await cluster.startChunkserver(0);
  await waitHealth(cluster, 'overgoal copies removed', (h) =>
    atGoal2(h, 2) === FILES && h.chunkservers.find((s) => s.csId === csIdOf(cluster, 0))
      ?.state === 'online');
  await checkFiles(cluster, 'killed server back');

  // 3. A flipped byte in one copy: found, reads stay right, the copy is replaced.
  const victim = cluster.chunkFiles(1).find((f) => /chunk_[0-9A-F]+_[0-9A-F]+\.dat$/.test(f))!;
  flipByte(victim, CHUNK_DATA_OFFSET + 100);
  const damaged = await waitHealth(cluster, 'the bad copy replaced', (h) =>
    h.replication.removedInvalid! >= 1 && atGoal2(h, 2) === FILES);
  assert.ok(damaged.replication.removedInvalid! >= 1);
  await checkFiles(cluster, 'a byte flipped');

  // 4. A new, empty server: chunks move to it until the servers hold about the same.
  await cluster.startChunkserver(3);
  const newId = csIdOf(cluster, 3);
  const even = await waitHealth(cluster, 'copies spread over four servers', (h) => {
    const online = h.chunkservers.filter((s) => s.state === 'online');
    const copies = online.map((s) => s.copies);
    return online.length === 4 && atGoal2(h, 2) === FILES &&
      Math.max(...copies) - Math.min(...copies) <= 2 && h.replication.running === 0;
  });
  assert.ok(even.chunkservers.find((s) => s.csId === newId)!.copies >= FILES / 2 - 2);
  assert.ok(even.replication.movesDone! > 0);
  await checkFiles(cluster, 'after rebalancing');

  // 5. Drain one: its chunks get their copies elsewhere, then it is DRAINED.
  const drained = csIdOf(cluster, 2);
  const marked = await drain(cluster, drained);
  assert.is(marked.chunkservers.find((s) => s.csId === drained)?.draining, true,
    'CLTOMA_HEALTH shows the mark at once');
  assert.is(marked.matrix['2']!.reduce((a, b) => a + b, 0), FILES, 'every chunk in the matrix');
  const done = await waitHealth(cluster, 'server drained', (h) =>
    h.chunkservers.find((s) => s.csId === drained)?.state === 'drained');
  assert.is(atGoal2(done, 2), FILES, 'every chunk has 2 copies without the drained one');
  await cluster.stopChunkserver(2);
  await checkFiles(cluster, 'drained server switched off');

  // 6. The drain mark is metadata: a master restart keeps it.
  await cluster.stopMaster();
  await cluster.startMaster();
  const after = await waitHealth(cluster, 'master back with every chunk at 2 copies', (h) =>
    atGoal2(h, 2) === FILES);
  assert.equal(after.drains, [drained], 'the drain mark survived the restart');
});

test.run();
