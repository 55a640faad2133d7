// Block checksums: xxh64 (seed 0) of a block's bytes. A partial last block is checksummed as if
// padded with zeros to BLOCK_SIZE_BYTES, so growing a chunk never invalidates old checksums of
// untouched bytes and holes have a known checksum.
import { xxh64 } from '@node-rs/xxhash';
import { BLOCK_SIZE_BYTES } from './constants.ts';

export function checksum(data: Uint8Array): bigint {
  return xxh64(data);
}

const zeroBlock = Buffer.alloc(BLOCK_SIZE_BYTES);
export const ZERO_BLOCK_CHECKSUM = xxh64(zeroBlock);

/** Checksum of a block whose stored bytes are `data` (<= one block), zero-padded. */
export function blockChecksum(data: Uint8Array): bigint {
  if (data.length === BLOCK_SIZE_BYTES) return xxh64(data);
  if (data.length === 0) return ZERO_BLOCK_CHECKSUM;
  const padded = Buffer.alloc(BLOCK_SIZE_BYTES);
  padded.set(data, 0);
  return xxh64(padded);
}
