// Goal: a dump loads back to the same metadata; every kind of damage (cut short, flipped byte,
// wrong record count, broken tree) is refused with a reason; installing a dump rotates the
// .back generations and keeps only BACK_META_KEEP_PREVIOUS of them. Method: real files.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InodeType } from '@antlerfs/protocol';
import { Metadata } from '../src/metadata.ts';
import {
  DumpCorruptError, listDumps, loadDump, oldestDumpVersion, readDumpVersion, serializeDump,
  writeDump,
} from '../src/metadata-dump.ts';
import { canonical, removeTempDirs, tempDir } from './helpers.ts';

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
