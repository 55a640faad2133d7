// Downloads the master's dump over the metalogger link (MLTOMA_DUMP_READ, a few pieces in
// flight) into DOWNLOAD_FILE, fsyncs it and checks it with the master's own dump loader, so a
// dump is installed only when a master could start from it. Owns nothing after it returns.
import fsp from 'node:fs/promises';
import path from 'node:path';
import {
  FsError, MLTOMA_DUMP_READ, READ_SIZE_MAX_BYTES, Status, assert, type Link, type Logger,
} from '@antlerfs/protocol';
import type { Metadata } from '../metadata.ts';
import { loadDump } from '../metadata-dump.ts';
import { DOWNLOAD_FILE } from './mirror-folder.ts';

/** Bytes asked for in one DUMP_READ (the protocol's limit is 1 MiB). */
export const DUMP_PIECE_BYTES = READ_SIZE_MAX_BYTES;
/** DUMP_READs in flight at once: enough to fill a long link, few enough to bound memory. */
export const DUMP_READS_INFLIGHT_MAX = 8;
/** Smallest possible dump: header (24) + counters (16) + four counts (16) + trailer (20). */
const DUMP_MIN_BYTES = 76;

/** The master no longer has that dump (it wrote a newer one): register again. */
export class DumpGoneError extends Error {
  override name = 'DumpGoneError';
}

export interface DownloadedDump {
  metadata: Metadata;
  file: string;
  ms: number;
}

export interface DumpDownloadOptions {
  link: Link;
  dir: string;
  dumpVersion: number;
  dumpBytes: number;
  log: Logger;
}

/** Fetches the whole dump into DOWNLOAD_FILE and loads it; throws on any failure. */
export async function downloadDump(opts: DumpDownloadOptions): Promise<DownloadedDump> {
  const { link, dumpVersion, dumpBytes } = opts;
  if (dumpBytes < DUMP_MIN_BYTES) {
    throw new FsError('EPROTO', `master offers a dump of ${dumpBytes} bytes`);
  }
  const t0 = performance.now();
  const file = path.join(opts.dir, DOWNLOAD_FILE);
  const fh = await fsp.open(file, 'w');
  try {
    let nextOffset = 0;
    const worker = async (): Promise<void> => {
      // Each pass takes the next piece; the loop ends when every piece is taken.
      while (nextOffset < dumpBytes && !link.closed) {
        const offset = nextOffset;
        const size = Math.min(DUMP_PIECE_BYTES, dumpBytes - offset);
        nextOffset += size;
        await fetchPiece(link, fh, { dumpVersion, offset, size });
      }
    };
    const workers = Math.min(DUMP_READS_INFLIGHT_MAX, Math.ceil(dumpBytes / DUMP_PIECE_BYTES));
    await Promise.all(Array.from({ length: workers }, worker));
    if (link.closed) throw new FsError('ENOTCONN', 'master link lost during the dump download');
    assert(nextOffset === dumpBytes, 'every piece of the dump was fetched');
    await fh.sync();
  } finally {
    await fh.close();
  }
  const loaded = loadDump(file); // throws DumpCorruptError with the reason
  if (loaded.metadata.version !== dumpVersion) {
    throw new FsError('EPROTO',
      `the dump downloaded is at version ${loaded.metadata.version}, not ${dumpVersion}`);
  }
  const ms = Math.round(performance.now() - t0);
  opts.log.info('metadata dump downloaded', {
    version: dumpVersion, bytes: dumpBytes, records: loaded.records, ms,
  });
  return { metadata: loaded.metadata, file, ms };
}

async function fetchPiece(
  link: Link, fh: fsp.FileHandle, piece: { dumpVersion: number; offset: number; size: number },
): Promise<void> {
  const r = await link.request(MLTOMA_DUMP_READ, piece);
  if (r.status === Status.ENOENT) {
    throw new DumpGoneError(`the master replaced dump ${piece.dumpVersion} during the download`);
  }
  if (r.status !== Status.OK) throw new FsError(r.status, `dump read at ${piece.offset}`);
  const data = r.data ?? Buffer.alloc(0);
  if (data.length !== piece.size) {
    throw new FsError('EPROTO', `dump read at ${piece.offset}: ${data.length} bytes, ` +
      `asked for ${piece.size}`);
  }
  const { bytesWritten } = await fh.write(data, 0, data.length, piece.offset);
  assert(bytesWritten === data.length, `wrote ${bytesWritten} of ${data.length} dump bytes`);
}
