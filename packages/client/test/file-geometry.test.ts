// Goal: the split of writes into chunk spans and block pieces, and of reads into requests, at
// every boundary (0 B, 1 B, 64 KiB +- 1, 64 MiB +- 1): pieces tile the range exactly, never
// cross a block or chunk, and line up with the caller's buffer.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BLOCK_SIZE_BYTES as B, CHUNK_SIZE_BYTES as C, READ_SIZE_MAX_BYTES as R,
} from '@antlerfs/protocol';
import { blockPieces, chunkSpans, readRequests } from '../src/file-geometry.ts';

const sizes = [0, 1, B - 1, B, B + 1, C - 1, C, C + 1];
const positions = [0, 1, B - 1, B, B + 1, C - 1, C, C + 1, 3 * C - 5];

test('chunk spans and block pieces tile every range exactly', () => {
  for (const position of positions) {
    for (const size of sizes) {
      let next = 0;
      for (const span of chunkSpans(position, size)) {
        assert.is(span.rangeOffset, next, 'spans are contiguous');
        const at = span.chunkIndex * C + span.offsetInChunk;
        assert.is(at, position + next, 'span lies at its file offset');
        assert.ok(span.offsetInChunk + span.sizeBytes <= C, 'span within a chunk');
        let inSpan = 0;
        for (const piece of blockPieces(span.offsetInChunk, span.sizeBytes)) {
          assert.is(piece.spanOffset, inSpan, 'pieces are contiguous');
          assert.is(piece.blockIndex * B + piece.offsetInBlock, span.offsetInChunk + inSpan);
          assert.ok(piece.sizeBytes > 0, 'piece not empty');
          assert.ok(piece.offsetInBlock + piece.sizeBytes <= B, 'piece within a block');
          inSpan += piece.sizeBytes;
        }
        assert.is(inSpan, span.sizeBytes);
        next += span.sizeBytes;
      }
      assert.is(next, size, `position ${position} size ${size}`);
    }
  }
});

test('exact splits at the named boundaries', () => {
  assert.equal(chunkSpans(0, 0), []);
  const one = blockPieces(0, 1);
  assert.equal(one, [{ blockIndex: 0, offsetInBlock: 0, sizeBytes: 1, spanOffset: 0 }]);
  assert.is(blockPieces(0, B - 1).length, 1);
  assert.equal(blockPieces(0, B + 1).map((p) => p.sizeBytes), [B, 1]);
  const straddle = blockPieces(B - 1, 2).map((p) => [p.blockIndex, p.offsetInBlock, p.sizeBytes]);
  assert.equal(straddle, [[0, B - 1, 1], [1, 0, 1]]);
  assert.equal(chunkSpans(0, C - 1).map((s) => s.sizeBytes), [C - 1]);
  assert.equal(chunkSpans(0, C + 1).map((s) => [s.chunkIndex, s.sizeBytes]), [[0, C], [1, 1]]);
  assert.is(blockPieces(0, C).length, C / B);
  const last = blockPieces(C - 1, 1);
  const lastPiece = { blockIndex: C / B - 1, offsetInBlock: B - 1, sizeBytes: 1, spanOffset: 0 };
  assert.equal(last, [lastPiece]);
});

test('read requests: within a chunk, at most 1 MiB, cut at 1 MiB multiples', () => {
  for (const position of positions) {
    for (const size of sizes) {
      let next = 0;
      for (const r of readRequests(position, size)) {
        assert.is(r.rangeOffset, next);
        assert.ok(r.sizeBytes > 0 && r.sizeBytes <= R);
        const lastByte = r.offsetInChunk + r.sizeBytes - 1;
        assert.is(Math.floor(r.offsetInChunk / R), Math.floor(lastByte / R), 'aligned');
        assert.ok(r.offsetInChunk + r.sizeBytes <= C);
        next += r.sizeBytes;
      }
      assert.is(next, size);
    }
  }
  assert.equal(readRequests(R - 1, 2).map((r) => r.sizeBytes), [1, 1]);
});

test.run();
