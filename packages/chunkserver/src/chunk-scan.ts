// The start-up scan: every chunk file on every disk, its header read and checked against its
// name and size. A file whose header is consistent is taken as it is; one left inconsistent by a
// crash (name and header versions differ, or the size does not match the stored length) is
// verified whole on the checksum pool and its header rewritten; bad blocks mark it damaged.
// Of two files of one chunk, the lower version is stale and removed. A file no longer than a
// header whose header is torn is a create cut short by a crash (creates are not fsynced): it
// holds no data, so it is removed and the copy is simply missing.
import fs from 'node:fs/promises';
import { FsError, type Logger } from '@antlerfs/protocol';
import {
  FIXED_FIELDS_BYTES, HEADER_BYTES, decodeHeader, fsCall, readFully, rewriteChunkHeader,
} from './chunk-file.ts';
import type { ChecksumPool } from './checksum-pool.ts';
import type { Disk, FoundChunkFile } from './disk.ts';

/** Headers read at once during the scan (the thread pool runs them in parallel). */
const SCAN_INSPECTIONS_INFLIGHT_MAX = 32;

export interface ScannedChunk {
  chunkId: number;
  version: number;
  lengthBytes: number;
  disk: Disk;
  damaged: boolean;
  path: string;
}

export async function scanDisks(
  disks: Disk[], pool: ChecksumPool, log: Logger,
): Promise<ScannedChunk[]> {
  const work: { disk: Disk; file: FoundChunkFile }[] = [];
  for (const disk of disks) {
    let files: FoundChunkFile[];
    try {
      files = await disk.io(() => disk.listChunkFiles(log));
    } catch (err) {
      // A folder that cannot be listed holds nothing we can serve.
      disk.markDamaged(`cannot list chunk files: ${(err as Error).message}`);
      continue;
    }
    for (const file of files) work.push({ disk, file });
  }
  const kept = new Map<number, ScannedChunk>();
  let next = 0;
  const inspector = async (): Promise<void> => {
    // Each pass takes the next file; the loop ends when the list is used up.
    while (next < work.length) {
      const { disk, file } = work[next++]!;
      let chunk: ScannedChunk | null = null;
      try {
        chunk = await disk.io(() => inspect(disk, file, pool, log));
      } catch (err) {
        log.error('chunk file unreadable: left aside', {
          path: file.path, error: (err as Error).message,
        });
      }
      if (chunk !== null) await keepNewest(kept, chunk, log);
    }
  };
  const inspectors = Math.min(SCAN_INSPECTIONS_INFLIGHT_MAX, work.length);
  await Promise.all(Array.from({ length: inspectors }, inspector));
  return [...kept.values()];
}

/** Reads a file's fixed header fields and size; repairs it if they disagree with its name. */
async function inspect(
  disk: Disk, file: FoundChunkFile, pool: ChecksumPool, log: Logger,
): Promise<ScannedChunk | null> {
  const handle = await fsCall('open', file.path, () => fs.open(file.path, 'r'));
  let fields: Buffer;
  let sizeBytes: number;
  try {
    fields = Buffer.alloc(FIXED_FIELDS_BYTES);
    await fsCall('read', file.path, () => readFully(handle, fields, 0, FIXED_FIELDS_BYTES, 0));
    sizeBytes = (await fsCall('stat', file.path, () => handle.stat())).size;
  } finally {
    await handle.close().catch(() => undefined);
  }
  const header = decodeHeader(fields);
  if (sizeBytes <= HEADER_BYTES && ('invalid' in header || sizeBytes < HEADER_BYTES)) {
    log.warn('removing chunk file cut short at creation', { path: file.path, sizeBytes });
    await fsCall('unlink', file.path, () => fs.unlink(file.path));
    return null;
  }
  if ('invalid' in header) throw new FsError('EIO', `header: ${header.invalid}`);
  if (header.chunkId !== file.chunkId) {
    throw new FsError('EIO', `header names chunk ${header.chunkId}`);
  }
  const consistent = header.version === file.version
    && sizeBytes === HEADER_BYTES + header.lengthBytes;
  if (consistent) {
    return {
      chunkId: file.chunkId, version: file.version, lengthBytes: header.lengthBytes, disk,
      damaged: false, path: file.path,
    };
  }
  const checked = await pool.verifyChunkFile(file.path);
  const version = Math.max(file.version, checked.header.version);
  // Bytes the header counts but the file lost are zero-filled, so their blocks fail their
  // checksums on every read instead of reading as a hole.
  const lengthBytes = Math.max(checked.header.lengthBytes, checked.dataBytes);
  const newPath = await rewriteChunkHeader(file.path, {
    chunkId: file.chunkId, version, lengthBytes, checksums: checked.header.checksums,
  });
  const damaged = checked.badBlocks.length > 0;
  log.warn('inconsistent chunk header repaired', {
    path: newPath, nameVersion: file.version, headerVersion: header.version, version,
    headerLength: header.lengthBytes, dataBytes: checked.dataBytes, lengthBytes,
    badBlocks: checked.badBlocks.length, damaged,
  });
  return { chunkId: file.chunkId, version, lengthBytes, disk, damaged, path: newPath };
}

/** Keeps the better of two files of one chunk (newer, then undamaged, then longer). */
async function keepNewest(
  kept: Map<number, ScannedChunk>, chunk: ScannedChunk, log: Logger,
): Promise<void> {
  const other = kept.get(chunk.chunkId);
  let loser = chunk;
  if (other === undefined || better(chunk, other)) {
    kept.set(chunk.chunkId, chunk);
    if (other === undefined) return;
    loser = other;
  }
  const winner = kept.get(chunk.chunkId)!;
  log.warn('removing second copy of a chunk', {
    chunkId: chunk.chunkId, removed: loser.path, kept: winner.path,
  });
  await fsCall('unlink', loser.path, () => fs.unlink(loser.path)).catch((err: Error) => {
    log.error('cannot remove second copy of a chunk', { path: loser.path, error: err.message });
  });
}

function better(a: ScannedChunk, b: ScannedChunk): boolean {
  if (a.version !== b.version) return a.version > b.version;
  if (a.damaged !== b.damaged) return !a.damaged;
  return a.lengthBytes > b.lengthBytes;
}
