// Where the copies of a new chunk go: min(goal, usable servers) distinct chunkservers, drawn
// at random with weights by free space (so equals are equally likely). A server is usable when
// it is online and has room for at least one whole chunk. Pure: the caller passes the servers
// and the random source.
import { CHUNK_SIZE_BYTES, assert, type StatusName } from '@antlerfs/protocol';

export interface PlacementCandidate {
  csId: number;
  freeBytes: number;
}

export type Placement = { csIds: number[] } | { status: StatusName };

/** Picks the servers for a new chunk, or the status to answer when there are none. */
export function placeCopies(
  goal: number, candidates: readonly PlacementCandidate[], random: () => number = Math.random,
): Placement {
  assert(goal >= 1, `goal ${goal} is at least 1`);
  if (candidates.length === 0) return { status: 'NO_CHUNKSERVERS' };
  const pool = candidates.filter((c) => c.freeBytes >= CHUNK_SIZE_BYTES);
  if (pool.length === 0) return { status: 'ENOSPC' };
  const want = Math.min(goal, pool.length);
  const chosen: number[] = [];
  let totalFree = 0;
  for (const c of pool) totalFree += c.freeBytes;
  while (chosen.length < want) {
    // Weighted draw without replacement: walk the cumulative free space to the drawn point.
    let point = random() * totalFree;
    let pick = pool.length - 1;
    for (let i = 0; i < pool.length; i++) {
      point -= pool[i]!.freeBytes;
      if (point < 0) { pick = i; break; }
    }
    const c = pool[pick]!;
    chosen.push(c.csId);
    totalFree -= c.freeBytes;
    pool.splice(pick, 1);
  }
  assert(new Set(chosen).size === chosen.length, 'placement picks distinct servers');
  return { csIds: chosen };
}
