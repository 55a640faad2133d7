// File helpers for cluster tests, on top of the public client library: write a generated file
// (streamed, never whole in memory) and read a file back as its sha256, plus checks of where
// its chunks live. Contents come from data.ts, so the expected sha256 needs no stored copy.
import type { Client } from '@antlerfs/client';
import { CHUNK_SIZE_BYTES, assert } from '@antlerfs/protocol';
import { contentPieces, streamSha256 } from './data.ts';

/** The pieces of file (seed, size) as an async iterable, the form writeFile streams from. */
export async function* asyncContent(seed: number, sizeBytes: number): AsyncGenerator<Buffer> {
  yield* contentPieces(seed, sizeBytes);
}

/** How a test file is written: writeFile (hidden name, then rename) or open/write/close. */
export type WriteWay = 'writeFile' | 'handle';

/** Writes file (seed, size) at `path`; resolves once the client acknowledged all of it. */
export async function writeContent(client: Client, path: string, o: {
  seed: number; sizeBytes: number; way?: WriteWay; goal?: number;
}): Promise<void> {
  if ((o.way ?? 'writeFile') === 'writeFile') {
    await client.writeFile(path, asyncContent(o.seed, o.sizeBytes),
      o.goal === undefined ? undefined : { goal: o.goal });
    return;
  }
  const handle = await client.open(path, 'w', o.goal === undefined ? undefined : { goal: o.goal });
  try {
    let at = 0;
    for (const piece of contentPieces(o.seed, o.sizeBytes)) {
      await handle.write(piece, at);
      at += piece.length;
    }
  } finally {
    await handle.close();
  }
}

/** sha256 and length of a file as a read stream returns it. */
export function readSha256(
  client: Client, path: string,
): Promise<{ sha256: string; sizeBytes: number }> {
  return streamSha256(client.createReadStream(path));
}

/** Chunks a file of `sizeBytes` has (an empty file has none). */
export function chunkCount(sizeBytes: number): number {
  assert(sizeBytes >= 0, 'size is a byte count');
  return Math.ceil(sizeBytes / CHUNK_SIZE_BYTES);
}

/**
 * Problems with where a file's chunks live: each chunk present once, with `copies` locations
 * on distinct chunkservers. Returns a list of problems (empty when all is well) so a test
 * shows every one of them at once.
 */
export async function placementProblems(client: Client, path: string, o: {
  sizeBytes: number; copies: number;
}): Promise<string[]> {
  const info = await client.fileInfo(path);
  const problems: string[] = [];
  const want = chunkCount(o.sizeBytes);
  if (info.length !== o.sizeBytes) {
    problems.push(`${path}: length ${info.length}, want ${o.sizeBytes}`);
  }
  if (info.chunks.length !== want) {
    problems.push(`${path}: ${info.chunks.length} chunks, want ${want}`);
  }
  const indexes = new Set<number>();
  for (const c of info.chunks) {
    indexes.add(c.index);
    const servers = new Set(c.locations.map((l) => l.csId));
    if (c.locations.length !== o.copies) {
      problems.push(`${path} chunk ${c.index} (id ${c.chunkId}): ${c.locations.length} copies, ` +
        `want ${o.copies}`);
    }
    if (servers.size !== c.locations.length) {
      problems.push(`${path} chunk ${c.index}: copies share a server: ` +
        c.locations.map((l) => l.csId).join(','));
    }
  }
  if (indexes.size !== info.chunks.length) problems.push(`${path}: a chunk index appears twice`);
  return problems;
}
