// How a byte range of a file maps onto chunks (64 MiB) and blocks (64 KiB): the split of a
// write into per-chunk spans and of a span into per-block pieces, and of a read into requests
// of at most READ_SIZE_MAX_BYTES that never cross a chunk. Pure arithmetic, no I/O.
import {
  assert, BLOCK_SIZE_BYTES, BLOCKS_PER_CHUNK, CHUNK_SIZE_BYTES, READ_SIZE_MAX_BYTES,
} from '@antlerfs/protocol';

/** A part of a file range that lies in one chunk. */
export interface ChunkSpan {
  chunkIndex: number;
  offsetInChunk: number;
  sizeBytes: number;
  /** Offset of this span within the whole range (where its bytes are in the caller's buffer). */
  rangeOffset: number;
}

/** A part of a chunk span that lies in one block. */
export interface BlockPiece {
  blockIndex: number;
  offsetInBlock: number;
  sizeBytes: number;
  /** Offset of this piece within the span. */
  spanOffset: number;
}

/** Calls `each` for every chunk the range [position, position + sizeBytes) touches, in order. */
export function forEachChunkSpan(
  position: number, sizeBytes: number, each: (span: ChunkSpan) => void,
): void {
  assert(Number.isSafeInteger(position) && position >= 0, `position ${position}`);
  assert(Number.isSafeInteger(sizeBytes) && sizeBytes >= 0, `size ${sizeBytes}`);
  let done = 0;
  while (done < sizeBytes) {
    const at = position + done;
    const offsetInChunk = at % CHUNK_SIZE_BYTES;
    const span = Math.min(sizeBytes - done, CHUNK_SIZE_BYTES - offsetInChunk);
    const chunkIndex = Math.floor(at / CHUNK_SIZE_BYTES);
    each({ chunkIndex, offsetInChunk, sizeBytes: span, rangeOffset: done });
    done += span;
  }
}

export function chunkSpans(position: number, sizeBytes: number): ChunkSpan[] {
  const out: ChunkSpan[] = [];
  forEachChunkSpan(position, sizeBytes, (s) => out.push(s));
  return out;
}

/** Calls `each` for every block a span within one chunk touches; a piece never crosses a block. */
export function forEachBlockPiece(
  offsetInChunk: number, sizeBytes: number, each: (piece: BlockPiece) => void,
): void {
  assert(offsetInChunk >= 0, 'span offset >= 0');
  assert(offsetInChunk + sizeBytes <= CHUNK_SIZE_BYTES, 'span within a chunk');
  let done = 0;
  while (done < sizeBytes) {
    const at = offsetInChunk + done;
    const offsetInBlock = at % BLOCK_SIZE_BYTES;
    const piece = Math.min(sizeBytes - done, BLOCK_SIZE_BYTES - offsetInBlock);
    const blockIndex = Math.floor(at / BLOCK_SIZE_BYTES);
    assert(blockIndex < BLOCKS_PER_CHUNK, 'block index within the chunk');
    each({ blockIndex, offsetInBlock, sizeBytes: piece, spanOffset: done });
    done += piece;
  }
}

export function blockPieces(offsetInChunk: number, sizeBytes: number): BlockPiece[] {
  const out: BlockPiece[] = [];
  forEachBlockPiece(offsetInChunk, sizeBytes, (p) => out.push(p));
  return out;
}

/**
 * Read requests for [position, position + sizeBytes): each within one chunk, at most
 * READ_SIZE_MAX_BYTES, and cut at multiples of READ_SIZE_MAX_BYTES so that sequential reads of
 * any request size ask the chunkservers for the same aligned ranges.
 */
export function readRequests(position: number, sizeBytes: number): ChunkSpan[] {
  const out: ChunkSpan[] = [];
  forEachChunkSpan(position, sizeBytes, (span) => {
    let done = 0;
    while (done < span.sizeBytes) {
      const at = span.offsetInChunk + done;
      const toBoundary = READ_SIZE_MAX_BYTES - (at % READ_SIZE_MAX_BYTES);
      const size = Math.min(span.sizeBytes - done, toBoundary);
      out.push({
        chunkIndex: span.chunkIndex, offsetInChunk: at, sizeBytes: size,
        rangeOffset: span.rangeOffset + done,
      });
      done += size;
    }
  });
  return out;
}
