// Goal: the master's metalogger port serves a metalogger everything it needs: REGISTER says
// whether to download the dump, the dump comes in pieces byte for byte, the stream sends the
// catch-up records and then the live ones exactly as they lie in the changelog files, a
// keepalive every second, and ACKs drive the lag that CLTOMA_LIST_METALOGGERS and the monitor
// report. Bad requests get statuses; an ACK of records never sent drops the metalogger.
// Method: the real antler-master binary on port 0 with a temporary DATA_PATH, a raw
// metalogger made with connectLink, byte comparisons against the files on disk.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CLTOMA_CREATE, CLTOMA_LIST_METALOGGERS, CLTOMA_MKDIR, MATOML_RECORDS, MLTOMA_ACK,
  MLTOMA_DUMP_READ, MLTOMA_REGISTER, MLTOMA_STREAM, Router, Status, setLogLevel, type Link,
  type Struct,
} from '@antlerfs/protocol';
import { CHANGELOG_HEADER_BYTES, changelogFileName, peekRecord } from '../src/changelog.ts';
import { DUMP_FILE } from '../src/metadata-dump.ts';
import type { MasterStatus } from '../src/monitor-http.ts';
import { changelogRecords, removeTempDirs, tempDir } from './helpers.ts';
import {
  killAllMasters, metaloggerLink, registeredClient, startMaster, stopMaster, until,
  type MasterProcess,
} from './master-process.ts';

setLogLevel('error');

type RecordsBody = Struct<typeof MATOML_RECORDS.fields>;

/** A raw metalogger: what it received, in order. */
class RawMetalogger {
  readonly frames: { body: RecordsBody; data: Buffer }[] = [];
  link!: Link;

  static async connect(port: string): Promise<RawMetalogger> {
    const ml = new RawMetalogger();
    const router = new Router().onMessage(MATOML_RECORDS, (body, ctx) => {
      ml.frames.push({ body, data: Buffer.from(ctx.data) });
    });
    ml.link = await metaloggerLink(port, router);
    return ml;
  }

  /** The records received (keepalives carry none), concatenated. */
  records(): Buffer {
    return Buffer.concat(this.frames.filter((f) => f.body.count > 0).map((f) => f.data));
  }

  /** One past the last version received. */
  get next(): number {
    const last = this.frames.filter((f) => f.body.count > 0).at(-1);
    return last === undefined ? 0 : last.body.firstVersion + last.body.count;
  }
}

/** Versions of the records in `buf`, checking each one's bounds and checksum. */
function versionsIn(buf: Buffer): number[] {
  const out: number[] = [];
  for (let o = 0, i = 0; o < buf.length && i < 1_000_000; i++) {
    const r = peekRecord(buf, o);
    if (!r.ok) throw new Error(`record at ${o}: ${r.reason}`);
    out.push(r.version);
    o += r.bytes;
  }
  return out;
}

async function createFiles(port: string, parent: number, prefix: string, n: number): Promise<void> {
  const c = await registeredClient(port);
  for (let i = 0; i < n; i++) {
    await c.call(CLTOMA_CREATE, {
      parent, name: `${prefix}${i}`, mode: 0o644, uid: 0, gid: 0, exclusive: 1, promise: 0,
    });
  }
  c.close('done');
}

async function listMetaloggers(port: string) {
  const c = await registeredClient(port);
  const r = await c.call(CLTOMA_LIST_METALOGGERS, {});
  c.close('done');
  return r.body;
}

/** A master with a dump at dumpVersion and changelog records after it. */
async function masterWithHistory(dataPath: string): Promise<{
  master: MasterProcess; dumpVersion: number;
}> {
  const first = await startMaster(dataPath);
  const c = await registeredClient(first.ready.clientPort!);
  await c.call(CLTOMA_MKDIR, { parent: 1, name: 'd', mode: 0o755, uid: 0, gid: 0 });
  c.close('done');
  await createFiles(first.ready.clientPort!, 1, 'a', 20);
  assert.is(await stopMaster(first), 0, 'a clean stop writes a dump');
  const master = await startMaster(dataPath);
  await createFiles(master.ready.clientPort!, 1, 'b', 30);
  return { master, dumpVersion: Number(first.ready.metaVersion) + 21 };
}

test('register, download the dump, catch up, go live, ack: bytes equal the changelog', async () => {
  const dataPath = tempDir();
  const { master, dumpVersion } = await masterWithHistory(dataPath);
  const { clientPort, metaloggerPort, monitorPort } = master.ready;
  const ml = await RawMetalogger.connect(metaloggerPort!);
  const reg = (await ml.link.call(MLTOMA_REGISTER, { name: 'raw', haveVersion: 0 })).body;
  assert.is(reg.clusterId, master.ready.clusterId, 'the cluster id of the ready line');
  assert.is(reg.dumpVersion, dumpVersion, 'nothing held: the dump written at the stop');
  assert.is(reg.streamFrom, dumpVersion + 1);
  const onDisk = fs.readFileSync(path.join(dataPath, DUMP_FILE));
  assert.is(reg.dumpBytes, onDisk.length);
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < reg.dumpBytes && pieces.length < 10_000; offset += 1000) {
    const piece = { dumpVersion: reg.dumpVersion, offset, size: 1000 };
    pieces.push(Buffer.from((await ml.link.call(MLTOMA_DUMP_READ, piece)).data));
  }
  assert.ok(pieces.length > 1, 'several pieces');
  assert.ok(Buffer.concat(pieces).equals(onDisk), 'the dump arrives byte for byte');
  const tooBig = { dumpVersion: reg.dumpVersion, offset: 0, size: 2 * 1024 * 1024 };
  assert.is((await ml.link.request(MLTOMA_DUMP_READ, tooBig)).status, Status.EINVAL);
  const replaced = { dumpVersion: reg.dumpVersion - 1, offset: 0, size: 10 };
  assert.is((await ml.link.request(MLTOMA_DUMP_READ, replaced)).status, Status.ENOENT);

  const metaVersion = reg.metaVersion;
  assert.is(metaVersion, dumpVersion + 30);
  await ml.link.call(MLTOMA_STREAM, { fromVersion: reg.streamFrom });
  await until(() => ml.next === metaVersion + 1, 'the catch-up records');
  const before = (await listMetaloggers(clientPort!)).metaloggers;
  assert.equal(before.map((m) => [m.name, m.ackedVersion, m.lagVersions]),
    [['raw', dumpVersion, 30]], 'what it had counts as acknowledged until it ACKs');
  await until(async () => (await listMetaloggers(clientPort!)).metaloggers[0]!.lagMs > 0,
    'the lag in ms grows while the changes stay unacknowledged');

  await createFiles(clientPort!, 1, 'c', 5); // live records
  await until(() => ml.next === metaVersion + 6, 'the live records');
  const file = changelogRecords(path.join(dataPath, changelogFileName(dumpVersion + 1)));
  const received = ml.records();
  assert.ok(received.equals(file.subarray(CHANGELOG_HEADER_BYTES)),
    'the records are the changelog file\'s bytes');
  const versions = versionsIn(received);
  assert.equal(versions, Array.from({ length: 35 }, (_, i) => dumpVersion + 1 + i));
  for (const f of ml.frames) assert.is(versionsIn(f.data).length, f.body.count);

  ml.link.send(MLTOMA_ACK, { version: metaVersion + 5 });
  await until(async () => (await listMetaloggers(clientPort!)).metaloggers[0]!.ackedVersion ===
    metaVersion + 5, 'the ACK counted');
  const after = await listMetaloggers(clientPort!);
  assert.is(after.metaVersion, metaVersion + 5);
  assert.equal(after.metaloggers.map((m) => [m.lagVersions, m.lagMs, m.sync]), [[0, 0, 0]]);
  const status = await (await fetch(`http://127.0.0.1:${monitorPort}/api/status`))
    .json() as MasterStatus;
  assert.equal(status.metaloggers.map((m) => [m.name, m.state, m.ackedVersion, m.lagVersions]),
    [['raw', 'live', metaVersion + 5, 0]]);
  const html = await (await fetch(`http://127.0.0.1:${monitorPort}/`)).text();
  assert.match(html, /<td>raw<\/td>/);

  const frames = ml.frames.length;
  await until(() => ml.frames.slice(frames).some((f) => f.body.count === 0), 'a keepalive', 5000);
  const keepalive = ml.frames.slice(frames).find((f) => f.body.count === 0)!;
  assert.equal([keepalive.body.firstVersion, keepalive.body.metaVersion, keepalive.data.length],
    [metaVersion + 6, metaVersion + 5, 0]);
  ml.link.close('done');
  assert.is(await stopMaster(master), 0);
});

test('stream on from a version held; refusals; an ACK beyond what was sent drops it', async () => {
  const dataPath = tempDir();
  const { master, dumpVersion } = await masterWithHistory(dataPath);
  const port = master.ready.metaloggerPort!;
  const unregistered = await metaloggerLink(port);
  const stream = await unregistered.request(MLTOMA_STREAM, { fromVersion: 1 });
  assert.is(stream.status, Status.EPERM, 'STREAM before REGISTER');
  unregistered.close('done');

  // Held up to version 5: the stream starts in the first changelog file and crosses into the
  // second one (a dump, and a restart, lie between them).
  const ml = await RawMetalogger.connect(port);
  const reg = (await ml.link.call(MLTOMA_REGISTER, { name: 'behind', haveVersion: 5 })).body;
  assert.equal([reg.streamFrom, reg.dumpVersion, reg.dumpBytes], [6, 0, 0]);
  const future = await ml.link.request(MLTOMA_STREAM, { fromVersion: reg.metaVersion + 2 });
  assert.is(future.status, Status.EINVAL, 'records from the future');
  await ml.link.call(MLTOMA_STREAM, { fromVersion: 6 });
  assert.is((await ml.link.request(MLTOMA_STREAM, { fromVersion: 6 })).status, Status.EINVAL);
  await until(() => ml.next === reg.metaVersion + 1, 'records 6 and on');
  const first = changelogRecords(path.join(dataPath, changelogFileName(1)));
  const second = changelogRecords(path.join(dataPath, changelogFileName(dumpVersion + 1)));
  const firstRecords = first.subarray(CHANGELOG_HEADER_BYTES);
  let skip = 0;
  for (let i = 0; i < 5; i++) skip += (peekRecord(firstRecords, skip) as { bytes: number }).bytes;
  const secondRecords = second.subarray(CHANGELOG_HEADER_BYTES);
  const expected = Buffer.concat([firstRecords.subarray(skip), secondRecords]);
  assert.ok(ml.records().equals(expected), 'both files, from version 6, byte for byte');

  // A metalogger claiming versions this master never wrote gets a dump instead.
  const ahead = await metaloggerLink(port);
  const far = (await ahead.call(MLTOMA_REGISTER, { name: 'ahead', haveVersion: 10_000 })).body;
  assert.is(far.dumpVersion, dumpVersion);
  ahead.close('done');

  ml.link.send(MLTOMA_ACK, { version: reg.metaVersion + 50 });
  await until(() => ml.link.closed, 'the master drops a metalogger that acks the unsent');
  assert.equal((await listMetaloggers(master.ready.clientPort!)).metaloggers, []);
  assert.is(await stopMaster(master), 0);
});

test.after(() => {
  killAllMasters();
  removeTempDirs();
});
test.run();
