// Goal: the metalogger's link to its master survives what a master or a network may do: a
// MASTER_HOST list with dead and not-active masters, a corrupt record on the wire, a master
// that went quiet, a dump replaced during its download, a master that is behind the
// metalogger (another history) or serves another cluster. In every case it ends up holding
// exactly the master's metadata, and what it cannot keep is set aside, not lost. Method: an
// in-process Metalogger against FakeFeed (port 9419 served from a real MetaStore's files).
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Logger, Status, setLogLevel } from '@antlerfs/protocol';
import { defaultMasterConfig } from '../src/config.ts';
import { MetaStore } from '../src/meta-store.ts';
import { defaultMetaloggerConfig, type MetaloggerConfig } from '../src/metalogger/config.ts';
import { Metalogger } from '../src/metalogger/metalogger.ts';
import { restoreMetadata } from '../src/restore.ts';
import { canonical, randomWorkload, removeTempDirs, seeded, tempDir } from './helpers.ts';
import { FakeFeed, freePort, waitUntil } from './metalogger-harness.ts';

setLogLevel('error');
const log = new Logger('test');
/** Everything a test started, stopped after it (newest first). */
let running: (() => Promise<void>)[] = [];

interface Master { store: MetaStore; dir: string; feed: FakeFeed }

async function master(seed: number, dir = tempDir('antler-link-master-')): Promise<Master> {
  const store = await MetaStore.open({
    config: defaultMasterConfig({ dataPath: dir }), log, onFatal: (err) => { throw err; },
  });
  running.push(() => store.close());
  await randomWorkload(store, 150, seeded(seed));
  const feed = new FakeFeed(dir);
  await feed.listen();
  running.push(() => feed.close());
  return { store, dir, feed };
}

async function startMetalogger(
  dir: string, ports: number[], over: Partial<MetaloggerConfig> = {},
): Promise<Metalogger> {
  const ml = new Metalogger(defaultMetaloggerConfig({
    dataPath: dir, masters: ports.map((port) => ({ host: '127.0.0.1', port })), name: 'ml',
    reconnectDelayMaxMs: 100, masterTimeoutMs: 2000, ...over,
  }), { log, onFatal: (err) => { throw err; } });
  await ml.start();
  running.push(() => ml.stop());
  return ml;
}

async function stopAll(): Promise<void> {
  const stops = running.reverse();
  running = [];
  for (const stop of stops) await stop();
}

/** Waits until the metalogger holds the master's version, then compares the metadata. */
async function holds(ml: Metalogger, m: Master): Promise<void> {
  await waitUntil(`the metalogger to hold version ${m.store.version}`,
    () => ml.mirror.version === m.store.version);
  assert.is(canonical(ml.mirror.metadata!), canonical(m.store.md), 'the same metadata');
}

function setAsideReasons(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.startsWith('set-aside.')).sort()
    .map((n) => fs.readFileSync(path.join(dir, n, 'REASON'), 'utf8'));
}

test('a dead and a not-active master are passed over for the one that answers', async () => {
  const passive = await master(1);
  passive.feed.refuseWith = Status.NOT_ACTIVE_MASTER;
  const active = await master(2);
  const dead = await freePort();
  const ml = await startMetalogger(tempDir('antler-link-'),
    [dead, passive.feed.port, active.feed.port]);
  await holds(ml, active);
  assert.is(ml.link!.current, `127.0.0.1:${active.feed.port}`);
  assert.is(passive.feed.registrations.length, 0, 'the passive master registered nobody');
  await randomWorkload(active.store, 100, seeded(3));
  await holds(ml, active);
  await waitUntil('the acknowledgement of the last version',
    () => active.feed.ackedVersion === active.store.version);
  await stopAll();
});

test('a corrupt record drops the link; nothing bad is kept; it catches up after', async () => {
  const m = await master(4);
  const dir = tempDir('antler-link-');
  const ml = await startMetalogger(dir, [m.feed.port]);
  await holds(ml, m);
  const badFrom = m.store.version + 1;
  let corrupted = 0;
  m.feed.mangle = (data, firstVersion) => {
    if (firstVersion !== badFrom || corrupted > 0) return data;
    corrupted++;
    data[data.length >> 1]! ^= 0x08;
    return data;
  };
  await randomWorkload(m.store, 200, seeded(5));
  await holds(ml, m);
  assert.is(corrupted, 1, 'one corrupt message was sent');
  const again = m.feed.registrations.filter((r) => r.haveVersion === badFrom - 1);
  assert.is(again.length, 1, 'it registered again from the last good version');
  await stopAll();
  const check = await restoreMetadata({
    dataPath: dir, outputPath: null, check: true, backMetaKeepPrevious: 3, log,
  });
  assert.is(check.finalVersion, m.store.version, 'the folder replays to the master\'s version');
});

test('a master gone quiet is dropped and redialled', async () => {
  const m = await master(6);
  m.feed.silent = true;
  const ml = await startMetalogger(tempDir('antler-link-'), [m.feed.port],
    { masterTimeoutMs: 300 });
  await holds(ml, m);
  await waitUntil('a second registration', () => m.feed.registrations.length >= 2);
  m.feed.silent = false;
  await randomWorkload(m.store, 50, seeded(7));
  await holds(ml, m);
  await stopAll();
});

test('a dump replaced during its download makes it register again', async () => {
  const m = await master(8);
  const durable: Promise<void>[] = [];
  for (let i = 0; i < 8000; i++) { // a dump of a few 1 MiB pieces
    durable.push(m.store.commit({
      kind: 'create', parent: 1, name: `${'n'.repeat(200)}${i}`, inode: m.store.nextInode(),
      type: 1, mode: 0o644, uid: 0, gid: 0, timeMs: 1_700_000_000_000, target: '',
    }).durable);
  }
  await Promise.all(durable);
  await m.store.writeDump('test');
  assert.ok(m.store.dumpStats.lastBytes > 2 * 1024 * 1024, 'the dump takes several pieces');
  m.feed.dumpReadsBeforeGone = 1;
  const ml = await startMetalogger(tempDir('antler-link-'), [m.feed.port]);
  await holds(ml, m);
  const downloads = m.feed.registrations.filter((r) => r.dumpVersion >= 0);
  assert.is(downloads.length, 2, 'the first download was abandoned, the second completed');
  await stopAll();
});

test('a master behind the metalogger: its files are set aside and the dump fetched', async () => {
  const a = await master(9);
  // A copy of the master's folder now: another master continues from here later.
  await a.store.writeDump('copy');
  const copy = tempDir('antler-link-master-');
  for (const name of fs.readdirSync(a.dir)) {
    fs.copyFileSync(path.join(a.dir, name), path.join(copy, name));
  }
  await randomWorkload(a.store, 200, seeded(10));
  const dir = tempDir('antler-link-');
  const ml = await startMetalogger(dir, [a.feed.port]);
  await holds(ml, a);
  const held = ml.mirror.version;
  await stopAll();

  const b = await master(11, copy); // same cluster, fewer changes
  assert.ok(b.store.version < held, `master at ${b.store.version}, metalogger at ${held}`);
  const ml2 = await startMetalogger(dir, [b.feed.port]);
  await holds(ml2, b);
  const reasons = setAsideReasons(dir);
  assert.is(reasons.length, 1);
  assert.match(reasons[0]!, new RegExp(`held version ${held}, master .* is at ${b.store.version}`));
  await stopAll();
});

test('a master of another cluster: the files are set aside and its dump fetched', async () => {
  const a = await master(12);
  const dir = tempDir('antler-link-');
  await startMetalogger(dir, [a.feed.port]).then((ml) => holds(ml, a));
  await stopAll();
  const c = await master(13);
  assert.is.not(c.store.clusterId, a.store.clusterId);
  const ml = await startMetalogger(dir, [c.feed.port]);
  await holds(ml, c);
  const reasons = setAsideReasons(dir);
  assert.is(reasons.length, 1);
  assert.match(reasons[0]!, new RegExp(`belong to cluster ${a.store.clusterId}; master .* ` +
    `serves cluster ${c.store.clusterId}`));
  await stopAll();
});

test.after(async () => {
  await stopAll();
  removeTempDirs();
});
test.run();
