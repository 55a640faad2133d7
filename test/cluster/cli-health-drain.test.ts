// Goal: an operator can watch the cluster's health and retire a chunkserver from the CLI:
// `antler health` shows every chunk at its goal, `antler drain` makes the master copy that
// server's chunks elsewhere, and health then says it is safe to switch off, while the data
// still reads back exactly. Method: a real 3-chunkserver cluster, a goal-2 file, the real CLI.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { HealthReport } from '@antlerfs/client';
import { startCluster } from '../harness/cluster.ts';
import { content, sha256 } from '../harness/data.ts';
import { waitUntil } from '../harness/wait.ts';

const DRAIN_TIMEOUT_MS = 90_000;

test('antler health, drain and undrain', async () => {
  await using cluster = await startCluster({
    chunkservers: 3, masterArgs: ['--chunkserver-timeout-ms', '3000'],
  });
  const client = await cluster.client();
  const data = content(21, 5 * 1024 * 1024 + 17);
  await client.writeFile('/kept.bin', data, { goal: 2 });
  const health = async (): Promise<HealthReport> => {
    const r = await cluster.cli(['--json', 'health']);
    assert.is(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as HealthReport;
  };
  // The master classifies chunks in periodic scans: wait for one that has seen the file.
  const first = await waitUntil('a health scan that counts the file', async () => {
    const h = await health();
    return h.matrix['2']?.[2] === 1 ? h : undefined;
  }, { timeoutMs: DRAIN_TIMEOUT_MS });
  assert.is(first.healthy, true);
  const text = await cluster.cli(['health']);
  assert.match(text.stdout, /^healthy/);

  const holder = (await client.fileInfo('/kept.bin')).chunks[0]!.locations[0]!.csId;
  const drained = await cluster.cli(['drain', String(holder)]);
  assert.is(drained.code, 0, drained.stderr);
  await waitUntil(`chunkserver ${holder} drained`, async () => {
    const h = await health();
    return h.chunkservers.find((s) => s.csId === holder)?.safeToRemove === true || undefined;
  }, { timeoutMs: DRAIN_TIMEOUT_MS });
  // Its copies are not needed any more: they are deleted, so the drained server ends empty.
  const index = cluster.chunkservers.findIndex((cs) => Number(cs.ready.csId) === holder);
  await waitUntil(`chunkserver ${holder} empty`, () => cluster.chunkFiles(index).length === 0 ||
    undefined, { timeoutMs: DRAIN_TIMEOUT_MS });
  const list = await cluster.cli(['chunkservers']);
  assert.match(list.stdout, /drained/);
  const holders = (await client.fileInfo('/kept.bin')).chunks[0]!.locations.map((l) => l.csId);
  assert.ok(holders.filter((id) => id !== holder).length >= 2,
    `two copies without the drained server: ${holders.join(',')}`);
  assert.is(sha256(await client.readFile('/kept.bin')), sha256(data));
  const undrained = await cluster.cli(['undrain', String(holder)]);
  assert.is(undrained.code, 0, undrained.stderr);
  const bad = await cluster.cli(['drain', 'x']);
  assert.is(bad.code, 2, 'a bad id is a usage error');
});

test.run();
