// The chunkservers the master knows: address, space, state and link of each, by csId. The ids
// themselves are metadata (logged); everything here is runtime and comes from registrations
// and heartbeats. A lost server stays listed (state LOST) until it registers again.
import {
  CHUNK_SIZE_BYTES, ChunkserverState, assert, type Link, LOCATION, type Struct,
} from '@antlerfs/protocol';
import type { PlacementCandidate } from './placement.ts';

export type Location = Struct<typeof LOCATION>;

export interface Chunkserver {
  readonly csId: number;
  host: string;
  port: number;
  totalBytes: number;
  freeBytes: number;
  /** Chunk count the server itself reported in its last heartbeat. */
  reportedChunks: number;
  /** The live link, or null once lost. */
  link: Link | null;
  lastHeartbeatMs: number;
  /** Its initial chunk list has been received in full. */
  listComplete: boolean;
  registeredAtMs: number;
  lostAtMs: number;
}

export class Chunkservers {
  private readonly byId = new Map<number, Chunkserver>();
  /** Servers marked for removal (the metadata's set): no new chunks go there. */
  drainIds: ReadonlySet<number> = new Set();
  /** A draining server on which no chunk depends any more (set by the master). */
  isDrained: (csId: number) => boolean = () => false;

  get(csId: number): Chunkserver | undefined {
    return this.byId.get(csId);
  }

  values(): IterableIterator<Chunkserver> {
    return this.byId.values();
  }

  isOnline(csId: number): boolean {
    const cs = this.byId.get(csId);
    return cs !== undefined && cs.link !== null && !cs.link.closed;
  }

  onlineCount(): number {
    let n = 0;
    for (const cs of this.byId.values()) if (cs.link !== null) n++;
    return n;
  }

  stateOf(cs: Chunkserver): number {
    if (cs.link === null) return ChunkserverState.LOST;
    if (this.drainIds.has(cs.csId)) {
      return this.isDrained(cs.csId) ? ChunkserverState.DRAINED : ChunkserverState.DRAINING;
    }
    return cs.freeBytes < CHUNK_SIZE_BYTES ? ChunkserverState.FULL : ChunkserverState.ONLINE;
  }

  /** A new chunk may go to `cs`: online with its chunk list in, not being drained. */
  takesNewChunks(cs: Chunkserver): boolean {
    return cs.link !== null && cs.listComplete && !this.drainIds.has(cs.csId);
  }

  /** Servers a new chunk may go to (takesNewChunks), with their free space. */
  placementCandidates(): PlacementCandidate[] {
    const out: PlacementCandidate[] = [];
    for (const cs of this.byId.values()) {
      if (!this.takesNewChunks(cs)) continue;
      out.push({ csId: cs.csId, freeBytes: cs.freeBytes });
    }
    return out;
  }

  location(csId: number): Location | null {
    const cs = this.byId.get(csId);
    if (cs === undefined || cs.link === null) return null;
    return { csId, host: cs.host, port: cs.port };
  }

  online(entry: {
    csId: number; host: string; port: number; totalBytes: number; freeBytes: number; link: Link;
    nowMs: number;
  }): Chunkserver {
    const existing = this.byId.get(entry.csId);
    assert(existing === undefined || existing.link === null,
      `chunkserver ${entry.csId} is not online twice`);
    const cs: Chunkserver = {
      csId: entry.csId, host: entry.host, port: entry.port, totalBytes: entry.totalBytes,
      freeBytes: entry.freeBytes, reportedChunks: 0, link: entry.link,
      lastHeartbeatMs: entry.nowMs, listComplete: false, registeredAtMs: entry.nowMs, lostAtMs: 0,
    };
    this.byId.set(entry.csId, cs);
    return cs;
  }

  lost(csId: number, nowMs: number): void {
    const cs = this.byId.get(csId);
    assert(cs !== undefined && cs.link !== null, `chunkserver ${csId} was online`);
    cs.link = null;
    cs.listComplete = false;
    cs.lostAtMs = nowMs;
  }
}
