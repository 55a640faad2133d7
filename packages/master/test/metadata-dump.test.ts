// Goal: a dump loads back to the same metadata, cluster id and applied-request windows
// included; a dump of the first layout (no cluster id, no windows) still loads, and a store
// opened on it records a new cluster id in the changelog; every kind of damage (cut short,
// flipped byte, wrong record count, broken tree) is refused with a reason; installing a dump
// rotates the .back generations and keeps only BACK_META_KEEP_PREVIOUS of them. Method: real
// files.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InodeType, Logger, setLogLevel } from '@antlerfs/protocol';
import { listChangelogFiles, scanChangelogFile } from '../src/changelog.ts';
import { defaultMasterConfig } from '../src/config.ts';
import { MetaStore } from '../src/meta-store.ts';
import { Metadata } from '../src/metadata.ts';
import {
  DumpCorruptError, listDumps, loadDump, oldestDumpVersion, readDumpVersion, serializeDump,
  writeDump,
} from '../src/metadata-dump.ts';
import { canonical, removeTempDirs, tempDir } from './helpers.ts';

setLogLevel('warn');

function sample(): Metadata {
  const md = Metadata.fresh({ timeMs: 1000, goal: 2, trashtimeS: 0 });
  let v = 0;
  const apply = (c: Parameters<Metadata['apply']>[1]): void => { md.apply(++v, c); };
  apply({ kind: 'chunkIdReserve', chunkIdLimit: 2 ** 40 });
  apply({ kind: 'chunkserverAdd', csId: 4 });
  const owner = { uid: 1, gid: 2 };
  apply({
    kind: 'create', parent: 1, name: 'dir é', inode: 2, type: InodeType.DIR, mode: 0o750,
    ...owner, timeMs: 2000, target: '',
  });
  apply({
    kind: 'create', parent: 2, name: 'file', inode: 3, type: InodeType.FILE, mode: 0o600,
    ...owner, timeMs: 2001, target: '',
  });
  apply({
    kind: 'create', parent: 1, name: 'link', inode: 4, type: InodeType.SYMLINK, mode: 0,
    ...owner, timeMs: 2002, target: '/dir é/file',
  });
  apply({ kind: 'writeChunk', inode: 3, chunkIndex: 0, chunkId: 2 ** 40 - 1, version: 1 });
  apply({ kind: 'writeChunk', inode: 3, chunkIndex: 9, chunkId: 77, version: 1 });
  apply({ kind: 'writeChunk', inode: 3, chunkIndex: 9, chunkId: 77, version: 5 });
  apply({ kind: 'writeEnd', inode: 3, length: 9 * 64 * 2 ** 20 + 5, timeMs: 3000 });
  apply({ kind: 'link', inode: 3, parent: 1, name: 'hard', timeMs: 3001 });
  apply({ kind: 'setTrashtime', inode: 2, trashtimeS: 3600, recursive: 1, timeMs: 3002 });
  return md;
}

function writeBuffers(file: string, md: Metadata): Buffer {
  const dump = serializeDump(md, 5000);
  const bytes = Buffer.concat(dump.buffers);
  assert.is(bytes.length, dump.sizeBytes);
  fs.writeFileSync(file, bytes);
  return bytes;
}

function refused(file: string, pattern: RegExp): void {
  assert.throws(() => loadDump(file),
    (e: unknown) => e instanceof DumpCorruptError && pattern.test(e.message));
}

test('serialize and load give the same metadata', () => {
  const dir = tempDir();
  const md = sample();
  const file = path.join(dir, 'metadata.amd');
  writeBuffers(file, md);
  const loaded = loadDump(file);
  assert.is(canonical(loaded.metadata), canonical(md));
  assert.is(loaded.records, 1 + 4 + 4 + 2, 'servers + inodes + entries + chunks');
  assert.is(readDumpVersion(file), md.version);
  assert.is(loaded.metadata.chunks.live(77)!.refs, 1);
});

test('the cluster id and the applied-request windows go through a dump', () => {
  const dir = tempDir();
  const md = sample();
  const origin = (requestId: number) => ({ clientId: 0xfeedn, requestId });
  md.apply(md.version + 1, {
    kind: 'create', parent: 1, name: 'retried', inode: 5, type: InodeType.FILE, mode: 0o644,
    uid: 0, gid: 0, timeMs: 4000, target: '', origin: origin(1),
  });
  md.apply(md.version + 1, {
    kind: 'unlink', parent: 1, name: 'hard', timeMs: 4001, origin: origin(2),
  });
  md.apply(md.version + 1, {
    kind: 'setGoal', inode: 1, goal: 3, recursive: 1, timeMs: 4002,
    origin: { clientId: 2n ** 64n - 1n, requestId: 0xffffffff },
  });
  const file = path.join(dir, 'metadata.amd');
  writeBuffers(file, md);
  const loaded = loadDump(file);
  assert.is(loaded.metadata.clusterId, md.clusterId);
  assert.match(md.clusterId, /^[0-9a-f]{32}$/);
  assert.is(canonical(loaded.metadata), canonical(md));
  assert.is(loaded.metadata.requests.find(0xfeedn, 1)!.attr!.inode, 5);
  assert.is(loaded.metadata.requests.find(2n ** 64n - 1n, 0xffffffff)!.changed, 5);
});

test('a drain mark survives a dump; clearing it does too; unknown servers are refused', () => {
  const dir = tempDir();
  const md = sample();
  md.apply(md.version + 1, { kind: 'chunkserverAdd', csId: 9 });
  md.apply(md.version + 1, { kind: 'chunkserverDrain', csId: 9, drain: 1 });
  md.apply(md.version + 1, { kind: 'chunkserverDrain', csId: 4, drain: 1 });
  md.apply(md.version + 1, { kind: 'chunkserverDrain', csId: 4, drain: 0 });
  assert.throws(() => md.apply(md.version + 1, { kind: 'chunkserverDrain', csId: 5, drain: 1 }),
    /chunkserver 5/);
  const file = path.join(dir, 'metadata.amd');
  writeBuffers(file, md);
  const loaded = loadDump(file);
  assert.equal([...loaded.metadata.drainCsIds], [9]);
  assert.is(canonical(loaded.metadata), canonical(md));
});

/**
 * The same dump in the first layout: no cluster id after the header, no windows section and no
 * drains section (both empty here: two zero counts before the trailer).
 */
function firstLayout(md: Metadata): Buffer {
  assert.is(md.requests.clientCount, 0, 'the first layout has no windows');
  const v2 = Buffer.concat(serializeDump(md, 5000).buffers);
  const idBytes = 2 + v2.readUInt16BE(24);
  const trailerAt = v2.length - 20; // records:64 crc32:32 magic:64
  const body = Buffer.concat([
    Buffer.from('ANTLMD01'), v2.subarray(8, 24), v2.subarray(24 + idBytes, trailerAt - 8),
    v2.subarray(trailerAt, trailerAt + 8),
  ]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body));
  return Buffer.concat([body, crc, Buffer.from('ANTLEND1')]);
}

test('a dump of the first layout loads; the store gives it a cluster id', async () => {
  const dir = tempDir();
  const md = sample();
  fs.writeFileSync(path.join(dir, 'metadata.amd'), firstLayout(md));
  const loaded = loadDump(path.join(dir, 'metadata.amd'));
  assert.is(loaded.metadata.clusterId, '');
  loaded.metadata.clusterId = md.clusterId;
  assert.is(canonical(loaded.metadata), canonical(md));
  const config = defaultMasterConfig({ dataPath: dir });
  const store = await MetaStore.open({
    config, log: new Logger('test'), onFatal: (err) => { throw err; },
  });
  assert.match(store.clusterId, /^[0-9a-f]{32}$/);
  assert.is(store.version, md.version + 1, 'the id is a changelog record');
  const [log] = listChangelogFiles(dir);
  const kinds: string[] = [];
  scanChangelogFile(log!.path, true, (_v, c) => kinds.push(c.kind));
  assert.equal(kinds, ['clusterId']);
  const id = store.clusterId;
  await store.close();
  const again = await MetaStore.open({
    config, log: new Logger('test'), onFatal: (err) => { throw err; },
  });
  assert.is(again.clusterId, id, 'kept');
  await again.close();
});

test('damage is refused with a reason', () => {
  const dir = tempDir();
  const file = path.join(dir, 'metadata.amd');
  const bytes = writeBuffers(file, sample());
  fs.writeFileSync(file, bytes.subarray(0, bytes.length - 3));
  refused(file, /no end marker/);
  const flipped = Buffer.from(bytes);
  flipped[100]! ^= 4;
  fs.writeFileSync(file, flipped);
  refused(file, /checksum mismatch/);
  // A wrong record count with a valid checksum: the count check catches it.
  const recount = Buffer.from(bytes);
  const countAt = recount.length - 20;
  recount.writeUInt32BE(recount.readUInt32BE(countAt + 4) + 1, countAt + 4);
  recount.writeUInt32BE(zlib.crc32(recount.subarray(0, recount.length - 12)), recount.length - 12);
  fs.writeFileSync(file, recount);
  refused(file, /records, trailer says/);
  // A broken tree with a valid checksum: an entry pointing at a missing inode.
  const md = sample();
  md.namespace.dir(1).children.set('ghost', 999);
  writeBuffers(file, md);
  refused(file, /ghost/);
  fs.writeFileSync(file, Buffer.alloc(100, 'not a dump '));
  refused(file, /bad magic/);
});

test('install rotates .back generations and keeps BACK_META_KEEP_PREVIOUS', async () => {
  const dir = tempDir();
  const md = sample();
  const versions: number[] = [];
  for (let i = 0; i < 5; i++) {
    md.apply(md.version + 1, { kind: 'chunkserverAdd', csId: 10 + i });
    versions.push(md.version);
    await writeDump(dir, serializeDump(md, 6000 + i), 2);
  }
  const names = fs.readdirSync(dir).sort();
  assert.equal(names, ['metadata.amd', 'metadata.amd.back.1', 'metadata.amd.back.2']);
  assert.equal(listDumps(dir).map((d) => d.version), versions.slice(-3).reverse());
  assert.is(await oldestDumpVersion(dir), versions[2]);
  await writeDump(dir, serializeDump(md, 7000), 0);
  assert.equal(fs.readdirSync(dir), ['metadata.amd'], 'keep 0: the extra generations go');
});

test.after(removeTempDirs);
test.run();
