// Goal: the chunk file format holds. Header encode/decode round trip, every kind of header
// corruption detected, names parsed back, and a real file in a temporary folder: partial-block
// writes zero-padded, sizes that match the stored bytes only, truncate, version rename, a
// reopened chunk read back whole (open reads ahead into its first block), files cut short
// reported, and a flipped data byte reported as CHECKSUM_MISMATCH. Small reads are served from
// the page cache inline when the native addon is built; the whole file runs again in a child
// process with the addon disabled (ANTLER_NO_NATIVE=1), so both read paths give the same bytes
// and errors. Written data leaves the page cache after a sync when the cache policy asks
// (checked with preadNoWait, which reads only what is cached) and reads back the same.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BLOCK_SIZE_BYTES, BLOCKS_PER_CHUNK, FsError, ZERO_BLOCK_CHECKSUM, blockChecksum, checksum,
} from '@antlerfs/protocol';
import {
  CHECKSUMS_OFFSET, ChunkFile, DROP_BEHIND_BYTES, HEADER_BYTES, chunkFileName, chunkFilePath,
  chunkSubfolder, decodeHeader, encodeHeader, giveReadBuffer, inlineReadCounters,
  parseChunkFileName,
} from '../src/chunk-file.ts';
import { dropCachedAvailable, preadNoWait, preadNoWaitAvailable } from '@antlerfs/native';
import { flipByte, patternBytes, removeDir, tempDir } from './fixtures.ts';

test('header round trip keeps every field and the table', () => {
  const checksums = patternBytes(BLOCKS_PER_CHUNK * 8, 1);
  const id = 2 ** 52 + 0xa3f;
  const buf = encodeHeader({ chunkId: id, version: 0xfffffffe, lengthBytes: 12345, checksums });
  assert.is(buf.length, HEADER_BYTES);
  assert.is(HEADER_BYTES % 4096, 0);
  const h = decodeHeader(buf);
  if ('invalid' in h) throw new Error(h.invalid);
  assert.is(h.chunkId, id);
  assert.is(h.version, 0xfffffffe);
  assert.is(h.lengthBytes, 12345);
  assert.ok(h.checksums.equals(checksums));
});

test('a new header holds the zero-block checksum for every block', () => {
  const h = decodeHeader(encodeHeader({ chunkId: 1, version: 1, lengthBytes: 0 }));
  if ('invalid' in h) throw new Error(h.invalid);
  for (let b = 0; b < BLOCKS_PER_CHUNK; b++) {
    assert.is(h.checksums.readBigUInt64BE(8 * b), ZERO_BLOCK_CHECKSUM);
  }
});

test('corrupt headers are detected with a reason', () => {
  const good = encodeHeader({ chunkId: 77, version: 3, lengthBytes: 100 });
  const cases: [string, (b: Buffer) => void, RegExp][] = [
    ['magic', (b) => { b[0] = 0x41 ^ 0xff; }, /magic/],
    ['format', (b) => { b.writeUInt32BE(9, 8); }, /format/],
    ['header size', (b) => { b.writeUInt32BE(4096, 12); }, /header size/],
    ['chunk id', (b) => { b[23] ^= 1; }, /checksum/],
    ['version', (b) => { b[27] ^= 0x10; }, /checksum/],
    ['length', (b) => { b[30] ^= 0x80; }, /checksum/],
    ['fields checksum', (b) => { b[39] ^= 1; }, /checksum/],
  ];
  for (const [what, corrupt, reason] of cases) {
    const b = Buffer.from(good);
    corrupt(b);
    const h = decodeHeader(b);
    assert.ok('invalid' in h, `${what} corruption detected`);
    if ('invalid' in h) assert.match(h.invalid, reason, what);
  }
  const short = decodeHeader(good.subarray(0, 20));
  assert.ok('invalid' in short);
});

test('file names encode id and version and parse back', () => {
  assert.is(chunkFileName(0xa3f, 1), 'chunk_0000000000000A3F_00000001.dat');
  assert.equal(parseChunkFileName('chunk_0000000000000A3F_00000001.dat'),
    { chunkId: 0xa3f, version: 1 });
  assert.is(chunkSubfolder(0xa3f), '3F');
  assert.is(chunkSubfolder(0x100), '00');
  assert.is(parseChunkFileName('chunk_0000000000000A3F_00000001.dat.tmp'), null);
  assert.is(parseChunkFileName('chunk_FFFFFFFFFFFFFFFF_00000001.dat'), null, 'id above 2^53');
  assert.is(parseChunkFileName('chunk_0000000000000000_00000001.dat'), null, 'id 0');
  assert.is(parseChunkFileName('chunk_0000000000000001_00000000.dat'), null, 'version 0');
  assert.is(parseChunkFileName('notes.txt'), null);
});

async function withChunk(work: (dir: string, f: ChunkFile) => Promise<void>): Promise<void> {
  const dir = await tempDir('file');
  await fs.mkdir(path.join(dir, chunkSubfolder(0x1234)));
  const f = await ChunkFile.create(dir, 0x1234, 1);
  try {
    await work(dir, f);
  } finally {
    await f.close();
    await removeDir(dir);
  }
}

test('a chunk file holds only the bytes written; partial blocks are zero-padded', async () => {
  await withChunk(async (dir, f) => {
    const p = chunkFilePath(dir, 0x1234, 1);
    assert.is((await fs.stat(p)).size, 0, 'a new chunk is an empty file until it is written');
    await f.settleHeader();
    assert.is((await fs.stat(p)).size, HEADER_BYTES, 'then an empty chunk is only a header');
    const one = Buffer.from([0xab]);
    await f.writeBlock(0, 0, one, checksum(one));
    assert.is((await fs.stat(p)).size, HEADER_BYTES + 1, 'a 1-byte chunk');
    assert.is(f.blockChecksum(0), blockChecksum(one));
    // A write after a gap inside the block: the gap reads as zeros.
    const tail = patternBytes(100, 2);
    await f.writeBlock(0, 1000, tail, checksum(tail));
    const expect = Buffer.alloc(1100);
    expect[0] = 0xab;
    tail.copy(expect, 1000);
    assert.ok((await f.read(0, 1100)).equals(expect));
    assert.is(f.blockChecksum(0), blockChecksum(expect));
    // Past the stored length: zeros, and reading is allowed.
    assert.ok((await f.read(5000, 70_000)).equals(Buffer.alloc(70_000)));
    // A block far out leaves a hole of zero blocks that still verify.
    const block = patternBytes(BLOCK_SIZE_BYTES, 3);
    await f.writeBlock(10, 0, block, checksum(block));
    assert.is(f.lengthBytes, 11 * BLOCK_SIZE_BYTES);
    assert.is((await fs.stat(p)).size, HEADER_BYTES + 11 * BLOCK_SIZE_BYTES);
    const hole = await f.read(5 * BLOCK_SIZE_BYTES, BLOCK_SIZE_BYTES);
    assert.ok(hole.equals(Buffer.alloc(BLOCK_SIZE_BYTES)));
    assert.ok((await f.read(10 * BLOCK_SIZE_BYTES, BLOCK_SIZE_BYTES)).equals(block));
    // After sync the header on disk agrees with memory (its length may lag before).
    await f.sync();
    const h = decodeHeader(await fs.readFile(p).then((b) => b.subarray(0, HEADER_BYTES)));
    if ('invalid' in h) throw new Error(h.invalid);
    assert.is(h.lengthBytes, 11 * BLOCK_SIZE_BYTES);
    assert.is(h.checksums.readBigUInt64BE(80), checksum(block));
  });
});

test('a large read buffer given back is read into again and shows only the new bytes', async () => {
  await withChunk(async (_dir, f) => {
    const blocks = [1, 2, 3].map((seed) => patternBytes(BLOCK_SIZE_BYTES, seed));
    for (const [i, b] of blocks.entries()) await f.writeBlock(i, 0, b, checksum(b));
    const first = await f.read(0, 2 * BLOCK_SIZE_BYTES);
    assert.ok(first.equals(Buffer.concat(blocks.slice(0, 2))));
    giveReadBuffer(first);
    // The next large read lands in the same memory; past the stored end it reads zeros, not
    // what the buffer held before.
    const second = await f.read(2 * BLOCK_SIZE_BYTES, 2 * BLOCK_SIZE_BYTES);
    assert.is(second.buffer, first.buffer, 'the buffer given back is reused');
    assert.ok(second.equals(Buffer.concat([blocks[2]!, Buffer.alloc(BLOCK_SIZE_BYTES)])));
    // Not given back: the next read takes other memory and the view keeps its bytes.
    const third = await f.read(100, 100_000);
    assert.is.not(third.buffer, second.buffer);
    assert.ok(second.equals(Buffer.concat([blocks[2]!, Buffer.alloc(BLOCK_SIZE_BYTES)])));
    assert.ok(third.equals(Buffer.concat(blocks).subarray(100, 100_100)));
    // A small read is a copy of its own: giving it back changes nothing.
    const small = await f.read(10, 1000);
    giveReadBuffer(small);
    assert.ok(small.equals(blocks[0]!.subarray(10, 1010)));
  });
});

test('a flipped data byte gives CHECKSUM_MISMATCH naming the block', async () => {
  await withChunk(async (dir, f) => {
    const data = patternBytes(3 * BLOCK_SIZE_BYTES, 4);
    for (let b = 0; b < 3; b++) {
      const block = data.subarray(b * BLOCK_SIZE_BYTES, (b + 1) * BLOCK_SIZE_BYTES);
      await f.writeBlock(b, 0, block, checksum(block));
    }
    await flipByte(chunkFilePath(dir, 0x1234, 1), HEADER_BYTES + BLOCK_SIZE_BYTES + 7);
    assert.ok((await f.read(0, BLOCK_SIZE_BYTES)).equals(data.subarray(0, BLOCK_SIZE_BYTES)));
    try {
      await f.read(100, 2 * BLOCK_SIZE_BYTES);
      assert.unreachable('bad block served');
    } catch (err) {
      assert.instance(err, FsError);
      assert.is((err as FsError).code, 'CHECKSUM_MISMATCH');
      assert.match((err as FsError).message, /block 1 of/);
    }
    // Small reads (checked in a scratch buffer) see the same: good bytes, and the bad block.
    const small = await f.read(BLOCK_SIZE_BYTES - 100, 100);
    assert.ok(small.equals(data.subarray(BLOCK_SIZE_BYTES - 100, BLOCK_SIZE_BYTES)));
    for (const [at, size] of [[BLOCK_SIZE_BYTES + 4000, 100], [BLOCK_SIZE_BYTES - 10, 4096]]) {
      try {
        await f.read(at!, size!);
        assert.unreachable('bad block served to a small read');
      } catch (err) {
        assert.is((err as FsError).code, 'CHECKSUM_MISMATCH');
      }
    }
    // A partial write into the bad block is refused too (no laundering of bad bytes).
    const patch = Buffer.from('patch');
    try {
      await f.writeBlock(1, 10, patch, checksum(patch));
      assert.unreachable('partial write over a bad block');
    } catch (err) {
      assert.is((err as FsError).code, 'CHECKSUM_MISMATCH');
    }
  });
});

test('truncate cuts, re-checksums the last block, zero-extends, and renames', async () => {
  await withChunk(async (dir, f) => {
    const data = patternBytes(2 * BLOCK_SIZE_BYTES, 5);
    for (let b = 0; b < 2; b++) {
      const block = data.subarray(b * BLOCK_SIZE_BYTES, (b + 1) * BLOCK_SIZE_BYTES);
      await f.writeBlock(b, 0, block, checksum(block));
    }
    await f.truncate(BLOCK_SIZE_BYTES + 10, 2);
    assert.is(f.version, 2);
    assert.is(f.path, chunkFilePath(dir, 0x1234, 2));
    const old = await fs.stat(chunkFilePath(dir, 0x1234, 1)).catch(() => null);
    assert.is(old, null, 'old name gone');
    assert.is((await fs.stat(f.path)).size, HEADER_BYTES + BLOCK_SIZE_BYTES + 10);
    const kept = data.subarray(BLOCK_SIZE_BYTES, BLOCK_SIZE_BYTES + 10);
    assert.is(f.blockChecksum(1), blockChecksum(kept));
    const expect = Buffer.alloc(3 * BLOCK_SIZE_BYTES);
    data.copy(expect, 0, 0, BLOCK_SIZE_BYTES + 10);
    assert.ok((await f.read(0, 3 * BLOCK_SIZE_BYTES)).equals(expect));
    // Zero-extend: the old bytes stay, the rest reads as zeros, checksums still hold.
    await f.truncate(5 * BLOCK_SIZE_BYTES, 3);
    assert.is((await fs.stat(f.path)).size, HEADER_BYTES + 5 * BLOCK_SIZE_BYTES);
    const grown = Buffer.alloc(5 * BLOCK_SIZE_BYTES);
    expect.copy(grown);
    assert.ok((await f.read(0, 5 * BLOCK_SIZE_BYTES)).equals(grown));
    // The file reopens with the same header.
    const again = await ChunkFile.open(f.path, 0x1234, 3, 5 * BLOCK_SIZE_BYTES);
    assert.is(again.lengthBytes, 5 * BLOCK_SIZE_BYTES);
    assert.is(again.blockChecksum(1), f.blockChecksum(1));
    await again.close();
    const raw = await fs.readFile(f.path);
    assert.is(raw.readBigUInt64BE(CHECKSUMS_OFFSET + 8 * 2), ZERO_BLOCK_CHECKSUM);
  });
});

test('open reads the header and the first block at once; short files are reported', async () => {
  await withChunk(async (dir, f) => {
    const p = chunkFilePath(dir, 0x1234, 1);
    const first = patternBytes(BLOCK_SIZE_BYTES, 5);
    const second = patternBytes(1000, 6);
    await f.writeBlock(0, 0, first, checksum(first));
    await f.writeBlock(1, 0, second, checksum(second));
    await f.sync();
    const length = BLOCK_SIZE_BYTES + 1000;
    for (const size of [100, BLOCK_SIZE_BYTES, length]) {
      const again = await ChunkFile.open(p, 0x1234, 1, length);
      try {
        assert.ok((await again.read(0, size)).equals(Buffer.concat([first, second])
          .subarray(0, size)), `${size} bytes read back after a reopen`);
      } finally {
        await again.close();
      }
    }
    // Cut after the header: it opens, and a read names the damaged block.
    const whole = await fs.readFile(p);
    await fs.writeFile(p, whole.subarray(0, HEADER_BYTES + 100));
    const cut = await ChunkFile.open(p, 0x1234, 1, length);
    try {
      await cut.read(0, 100);
      assert.unreachable('read a block cut short');
    } catch (err) {
      assert.is((err as FsError).code, 'CHECKSUM_MISMATCH');
    } finally {
      await cut.close();
    }
    // Cut inside the header: EIO with the reason.
    await fs.writeFile(p, whole.subarray(0, HEADER_BYTES - 1));
    try {
      await ChunkFile.open(p, 0x1234, 1, length);
      assert.unreachable('opened a file without a whole header');
    } catch (err) {
      assert.is((err as FsError).code, 'EIO');
      assert.match((err as FsError).message, /header is \d+ bytes/);
    }
    await fs.writeFile(p, whole); // as it was, for the cleanup
  });
});

test('set version writes the header and renames; open checks id and version', async () => {
  await withChunk(async (dir, f) => {
    await f.setVersion(9);
    const p = chunkFilePath(dir, 0x1234, 9);
    assert.is(f.path, p);
    const again = await ChunkFile.open(p, 0x1234, 9, 0);
    assert.is(again.version, 9);
    await again.close();
    try {
      await ChunkFile.open(p, 0x1234, 8, 0);
      assert.unreachable('opened with the wrong version');
    } catch (err) {
      assert.is((err as FsError).code, 'EIO');
    }
    try {
      await ChunkFile.open(path.join(dir, 'missing.dat'), 1, 1, 0);
      assert.unreachable('opened a missing file');
    } catch (err) {
      assert.is((err as FsError).code, 'ENOENT');
      assert.match((err as FsError).message, /missing\.dat/);
    }
  });
});

test('concurrent block writes go out in batches and land with their checksums', async () => {
  await withChunk(async (dir, f) => {
    // 100 whole blocks in pieces, out of order, all in flight: gaps among the first 30, then a
    // run of 70 adjacent ones (longer than one pwritev takes); and a partial block.
    const data = patternBytes(108 * BLOCK_SIZE_BYTES, 9);
    const blockOf = (b: number): Buffer =>
      data.subarray(b * BLOCK_SIZE_BYTES, (b + 1) * BLOCK_SIZE_BYTES);
    const order = Array.from({ length: 100 }, (_, i) => (i * 7) % 100)
      .filter((b) => b >= 30 || b % 13 !== 5);
    const writes = order.map((b) => {
      const block = blockOf(b);
      const cut = (b * 977) % BLOCK_SIZE_BYTES;
      return f.writeBlock(b, 0, [block.subarray(0, cut), block.subarray(cut)], checksum(block));
    });
    const tail = blockOf(105).subarray(100, 5000);
    writes.push(f.writeBlock(105, 100, tail, checksum(tail)));
    await Promise.all(writes);
    assert.is(f.lengthBytes, 105 * BLOCK_SIZE_BYTES + 5000);
    const expect = Buffer.alloc(106 * BLOCK_SIZE_BYTES);
    for (const b of order) blockOf(b).copy(expect, b * BLOCK_SIZE_BYTES);
    tail.copy(expect, 105 * BLOCK_SIZE_BYTES + 100);
    for (let b = 0; b < 106; b += 16) {
      const size = Math.min(16, 106 - b) * BLOCK_SIZE_BYTES;
      const got = await f.read(b * BLOCK_SIZE_BYTES, size);
      assert.ok(got.equals(expect.subarray(b * BLOCK_SIZE_BYTES, b * BLOCK_SIZE_BYTES + size)));
    }
    // Small reads, one crossing a block boundary and one past the stored end, match too.
    const end = f.lengthBytes;
    for (const [at, size] of [[5 * BLOCK_SIZE_BYTES - 2048, 4096], [end - 100, 4096]]) {
      const got = await f.read(at!, size!);
      const want = Buffer.alloc(size!);
      expect.copy(want, 0, at!, Math.min(at! + size!, expect.length));
      assert.ok(got.equals(want), `small read at ${at}`);
    }
    // The table on disk matches the data once synced: the header and every entry are durable.
    await f.sync();
    const onDisk = await fs.readFile(chunkFilePath(dir, 0x1234, 1));
    const h = decodeHeader(onDisk.subarray(0, HEADER_BYTES));
    if ('invalid' in h) throw new Error(h.invalid);
    assert.is(h.lengthBytes, f.lengthBytes);
    for (let b = 0; b < 106; b++) {
      const stored = expect.subarray(b * BLOCK_SIZE_BYTES, (b + 1) * BLOCK_SIZE_BYTES);
      assert.is(h.checksums.readBigUInt64BE(8 * b), checksum(stored), `block ${b}`);
    }
    assert.is(onDisk.length, HEADER_BYTES + f.lengthBytes);
  });
});

test('small reads of cached blocks are served inline when the addon is there', async () => {
  await withChunk(async (_dir, f) => {
    const data = patternBytes(3 * BLOCK_SIZE_BYTES, 11);
    for (let b = 0; b < 3; b++) {
      const block = data.subarray(b * BLOCK_SIZE_BYTES, (b + 1) * BLOCK_SIZE_BYTES);
      await f.writeBlock(b, 0, block, checksum(block));
    }
    const before = { ...inlineReadCounters };
    const reads: [number, number][] = [
      [0, 4096], [BLOCK_SIZE_BYTES - 2048, 4096], [2 * BLOCK_SIZE_BYTES + 100, 60_000],
      [BLOCK_SIZE_BYTES + 1, BLOCK_SIZE_BYTES], [3 * BLOCK_SIZE_BYTES - 10, 4096],
    ];
    for (const [at, size] of reads) {
      const want = Buffer.alloc(size);
      data.copy(want, 0, at, Math.min(at + size, data.length));
      assert.ok((await f.read(at, size)).equals(want), `read at ${at}`);
    }
    // Just written, so cached: every read is a hit with the addon, a miss without it.
    const hits = inlineReadCounters.hits - before.hits;
    const misses = inlineReadCounters.misses - before.misses;
    assert.is(hits, preadNoWaitAvailable ? reads.length : 0);
    assert.is(misses, preadNoWaitAvailable ? 0 : reads.length);
    // A read larger than two blocks keeps the thread pool and counts neither.
    await f.read(0, 3 * BLOCK_SIZE_BYTES);
    assert.is(inlineReadCounters.hits + inlineReadCounters.misses - before.hits - before.misses,
      reads.length);
  });
});

test('written data leaves the page cache at sync and close if the policy says so', async () => {
  const dir = await tempDir('cache');
  try {
    const blocks = (3 * DROP_BEHIND_BYTES) / BLOCK_SIZE_BYTES;
    for (const [chunkId, dropWritten] of [[0x2001, false], [0x2002, true]] as const) {
      await fs.mkdir(path.join(dir, chunkSubfolder(chunkId)), { recursive: true });
      const f = await ChunkFile.create(dir, chunkId, 1, { dropWritten });
      const writes: Promise<void>[] = [];
      for (let b = 0; b < blocks; b++) {
        const block = patternBytes(BLOCK_SIZE_BYTES, b);
        writes.push(f.writeBlock(b, 0, block, checksum(block)));
      }
      await Promise.all(writes);
      await f.sync();
      await f.close();
      // What stays cached, seen through a descriptor of its own (the cache is the inode's).
      const handle = await fs.open(chunkFilePath(dir, chunkId, 1), 'r');
      const probe = Buffer.alloc(4096);
      const cached = (at: number): boolean =>
        preadNoWait(handle.fd, probe, 0, probe.length, at) === probe.length;
      // Not the first blocks: a large folio holding the header may hold them too, and stays.
      const dataAt = [blocks / 2, blocks - 1].map((b) => HEADER_BYTES + b * BLOCK_SIZE_BYTES);
      try {
        if (preadNoWaitAvailable && dropCachedAvailable) {
          assert.ok(cached(0), 'the header stays cached');
          for (const at of dataAt) assert.is(cached(at), !dropWritten, `data at ${at}`);
        }
      } finally {
        await handle.close();
      }
      // Dropped or not, every block reads back whole.
      const again = await ChunkFile.open(chunkFilePath(dir, chunkId, 1), chunkId, 1,
        blocks * BLOCK_SIZE_BYTES, { dropWritten });
      try {
        for (const b of [0, blocks / 2, blocks - 1]) {
          const got = await again.read(b * BLOCK_SIZE_BYTES, BLOCK_SIZE_BYTES);
          assert.ok(got.equals(patternBytes(BLOCK_SIZE_BYTES, b)), `block ${b}`);
        }
      } finally {
        await again.close();
      }
    }
  } finally {
    await removeDir(dir);
  }
});

/** The header and stored bytes in the file, and the decoded header. */
async function onDisk(
  p: string,
): Promise<{ size: number; header: ReturnType<typeof decodeHeader> }> {
  const bytes = await fs.readFile(p);
  return { size: bytes.length, header: decodeHeader(bytes.subarray(0, HEADER_BYTES)) };
}

test("a new chunk's header goes with its first write, at block 0 or further on", async () => {
  for (const blockIndex of [0, 3]) {
    await withChunk(async (dir, f) => {
      const p = chunkFilePath(dir, 0x1234, 1);
      const block = patternBytes(BLOCK_SIZE_BYTES, 5 + blockIndex);
      await f.writeBlock(blockIndex, 0, block, checksum(block));
      // No sync: the write itself put a whole, current header in the file.
      const { size, header } = await onDisk(p);
      if ('invalid' in header) throw new Error(header.invalid);
      assert.is(size, HEADER_BYTES + (blockIndex + 1) * BLOCK_SIZE_BYTES);
      assert.is(header.lengthBytes, (blockIndex + 1) * BLOCK_SIZE_BYTES);
      assert.is(header.checksums.readBigUInt64BE(8 * blockIndex), checksum(block));
      await f.close();
      const again = await ChunkFile.open(p, 0x1234, 1, header.lengthBytes);
      try {
        const got = await again.read(blockIndex * BLOCK_SIZE_BYTES, BLOCK_SIZE_BYTES);
        assert.ok(got.equals(block), `block ${blockIndex} reads back after a reopen`);
      } finally {
        await again.close();
      }
    });
  }
});

test('a new chunk closed or synced before a write gets the header of an empty chunk', async () => {
  for (const end of ['close', 'sync'] as const) {
    await withChunk(async (dir, f) => {
      const p = chunkFilePath(dir, 0x1234, 1);
      if (end === 'close') await f.close();
      else await f.sync();
      const { size, header } = await onDisk(p);
      if ('invalid' in header) throw new Error(`${end}: ${header.invalid}`);
      assert.is(size, HEADER_BYTES, end);
      assert.is(header.lengthBytes, 0);
      assert.is(header.checksums.readBigUInt64BE(0), ZERO_BLOCK_CHECKSUM);
      if (end === 'sync') {
        // Writes after a header written on its own still reach the file.
        const block = patternBytes(BLOCK_SIZE_BYTES, 9);
        await f.writeBlock(0, 0, block, checksum(block));
        await f.sync();
        const after = await onDisk(p);
        if ('invalid' in after.header) throw new Error(after.header.invalid);
        assert.is(after.header.lengthBytes, BLOCK_SIZE_BYTES);
        assert.is(after.header.checksums.readBigUInt64BE(0), checksum(block));
      }
    });
  }
});

if (process.env['ANTLER_NO_NATIVE'] !== '1') {
  test('every test above passes the same with the native addon disabled', () => {
    const self = path.resolve(import.meta.dirname, 'chunk-file.test.ts');
    const child = spawnSync(process.execPath, ['--import', 'tsx', self], {
      env: { ...process.env, ANTLER_NO_NATIVE: '1' }, encoding: 'utf8', timeout: 120_000,
    });
    assert.is(child.status, 0, child.stdout + child.stderr);
    assert.match(child.stdout, /Passed:\s+15/);
  });
}

test.run();
