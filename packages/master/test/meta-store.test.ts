// Goal: the live store: periodic dumps are written while changes keep coming, rotate the
// changelog and prune files no kept dump needs; chunk ids handed out after a crash are above
// every id reserved before it; commits stop cleanly at close. Method: a MetaStore on a
// temporary DATA_PATH with a 1-second dump period.
import fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FsError, InodeType, Logger, setLogLevel } from '@antlerfs/protocol';
import { listChangelogFiles } from '../src/changelog.ts';
import { defaultMasterConfig } from '../src/config.ts';
import { CHUNK_ID_RESERVE_BLOCK, MetaStore } from '../src/meta-store.ts';
import { canonical, randomWorkload, removeTempDirs, seeded, tempDir } from './helpers.ts';

setLogLevel('warn');
const log = new Logger('test');

function open(dataPath: string, over = {}): Promise<MetaStore> {
  const config = defaultMasterConfig({ dataPath, ...over });
  return MetaStore.open({ config, log, onFatal: (err) => { throw err; } });
}

test('periodic dumps while serving rotate and prune the changelog', async () => {
  const dir = tempDir();
  const store = await open(dir, { metadataSaveFreqS: 1, backMetaKeepPrevious: 1 });
  try {
    store.startDumpTimer();
    const deadline = Date.now() + 10_000;
    let round = 0;
    while (store.dumpStats.written < 3 && Date.now() < deadline) {
      await randomWorkload(store, 20, seeded(round++));
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(store.dumpStats.written >= 3, 'three periodic dumps');
    // A dump counts as written before it rotates and prunes the changelog: let the last finish.
    store.stopDumpTimer();
    await store.writeDump('test');
    const expected = canonical(store.md);
    const files = listChangelogFiles(dir);
    assert.ok(files.length <= 3, `old changelog files pruned (${files.length} left)`);
    assert.equal(fs.readdirSync(dir).filter((f) => f.startsWith('metadata.amd')).sort(),
      ['metadata.amd', 'metadata.amd.back.1']);
    const reopened = await open(dir);
    assert.is(canonical(reopened.md), expected, 'the kept dump and changelog hold everything');
    await reopened.close();
  } finally {
    await store.close();
  }
});

test('chunk ids after a crash are above every reservation made before it', async () => {
  const dir = tempDir();
  const store = await open(dir);
  const first = await store.allocateChunkId();
  const second = await store.allocateChunkId();
  assert.is(second, first + 1);
  assert.is(store.md.chunkIdLimit, first + CHUNK_ID_RESERVE_BLOCK);
  // No close: ids up to the limit may have reached chunkservers without a record.
  const again = await open(dir);
  const next = await again.allocateChunkId();
  assert.ok(next >= first + CHUNK_ID_RESERVE_BLOCK, `id ${next} is past the old reservation`);
  const ids = await Promise.all(Array.from({ length: 3000 }, () => again.allocateChunkId()));
  assert.is(new Set(ids).size, 3000, 'concurrent allocations never repeat');
  assert.ok(ids.every((id) => id < again.md.chunkIdLimit));
  await again.close();
});

test('after close, commits are refused with a status', async () => {
  const dir = tempDir();
  const store = await open(dir);
  await store.close();
  assert.throws(() => store.commit({
    kind: 'create', parent: 1, name: 'late', inode: store.nextInode(), type: InodeType.FILE,
    mode: 0o644, uid: 0, gid: 0, timeMs: 1, target: '',
  }), (e: unknown) => e instanceof FsError && e.code === 'ENOTCONN');
});

test.after(removeTempDirs);
test.run();
