// Goal: whole-chunk checksum work on the worker pool gives the same answers as inline hashing.
// A full 64 MiB chunk verifies clean, a flipped byte is found in its block, a chunk file on
// disk is verified from its own header, and the worker also loads in a process that registers
// TypeScript support the way the bin shim does (not inherited by worker threads).
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BLOCK_SIZE_BYTES, BLOCKS_PER_CHUNK, CHUNK_SIZE_BYTES, checksum } from '@antlerfs/protocol';
import { ChunkFile, HEADER_BYTES, chunkFilePath, chunkSubfolder } from '../src/chunk-file.ts';
import { ChecksumPool, allocSharedBuffer } from '../src/checksum-pool.ts';
import { blockChecksums as inlineChecksums } from '../src/checksum-worker.ts';
import { patternBytes, removeDir, tempDir } from './fixtures.ts';

const pool = new ChecksumPool(2);

test('a 64 MiB chunk verifies clean and a flipped byte is found in its block', async () => {
  const data = allocSharedBuffer(CHUNK_SIZE_BYTES);
  patternBytes(CHUNK_SIZE_BYTES, 42).copy(data);
  const table = await pool.blockChecksums(data, CHUNK_SIZE_BYTES);
  assert.ok(table.equals(Buffer.from(inlineChecksums(data, CHUNK_SIZE_BYTES))), 'same as inline');
  const block700 = data.subarray(700 * BLOCK_SIZE_BYTES, 701 * BLOCK_SIZE_BYTES);
  assert.is(table.readBigUInt64BE(8 * 700), checksum(block700));
  assert.equal(await pool.verifyBlocks(data, CHUNK_SIZE_BYTES, table), []);
  data[777 * BLOCK_SIZE_BYTES + 12345] ^= 0x08;
  data[BLOCKS_PER_CHUNK * BLOCK_SIZE_BYTES - 1] ^= 0x01;
  assert.equal(await pool.verifyBlocks(data, CHUNK_SIZE_BYTES, table), [777, 1023]);
});

test('a partial chunk: blocks past the length must carry the zero-block checksum', async () => {
  const length = 3 * BLOCK_SIZE_BYTES + 10;
  const data = allocSharedBuffer(4 * BLOCK_SIZE_BYTES);
  patternBytes(length, 1).copy(data);
  const table = await pool.blockChecksums(data, length);
  assert.equal(await pool.verifyBlocks(data, length, table), []);
  const wrong = Buffer.from(table);
  wrong.writeBigUInt64BE(123n, 8 * 900);
  assert.equal(await pool.verifyBlocks(data, length, wrong), [900]);
});

test('a chunk file on disk is verified against its own header', async () => {
  const dir = await tempDir('pool');
  await fs.mkdir(path.join(dir, chunkSubfolder(12)));
  const f = await ChunkFile.create(dir, 12, 1);
  const data = patternBytes(CHUNK_SIZE_BYTES, 9);
  for (let b = 0; b < BLOCKS_PER_CHUNK; b++) {
    const block = data.subarray(b * BLOCK_SIZE_BYTES, (b + 1) * BLOCK_SIZE_BYTES);
    await f.writeBlock(b, 0, block, checksum(block));
  }
  await f.close();
  const p = chunkFilePath(dir, 12, 1);
  const clean = await pool.verifyChunkFile(p);
  assert.is(clean.dataBytes, CHUNK_SIZE_BYTES);
  assert.equal(clean.badBlocks, []);
  const h = await fs.open(p, 'r+');
  await h.write(Buffer.from([0xff]), 0, 1, HEADER_BYTES + 500 * BLOCK_SIZE_BYTES + 3);
  await h.close();
  assert.equal((await pool.verifyChunkFile(p)).badBlocks, [500]);
  await removeDir(dir);
});

test('the worker loads where only the main thread registered tsx', async () => {
  const poolUrl = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)),
    '../src/checksum-pool.ts')).href;
  const script = [
    "import { register } from 'tsx/esm/api';",
    'register();',
    `const { ChecksumPool, allocSharedBuffer } = await import(${JSON.stringify(poolUrl)});`,
    'const pool = new ChecksumPool(1);',
    'const data = allocSharedBuffer(65536);',
    'const table = await pool.blockChecksums(data, 65536);',
    'console.log(JSON.stringify(await pool.verifyBlocks(data, 65536, table)));',
    'await pool.close();',
  ].join('\n');
  const run = promisify(execFile);
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'),
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  assert.is(stdout.trim(), '[]');
});

test.after(async () => {
  await pool.close();
});

test.run();
