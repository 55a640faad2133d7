// Goal: with one metalogger in synchronous mode, losing the master's whole data folder loses no
// acknowledged change: the metalogger's copy is promoted, started as the master on the standby
// address, and the chunkservers and a client that was writing carry on without a restart.
// And: an asynchronous metalogger's lag under a steady write load is reported by the CLI.
// Method: writer loops log each acknowledged file; a long write goes on through the takeover
// on an open handle; the master is SIGKILLed and its folder deleted; the harness promotes the
// metalogger (stop, `antler-metalogger promote`, antler-master on its folder). Then a fresh
// client reads every acknowledged file and the long file back and compares sha256.
import fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster } from '../harness/cluster.ts';
import { AckedWriter, ackedProblems } from '../harness/acked-writes.ts';
import { content, sha256 } from '../harness/data.ts';
import { waitUntil } from '../harness/wait.ts';

const ACKED_BEFORE = 60;
const ACKED_AFTER = 20;
const ATTEMPTS_MAX = 5_000;
const PROGRESS_TIMEOUT_MS = 120_000;
/** The long write: this many 1 MiB pieces, half before the takeover and half after it. */
const LONG_PIECES = 16;

test('sync metalogger: master folder lost, metalogger promoted, nothing acknowledged lost', async () => {
  await using cluster = await startCluster({
    chunkservers: 3, metalogger: true, standby: true,
    masterArgs: ['--sync-metaloggers', '1'],
  });
  const client = await cluster.client('writer');
  await client.mkdir('/stream');
  const writer = new AckedWriter(client, { dir: '/stream', seed: 81, attemptsMax: ATTEMPTS_MAX });
  const piece = content(5, 1024 * 1024);
  const long = await client.open('/long', 'w', { goal: 2 });
  for (let i = 0; i < LONG_PIECES / 2; i++) await long.write(piece, i * piece.length);
  writer.start(2);
  try {
    await waitUntil(`${ACKED_BEFORE} acknowledged files`,
      () => writer.acked.length >= ACKED_BEFORE, { timeoutMs: PROGRESS_TIMEOUT_MS });
    assert.is(await cluster.stopMaster('SIGKILL'), 'SIGKILL');
    const ackedAtKill = writer.acked.length;
    fs.rmSync(cluster.master.dataPath, { recursive: true, force: true });
    // The new master has no metalogger of its own yet, so it runs asynchronously.
    await cluster.promoteMetalogger({ masterArgs: [] });
    await cluster.waitForChunkservers();
    for (let i = LONG_PIECES / 2; i < LONG_PIECES; i++) await long.write(piece, i * piece.length);
    await long.close();
    await waitUntil(`${ACKED_AFTER} more acknowledged files after the takeover`,
      () => writer.acked.length >= ackedAtKill + ACKED_AFTER, { timeoutMs: PROGRESS_TIMEOUT_MS });
  } finally {
    await writer.stop();
  }
  const reader = await cluster.client('reader');
  assert.equal(await ackedProblems(reader, writer.acked), [],
    `all ${writer.acked.length} acknowledged files are whole after the takeover ` +
    `(${writer.failures.length} attempts failed)`);
  const expected = sha256(Buffer.concat(Array.from({ length: LONG_PIECES }, () => piece)));
  assert.is(sha256(await reader.readFile('/long')), expected, 'the long write carried on');
});

test('async metalogger: lag under a steady write load is reported by the CLI', async () => {
  await using cluster = await startCluster({ chunkservers: 3, metalogger: true });
  const client = await cluster.client('writer');
  await client.mkdir('/load');
  const writer = new AckedWriter(client, { dir: '/load', seed: 91, attemptsMax: 400 });
  writer.start(4);
  const samples: { lagVersions: number; lagMs: number }[] = [];
  try {
    for (let i = 0; i < 10; i++) {
      const r = await cluster.cli(['--json', 'metaloggers']);
      assert.is(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { metaloggers: { lagVersions: number; lagMs: number }[] };
      assert.is(out.metaloggers.length, 1, 'one metalogger listed');
      samples.push(out.metaloggers[0]!);
    }
  } finally {
    await writer.stop();
  }
  assert.ok(writer.acked.length > 0, 'the load wrote files');
  const versions = samples.map((s) => s.lagVersions).sort((a, b) => a - b);
  const ms = samples.map((s) => s.lagMs).sort((a, b) => a - b);
  process.stdout.write(`metalogger lag under load: versions median ${versions[5]} max ` +
    `${versions[9]}, ms median ${ms[5]} max ${ms[9]} (${writer.acked.length} files written)\n`);
});

test.run();
