// Goal: a mount outlives a master crash: with the mount idle, the master is killed (SIGKILL)
// and started again on its data; afterwards the mount reads what was there, writes new files,
// renames and lists, with no remount. Method: one real cluster (goal 2 on 2 chunkservers), one
// antler-mount; the master is restarted by the harness on the same ports and folder.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster } from '../harness/cluster.ts';
import { requireFuse, requirePrograms, startMount } from '../harness/mount.ts';

test('the mount keeps working after the master is killed and restarted', async () => {
  requireFuse();
  await requirePrograms(['sha256sum']);
  await using cluster = await startCluster({ chunkservers: 2 });
  await using mount = await startMount(cluster);
  await mount.must('mkdir keep && head -c 5000000 /dev/urandom > keep/data && ' +
    'echo note > keep/note');
  const before = await mount.must('sha256sum keep/data');

  assert.is(await cluster.stopMaster('SIGKILL'), 'SIGKILL');
  await cluster.startMaster();
  await cluster.waitForChunkservers();

  // Whatever the kernel still caches, these reach the new master (listing, reads, writes).
  assert.is(await mount.must('cat keep/note'), 'note\n');
  assert.is(await mount.must('sha256sum keep/data'), before);
  await mount.must('head -c 3000000 /dev/urandom > after && mv after keep/after && ' +
    'echo more >> keep/note && ls -la keep > /dev/null');
  const listing = (await mount.must('ls keep')).trim().split('\n');
  assert.equal(listing, ['after', 'data', 'note']);
  assert.is(await mount.must('cat keep/note'), 'note\nmore\n');
  assert.is(Number(await mount.must('stat -c %s keep/after')), 3_000_000);

  // And the library, a separate session, sees the same tree.
  const client = await cluster.client('check');
  assert.is((await client.stat('/keep/after')).length, 3_000_000);
  assert.is((await client.readFile('/keep/note')).toString(), 'note\nmore\n');
  assert.is(await mount.unmount(), 0);
});

test.run();
