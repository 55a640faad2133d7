// Goal: two mounts of one cluster see each other's work as the consistency model promises:
// close-to-open (a file written and closed on one reads in full on the other at its next open,
// even when the other had it cached and it grew), and renames and unlinks on one show on the
// other within the attribute and entry timeouts (polled with a bounded deadline). A run of
// creates in a folder a mount made asks the master no LOOKUP however long it lasts (each
// create's folder stamp renews the listing), yet a name the other mount creates there in the
// meantime shows within the timeouts; the same in a folder the other mount made (it is listed
// once, at the first absent names, or by an `ls` before). Stats and unlinks of the names of a
// folder listed here are answered from one read of the folder with its attributes, and sizes
// written here or on the other mount still show.
// Method: one real cluster (goal 2 on 2 chunkservers), two antler-mount processes; every
// program on a mount runs as a child process; master requests counted by the mount's own
// counters (SIGUSR2 logs them).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster } from '../harness/cluster.ts';
import {
  mountCounters, requireFuse, requirePrograms, startMount, type Mount,
} from '../harness/mount.ts';
import { waitUntil } from '../harness/wait.ts';

/** Both timeouts are 1 s by default: a change shows well within this. */
const VISIBLE_WITHIN_MS = 10_000;

async function sha(mount: Mount, file: string): Promise<string> {
  return (await mount.must(`sha256sum ${file}`)).split(' ')[0]!;
}

test('what one mount writes and closes, the other reads in full; names follow', async () => {
  requireFuse();
  await requirePrograms(['sha256sum', 'dd']);
  await using cluster = await startCluster({ chunkservers: 2 });
  await using a = await startMount(cluster);
  await using b = await startMount(cluster);

  // A new file: written and closed on a, read whole on b.
  await a.must('head -c 7340037 /dev/urandom > new.bin');
  assert.is(await sha(b, `${b.dir}/new.bin`), await sha(a, `${a.dir}/new.bin`));

  // b reads (and caches) a file; a rewrites it longer; b's next open reads all of it at once,
  // inside the attribute timeout of what b had cached.
  await a.must('head -c 100000 /dev/urandom > grow.bin');
  await b.must('cat grow.bin > /dev/null && stat grow.bin > /dev/null');
  await a.must('head -c 3000000 /dev/urandom > grow.bin');
  const aSha = await sha(a, `${a.dir}/grow.bin`);
  assert.is(await sha(b, `${b.dir}/grow.bin`), aSha, 'b reads the new content in full');
  assert.is(Number(await b.must('wc -c < grow.bin')), 3_000_000);

  // Same length, different bytes: b's cached pages must not be served.
  await a.must('printf AAAA > same.txt');
  assert.is(await b.must('cat same.txt'), 'AAAA');
  await a.must('printf BBBB > same.txt');
  assert.is(await b.must('cat same.txt'), 'BBBB');

  // Appending on b after a wrote: b appends at the real end.
  await a.must('printf one > log.txt');
  await b.must('printf two >> log.txt');
  assert.is(await a.must('cat log.txt'), 'onetwo');

  // Rename and unlink on a show on b within the timeouts.
  await a.must('mkdir d && echo x > d/old && echo y > gone');
  await b.must('test -e d/old && test -e gone && cat d/old gone > /dev/null');
  await a.must('mv d/old d/new && rm gone && mv d e');
  await waitUntil('b sees the rename of d/old to e/new and the unlink', async () => {
    const r = await b.sh('test -e e/new && ! test -e d && ! test -e gone && cat e/new');
    return r.code === 0 && r.stdout === 'x\n';
  }, { timeoutMs: VISIBLE_WITHIN_MS, intervalMs: 100 });
  const listing = await b.must('ls -A');
  assert.not.match(listing, /\bgone\b/);
  assert.match(listing, /\be\b/);

  assert.is(await b.unmount(), 0);
  assert.is(await a.unmount(), 0);
});

/** The mount's master requests by message so far (its SIGUSR2 log line). */
async function masterCounts(mount: Mount): Promise<Record<string, number>> {
  const line = await mountCounters(mount);
  // The log quotes a value only when it needs it: master={} before any request.
  const m = /master=(?:"(.*?[^\\])"|(\{\}))/.exec(line);
  assert.ok(m, `the counts line has master counts: ${line}`);
  return JSON.parse((m[1] ?? m[2]!).replace(/\\"/g, '"')) as Record<string, number>;
}

for (const madeBy of ['this mount', 'the other mount', 'the other mount, listed here']) {
  test(`a long run of creates asks no LOOKUP (folder made by ${madeBy}); the other mount's ` +
    'names still show', async () => {
  requireFuse();
  await using cluster = await startCluster({ chunkservers: 2 });
  await using a = await startMount(cluster);
  await using b = await startMount(cluster);
  const FILES = 2000;
  await (madeBy === 'this mount' ? a : b).must('mkdir run');
  if (madeBy.endsWith('listed here')) await a.must('ls run');
  const before = await masterCounts(a);
  // bash's own redirection: one open(O_CREAT) and close per file, no process each; about
  // 2 s in all, longer than the 1 s entry timeout.
  const started = performance.now();
  await a.must(`for i in $(seq 1 ${FILES}); do : > run/f$i; done`);
  const ms = performance.now() - started;
  const after = await masterCounts(a);
  const delta = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
  assert.is(delta('CLTOMA_CREATE'), FILES);
  // Without stamps every create's LOOKUP went to the master once the listing expired; a few
  // LOOKUPs of the folder itself (its entry expires in the kernel) remain.
  assert.ok(delta('CLTOMA_LOOKUP') < FILES / 20,
    `${delta('CLTOMA_LOOKUP')} LOOKUPs for ${FILES} creates in ${Math.round(ms)} ms`);
  const fetches = madeBy === 'the other mount' ? 1 : 0; // an `ls` gave the listing
  assert.is(delta('CLTOMA_LIST_NAMES'), fetches, 'listed once at most');

  // b adds a name; a's next create there shows a's listing is behind, and a sees the name
  // once the listing expired.
  await b.must('test -d run && : > run/theirs');
  await a.must(': > run/mine');
  await waitUntil('a sees the name b created', async () => {
    return (await a.sh('test -e run/theirs')).code === 0;
  }, { timeoutMs: VISIBLE_WITHIN_MS, intervalMs: 100 });
  assert.is(Number(await a.must('ls run | wc -l')), FILES + 2);
  assert.is(Number(await b.must('ls run | wc -l')), FILES + 2);
  // And an unlink on b shows on a too.
  await b.must('rm run/f1');
  await waitUntil('a sees b\'s unlink', async () => (await a.sh('test -e run/f1')).code !== 0,
    { timeoutMs: VISIBLE_WITHIN_MS, intervalMs: 100 });
  assert.is(await b.unmount(), 0);
  assert.is(await a.unmount(), 0);
  });
}

test('stats and unlinks in a listed folder ask the master per folder read, not per name; ' +
  'sizes changed here or on the other mount show', async () => {
  requireFuse();
  await requirePrograms(['stat']);
  await using cluster = await startCluster({ chunkservers: 2 });
  await using a = await startMount(cluster);
  await using b = await startMount(cluster);
  const FILES = 1000;
  await a.must(`mkdir run && for i in $(seq 1 ${FILES}); do : > run/f$i; done`);
  await a.must('printf abcd > run/f7');
  // Past the entry and attribute timeouts: the kernel asks again for every name.
  await new Promise((r) => setTimeout(r, 1500));
  const before = await masterCounts(a);
  const sizes = (await a.must('stat -c %s run/f*')).trim().split('\n').map(Number);
  assert.is(sizes.length, FILES);
  assert.is(sizes.filter((n) => n === 4).length, 1, 'the file written here has its size');
  const afterStats = await masterCounts(a);
  const delta = (k: string, from = before, to = afterStats) => (to[k] ?? 0) - (from[k] ?? 0);
  // Without the folder read each stat's LOOKUP went to the master.
  assert.ok(delta('CLTOMA_LOOKUP') < FILES / 20, `${delta('CLTOMA_LOOKUP')} LOOKUPs`);
  assert.ok(delta('CLTOMA_READDIR') >= 1 && delta('CLTOMA_READDIR') < FILES / 20,
    `${delta('CLTOMA_READDIR')} folder reads`);
  // b writes a file a knows the attributes of: a sees the new size once they expire.
  await b.must('printf hello > run/f5');
  await waitUntil('a sees the size b wrote', async () => {
    return (await a.must('stat -c %s run/f5')).trim() === '5';
  }, { timeoutMs: VISIBLE_WITHIN_MS, intervalMs: 100 });
  // Unlinks: the LOOKUP before each is answered here too.
  const beforeRm = await masterCounts(a);
  await a.must('rm run/f*');
  const afterRm = await masterCounts(a);
  assert.is(delta('CLTOMA_UNLINK', beforeRm, afterRm), FILES);
  assert.ok(delta('CLTOMA_LOOKUP', beforeRm, afterRm) < FILES / 20,
    `${delta('CLTOMA_LOOKUP', beforeRm, afterRm)} LOOKUPs for ${FILES} unlinks`);
  assert.is(await a.must('ls run'), '');
  await waitUntil('b sees the folder empty', async () => (await b.must('ls run')) === '',
    { timeoutMs: VISIBLE_WITHIN_MS, intervalMs: 100 });
  assert.is(await b.unmount(), 0);
  assert.is(await a.unmount(), 0);
});

test.run();
