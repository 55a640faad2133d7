// Goal: the antler-metalogger binary keeps a folder from which a master serves exactly what the
// followed master served: through 2,000 namespace changes, across a master SIGKILL + restart,
// and after falling too far behind (files lost, or the master's changelog pruned), when it must
// download the dump again. Method: real antler-master and antler-metalogger processes on
// 127.0.0.1 with temporary folders; the master's metalogger port when it has one, otherwise a
// feed served from the master's own files; trees compared entry by entry over the protocol.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setLogLevel } from '@antlerfs/protocol';
import { listChangelogFiles } from '../src/changelog.ts';
import { removeTempDirs, tempDir } from './helpers.ts';
import {
  BIN, FakeFeed, REAL_FEED, ackedAtMaster, changeNamespace, clientLink, freePort, killDaemons,
  masterArgs, masterVersion, runBin, startDaemon, stopDaemon, waitForLine, waitUntil, walkTree,
  type Daemon,
} from './metalogger-harness.ts';

setLogLevel('error');

interface Feed {
  port: number;
  acked(): Promise<number>;
  close(): Promise<void>;
}

function feedArgs(port = 0): string[] {
  return REAL_FEED ? ['--matoml-listen-port', String(port)] : [];
}

async function feedFor(master: Daemon, dir: string, port = 0): Promise<Feed> {
  if (REAL_FEED) {
    const clientPort = master.ready.clientPort!;
    return {
      port: Number(master.ready.metaloggerPort),
      acked: async () => (await ackedAtMaster(clientPort)) ?? 0,
      close: async () => undefined,
    };
  }
  const fake = new FakeFeed(dir);
  await fake.listen(port);
  return { port: fake.port, acked: async () => fake.ackedVersion, close: () => fake.close() };
}

function metaloggerArgs(dir: string, masters: string, extra: string[] = []): string[] {
  return [
    '--data-path', dir, '--master-host', masters, '--metalogger-name', 'ml-test',
    '--lag-log-interval-ms', '500', '--master-reconnect-delay-max-ms', '200', ...extra,
  ];
}

async function caughtUp(feed: Feed, clientPort: string, ml: Daemon): Promise<number> {
  const version = await masterVersion(clientPort);
  await waitUntil(`the metalogger to acknowledge version ${version}`,
    async () => (await feed.acked()) >= version, () => ml.output.slice(-30).join('\n'));
  return version;
}

function checkFolder(dir: string): { code: number; finalVersion: number; out: string } {
  const r = runBin(BIN.metarestore, ['-d', dir, '--check']);
  const m = /final version\s+(\d+)/.exec(r.stdout);
  return { code: r.code, finalVersion: m ? Number(m[1]) : -1, out: r.stdout + r.stderr };
}

test('follows 2,000 changes; promoted, its folder serves the same namespace', async () => {
  const masterDir = tempDir('antler-ml-master-');
  const mlDir = tempDir('antler-ml-');
  const master = await startDaemon(BIN.master, masterArgs(masterDir, feedArgs()), 'master');
  const feed = await feedFor(master, masterDir);
  const nobody = await freePort(); // the first MASTER_HOST entry does not answer
  const ml = await startDaemon(BIN.metalogger,
    metaloggerArgs(mlDir, `127.0.0.1:${nobody},127.0.0.1:${feed.port}`), 'metalogger');
  assert.is(ml.ready.master, `127.0.0.1:${feed.port}`, 'the master that answers is kept');
  const { link } = await clientLink(master.ready.clientPort!);
  const applied = await changeNamespace(link, 2000, { seed: 1, tag: 'a' });
  link.close('done');
  assert.ok(applied > 1000, `${applied} changes applied`);
  const version = await caughtUp(feed, master.ready.clientPort!, ml);
  assert.ok(version >= applied);
  const expected = await walkTree(master.ready.clientPort!);
  assert.ok(expected.size > 300, `a tree of ${expected.size} entries`);
  assert.ok(ml.output.some((l) => / lag .*haveVersion=\d+/.test(l)), 'lag is logged');

  const busy = runBin(BIN.metalogger, ['promote', '-d', mlDir]);
  assert.is(busy.code, 1, 'promote stops nothing by itself');
  assert.match(busy.stderr, new RegExp(`pid ${ml.child.pid}\\) still runs on .*stop it first`));
  assert.is(await stopDaemon(ml), 0, 'a clean stop');
  const names = fs.readdirSync(mlDir);
  assert.ok(names.includes('metadata.amd'), 'the master\'s layout: a dump');
  assert.ok(names.some((n) => /^changelog\.\d+\.alog$/.test(n)), 'and changelog files');
  await feed.close();
  assert.is(await stopDaemon(master), 0);

  const promoted = runBin(BIN.metalogger, ['promote', '-d', mlDir]);
  assert.is(promoted.code, 0, promoted.stderr);
  assert.match(promoted.stdout, new RegExp(`final version\\s+${version} `));
  const command = /^ {2}antler-master (.+)$/m.exec(promoted.stdout);
  assert.ok(command, promoted.stdout);
  assert.is(command![1], `--data-path ${path.resolve(mlDir)}`);
  const second = await startDaemon(BIN.master,
    [...command![1]!.split(' '), ...masterArgs(mlDir).slice(2)], 'master');
  assert.is(second.ready.metaVersion, String(version), 'serves the newest version held');
  const served = await walkTree(second.ready.clientPort!);
  assert.equal([...served.keys()].sort(), [...expected.keys()].sort(), 'the same paths');
  for (const [p, attrs] of expected) assert.is(served.get(p), attrs, `the same ${p}`);
  const { link: l2 } = await clientLink(second.ready.clientPort!);
  const more = await changeNamespace(l2, 40, { seed: 2, tag: 'after', workers: 1 });
  l2.close('done');
  assert.ok(more > 0, 'the promoted master takes new changes');
  assert.is(await stopDaemon(second), 0);
});

test('reconnects after a master SIGKILL and restart, and catches up', async () => {
  const masterDir = tempDir('antler-ml-master-');
  const mlDir = tempDir('antler-ml-');
  const feedPort = await freePort();
  const first = await startDaemon(BIN.master, masterArgs(masterDir, feedArgs(feedPort)), 'master');
  const feed1 = await feedFor(first, masterDir, feedPort);
  const ml = await startDaemon(BIN.metalogger,
    metaloggerArgs(mlDir, `127.0.0.1:${feedPort}`), 'metalogger');
  const { link } = await clientLink(first.ready.clientPort!);
  await changeNamespace(link, 300, { seed: 3, tag: 'k1' });
  await caughtUp(feed1, first.ready.clientPort!, ml);
  const linesBefore = ml.output.length;
  first.child.kill('SIGKILL');
  assert.is(await first.exited, 'SIGKILL');
  link.close('master killed');
  await feed1.close();
  await waitForLine(ml, /master link lost/, linesBefore);

  const second = await startDaemon(BIN.master, masterArgs(masterDir, feedArgs(feedPort)), 'master');
  const feed2 = await feedFor(second, masterDir, feedPort);
  const { link: l2 } = await clientLink(second.ready.clientPort!);
  await changeNamespace(l2, 300, { seed: 4, tag: 'k2' });
  l2.close('done');
  const version = await caughtUp(feed2, second.ready.clientPort!, ml);
  const following = ml.output.filter((l) => / following master /.test(l));
  assert.ok(following.length >= 2, 'followed the master again after its restart');
  const downloads = ml.output.filter((l) => /downloading the master/.test(l));
  assert.is(downloads.length, 1, 'only the first start downloads: the changelog connects');
  assert.is(await stopDaemon(ml), 0);
  const check = checkFolder(mlDir);
  assert.is(check.code, 0, check.out);
  assert.is(check.finalVersion, version, 'every change is in the metalogger\'s folder');
  await feed2.close();
  assert.is(await stopDaemon(second), 0);
});

test('a metalogger too far behind downloads the dump again', async () => {
  const masterDir = tempDir('antler-ml-master-');
  const mlDir = tempDir('antler-ml-');
  const master = await startDaemon(BIN.master, masterArgs(masterDir,
    [...feedArgs(), '--metadata-save-freq', '1', '--back-meta-keep-previous', '0']), 'master');
  const feed = await feedFor(master, masterDir);
  const args = metaloggerArgs(mlDir, `127.0.0.1:${feed.port}`);
  const { link } = await clientLink(master.ready.clientPort!);

  // Its files lost: it holds nothing, so it downloads.
  const ml1 = await startDaemon(BIN.metalogger, args, 'metalogger');
  await changeNamespace(link, 200, { seed: 5, tag: 'b1' });
  await caughtUp(feed, master.ready.clientPort!, ml1);
  assert.is(await stopDaemon(ml1), 0);
  for (const name of fs.readdirSync(mlDir)) fs.rmSync(path.join(mlDir, name), { recursive: true });
  const ml2 = await startDaemon(BIN.metalogger, args, 'metalogger');
  const fresh = /downloading the master's metadata dump .*haveVersion=0 /;
  assert.ok(ml2.output.some((l) => fresh.test(l)), 'nothing held: the dump is downloaded');
  await caughtUp(feed, master.ready.clientPort!, ml2);
  assert.is(await stopDaemon(ml2), 0);
  const held = checkFolder(mlDir).finalVersion;

  // The master pruned the changelog after what it holds: it must download again.
  await changeNamespace(link, 200, { seed: 6, tag: 'b2' });
  await waitUntil('the master to prune the changelog after the metalogger\'s version',
    () => (listChangelogFiles(masterDir)[0]?.firstVersion ?? 0) > held + 1);
  const ml3 = await startDaemon(BIN.metalogger, args, 'metalogger');
  const download = ml3.output.find((l) => /downloading the master's metadata dump/.test(l));
  assert.ok(download, ml3.output.join('\n'));
  assert.match(download!, new RegExp(`haveVersion=${held} `));
  await changeNamespace(link, 100, { seed: 7, tag: 'b3' });
  link.close('done');
  const version = await caughtUp(feed, master.ready.clientPort!, ml3);
  assert.is(await stopDaemon(ml3), 0);
  const check = checkFolder(mlDir);
  assert.is(check.code, 0, check.out);
  assert.is(check.finalVersion, version);
  const oldFiles = listChangelogFiles(mlDir).filter((f) => f.firstVersion <= held);
  assert.is(oldFiles.length, 0, 'the files that no longer connect are gone');
  await feed.close();
  assert.is(await stopDaemon(master), 0);
});

test('--help, --version and a bad MASTER_HOST', () => {
  const version = runBin(BIN.metalogger, ['--version']);
  assert.is(version.code, 0);
  assert.is(version.stdout.trim(), 'antler-metalogger 0.1.0');
  const help = runBin(BIN.metalogger, ['--help']);
  assert.is(help.code, 0);
  assert.match(help.stdout, /--master-host <string>.*MASTER_HOST/);
  assert.match(help.stdout, /promote -d DIR/);
  const bad = runBin(BIN.metalogger, ['--master-host', 'a:b:c', '--data-path', tempDir()]);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /MASTER_HOST entry "a:b:c" is not host\[:port\]/);
});

test.after(() => {
  killDaemons();
  removeTempDirs();
});
test.run();
