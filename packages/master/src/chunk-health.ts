// The health of every chunk: its valid copies that count (on an online server not being
// drained) against its goal, as a class (lost, endangered, undergoal, stable, overgoal) and as
// the goal x copies matrix the monitor shows. A scan walks the files in bounded slices, so a
// million chunks never hold the event loop for long; each finished pass publishes a snapshot
// with the work it found (chunks to copy, extra and invalid copies to delete).
import { CHUNK_SIZE_BYTES, GOAL_MAX, InodeType, assert } from '@antlerfs/protocol';
import type { Chunk, ChunkRegistry } from './chunk-registry.ts';
import type { Node } from './inode-table.ts';

/** Matrix columns: 0..COPIES_COLUMNS-1 valid copies, the last one also counts more. */
export const COPIES_COLUMNS = 11;
/** Chunks one pass lists as work of one kind at most; the counts stay exact. */
export const WORK_LIST_MAX = 200_000;
/** Stable chunks a pass lists per server as candidates for rebalancing moves. */
export const MOVABLE_PER_SERVER_MAX = 256;

export type ChunkClass = 'lost' | 'endangered' | 'undergoal' | 'stable' | 'overgoal';

/** The class of a chunk with `valid` counting copies and goal `goal`. */
export function classify(valid: number, goal: number): ChunkClass {
  assert(goal >= 1 && valid >= 0, `goal ${goal} and copies ${valid} in range`);
  if (valid === 0) return 'lost';
  if (valid === 1 && goal >= 2) return 'endangered';
  if (valid < goal) return 'undergoal';
  return valid === goal ? 'stable' : 'overgoal';
}

/**
 * How urgent a chunk's copying is, lower first: a chunk whose only valid copies are on
 * draining servers, then one counting copy, then by the share of the goal it has. Lost chunks
 * (no valid copy anywhere) cannot be copied.
 */
export function urgency(valid: number, goal: number, present = valid): number {
  if (present === 0 || valid >= goal) return Infinity;
  if (valid === 0) return -1;
  return valid === 1 ? 0 : valid / goal;
}

export interface WorkItem {
  chunkId: number;
  goal: number;
  /** Counting copies when the pass saw it. */
  valid: number;
  /** Valid copies on online servers, draining ones included (the possible sources). */
  present: number;
  /** Expected stored length (from the file length): for space estimates. */
  lengthBytes: number;
}

export interface HealthSnapshot {
  /** matrix[goal][copies] chunk counts, goal 1..GOAL_MAX (row 0 unused). */
  matrix: number[][];
  classes: Record<ChunkClass, number>;
  /** Chunks below their goal (most urgent first) and above it. */
  undergoal: WorkItem[];
  overgoal: WorkItem[];
  /** Chunks with an invalid copy next to at least one valid one. */
  invalid: WorkItem[];
  /** Per server: some stable chunks it holds (rebalancing candidates). */
  movable: Map<number, WorkItem[]>;
  /** Estimated bytes of chunk copies per server. */
  heldBytes: Map<number, number>;
  /** Per draining server: its chunks that still lack their goal elsewhere. */
  drainPending: Map<number, number>;
  invalidCopies: number;
  lengthMismatches: number;
  chunks: number;
  finishedAtMs: number;
  passMs: number;
}

export interface ScanInput {
  registry: ChunkRegistry;
  inodes: () => IterableIterator<Node>;
  /** Copies on this server count toward goals (online, not draining). */
  counts: (csId: number) => boolean;
  draining: (csId: number) => boolean;
  nowMs: () => number;
}

function emptySnapshot(): HealthSnapshot {
  return {
    matrix: Array.from({ length: GOAL_MAX + 1 }, () => new Array<number>(COPIES_COLUMNS).fill(0)),
    classes: { lost: 0, endangered: 0, undergoal: 0, stable: 0, overgoal: 0 },
    undergoal: [], overgoal: [], invalid: [], movable: new Map(), heldBytes: new Map(),
    drainPending: new Map(),
    invalidCopies: 0, lengthMismatches: 0, chunks: 0, finishedAtMs: 0, passMs: 0,
  };
}

/**
 * Marks copies whose length (known at the current version) differs from the length most
 * copies agree on as invalid; returns how many it marked.
 */
export function markLengthMismatches(chunk: Chunk): number {
  const votes = new Map<number, number>();
  let known = 0;
  for (const c of chunk.copies.values()) {
    if (!c.valid || c.lengthBytes < 0 || c.lengthVersion !== chunk.version) continue;
    votes.set(c.lengthBytes, (votes.get(c.lengthBytes) ?? 0) + 1);
    known++;
  }
  if (votes.size < 2) return 0;
  let major = -1;
  for (const [len, n] of votes) if (n * 2 > known) major = len;
  if (major < 0) return 0; // no majority: nothing to tell which one is right
  let marked = 0;
  for (const c of chunk.copies.values()) {
    if (c.valid && c.lengthBytes >= 0 && c.lengthVersion === chunk.version &&
      c.lengthBytes !== major) {
      c.valid = false;
      marked++;
    }
  }
  return marked;
}

export class HealthScan {
  private readonly input: ScanInput;
  private walk: Generator<[Chunk, number, number]> | null = null;
  private next = emptySnapshot();
  private startedAtMs = 0;
  /** The last finished pass (empty before the first). */
  last: HealthSnapshot = emptySnapshot();
  passes = 0;

  constructor(input: ScanInput) {
    this.input = input;
  }

  get running(): boolean {
    return this.walk !== null;
  }

  /** Looks at up to `chunksMax` chunks; returns true when that finished a pass. */
  step(chunksMax: number): boolean {
    if (this.walk === null) {
      this.walk = this.chunks();
      this.next = emptySnapshot();
      this.startedAtMs = this.input.nowMs();
    }
    for (let i = 0; i < chunksMax; i++) {
      const r = this.walk.next();
      if (r.done === true) {
        this.walk = null;
        this.finish();
        return true;
      }
      const [chunk, goal, lengthBytes] = r.value;
      this.visit(chunk, goal, lengthBytes);
    }
    return false;
  }

  /** Runs a whole pass at once (tests, small namespaces). */
  runPass(): HealthSnapshot {
    while (!this.step(1 << 20)) { /* bounded by the chunk count */ }
    return this.last;
  }

  private *chunks(): Generator<[Chunk, number, number]> {
    const { registry } = this.input;
    for (const node of this.input.inodes()) {
      if (node.type !== InodeType.FILE) continue;
      for (const [index, id] of node.chunks) {
        const chunk = registry.live(id);
        if (chunk === undefined) continue;
        const len = Math.max(0,
          Math.min(CHUNK_SIZE_BYTES, node.lengthBytes - index * CHUNK_SIZE_BYTES));
        yield [chunk, node.goal, len];
      }
    }
  }

  private visit(chunk: Chunk, goal: number, lengthBytes: number): void {
    const s = this.next;
    const { counts, draining } = this.input;
    s.lengthMismatches += markLengthMismatches(chunk);
    let valid = 0;
    let invalid = 0;
    let present = 0;
    for (const c of chunk.copies.values()) {
      s.heldBytes.set(c.csId, (s.heldBytes.get(c.csId) ?? 0) + lengthBytes);
      if (!c.valid) invalid++;
      else {
        present++;
        if (counts(c.csId)) valid++;
      }
    }
    s.chunks++;
    s.invalidCopies += invalid;
    s.matrix[goal]![Math.min(valid, COPIES_COLUMNS - 1)]!++;
    // Copies only on draining servers: not lost, but the most urgent to copy.
    const cls = valid === 0 && present > 0 ? 'endangered' : classify(valid, goal);
    s.classes[cls]++;
    const item: WorkItem = { chunkId: chunk.id, goal, valid, present, lengthBytes };
    if ((cls === 'endangered' || cls === 'undergoal') && s.undergoal.length < WORK_LIST_MAX) {
      s.undergoal.push(item);
    }
    // Also overgoal work: a chunk at its goal elsewhere that still has a copy on a draining
    // server (that copy goes, so a drained server ends empty).
    const drainedCopy = cls === 'stable' && present > valid;
    if ((cls === 'overgoal' || drainedCopy) && s.overgoal.length < WORK_LIST_MAX) {
      s.overgoal.push(item);
    }
    if (cls === 'stable' && invalid === 0) this.addMovable(chunk, item);
    if (invalid > 0 && present > 0 && s.invalid.length < WORK_LIST_MAX) s.invalid.push(item);
    if (valid < goal) {
      for (const c of chunk.copies.values()) {
        if (draining(c.csId)) s.drainPending.set(c.csId, (s.drainPending.get(c.csId) ?? 0) + 1);
      }
    }
  }

  private addMovable(chunk: Chunk, item: WorkItem): void {
    const movable = this.next.movable;
    for (const c of chunk.copies.values()) {
      let list = movable.get(c.csId);
      if (list === undefined) movable.set(c.csId, (list = []));
      if (list.length < MOVABLE_PER_SERVER_MAX) list.push(item);
    }
  }

  private finish(): void {
    const s = this.next;
    s.undergoal.sort((a, b) =>
      urgency(a.valid, a.goal, a.present) - urgency(b.valid, b.goal, b.present));
    s.finishedAtMs = this.input.nowMs();
    s.passMs = s.finishedAtMs - this.startedAtMs;
    this.last = s;
    this.next = emptySnapshot();
    this.passes++;
  }
}
