// Goal: the open-file cache never holds more than its bound, closes the least recently used
// idle file, never closes a file in use, and lets an opener wait when every file is busy.
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChunkFile, chunkFilePath, chunkSubfolder } from '../src/chunk-file.ts';
import { OpenFileCache } from '../src/open-file-cache.ts';
import { removeDir, tempDir } from './fixtures.ts';

test('bounded, least recently used first, busy files kept', async () => {
  const dir = await tempDir('cache');
  for (let id = 1; id <= 4; id++) {
    await fs.mkdir(path.join(dir, chunkSubfolder(id)), { recursive: true });
    await (await ChunkFile.create(dir, id, 1)).close();
  }
  const cache = new OpenFileCache(2);
  const opened: number[] = [];
  const open = (id: number) => () => {
    opened.push(id);
    return ChunkFile.open(chunkFilePath(dir, id, 1), id, 1, 0);
  };
  await cache.use(1, open(1), async () => undefined);
  await cache.use(2, open(2), async () => undefined);
  await cache.use(1, open(1), async () => undefined); // 1 is now the most recent
  await cache.use(3, open(3), async () => undefined); // evicts 2
  await cache.use(1, open(1), async () => undefined); // still open
  assert.equal(opened, [1, 2, 3]);
  assert.is(cache.openCount, 2);

  // Both open files busy: opening a third waits until one is released.
  let releaseBusy!: () => void;
  const busy = new Promise<void>((r) => { releaseBusy = r; });
  const holdA = cache.use(1, open(1), () => busy);
  const holdB = cache.use(3, open(3), () => busy);
  let fourthDone = false;
  const fourth = cache.use(4, open(4), async (f) => { fourthDone = true; return f.chunkId; });
  await new Promise((r) => setTimeout(r, 20));
  assert.not.ok(fourthDone, 'waits while every file is in use');
  assert.is(cache.openCount, 2);
  releaseBusy();
  assert.is(await fourth, 4);
  await Promise.all([holdA, holdB]);
  assert.is(cache.openCount, 2);
  await cache.closeAll();
  assert.is(cache.openCount, 0);
  await removeDir(dir);
});

test.run();
