// Goal: the master memory path measures the master's resident memory and leaves nothing behind.
// Method: a quick run against a real master (with one chunkserver) on 127.0.0.1, its pid known
// as the bench knows it; then the figure is checked for presence and its inode check, and the
// master's inode count for being back where it was. No thresholds on the measured memory.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Client } from '@antlerfs/client';
import { startCluster } from '@antlerfs/test/harness/cluster.ts';
import type { BenchParams } from '../src/config.ts';
import { DataPattern } from '../src/data-pattern.ts';
import { MEMORY_FILES_QUICK, rssOfPid, runMasterMemory } from '../src/paths/master-memory.ts';
import type { PathContext } from '../src/paths/path-context.ts';
import { Progress } from '../src/progress.ts';

test('rssOfPid reads this process and nothing for a missing one', () => {
  const rss = rssOfPid(process.pid);
  assert.ok(rss !== null && rss > 0, `rss ${rss}`);
  assert.is(rssOfPid(0x7ffffff0), null);
});

test('a quick run gives the RSS figure and removes its files', async () => {
  await using cluster = await startCluster({ chunkservers: 1 });
  const pid = cluster.master.child.pid;
  assert.ok(pid !== undefined, 'the master runs');
  const admin = await cluster.client();
  await admin.mkdir('/run');
  const inodesBefore = (await admin.statfs()).inodes;
  // Only what the path reads; the rest of a run's parameters do not matter here.
  const params: Partial<BenchParams> = { quick: true, pathTimeoutMs: 10 * 60_000 };
  const ctx: PathContext = {
    params: params as BenchParams, root: '/run',
    connect: () => Client.connect({ master: cluster.masterAddr }),
    pattern: new DataPattern(65536), expectedSha256: '', progress: new Progress(),
    masterAddr: cluster.masterAddr, processes: [{ name: 'master', pid }], monitorAddr: null,
    scratchDir: '/nonexistent',
  };
  // A monitor address where none listens: the figure comes from /proc alone.
  const figures = await runMasterMemory(ctx, '127.0.0.1:1');
  assert.equal(figures.map((f) => f.id), ['master-memory.rss']);
  const rss = figures[0]!;
  assert.is(rss.unit, 'MiB/Mfiles');
  assert.is(rss.ops, MEMORY_FILES_QUICK);
  assert.ok(Number.isFinite(rss.value), 'a number');
  assert.equal(rss.checks?.map((c) => [c.name, c.passed]), [['inodes', true]]);
  assert.is((await admin.statfs()).inodes, inodesBefore, 'every file and folder is gone');
});

test.run();
