// The cluster's health as one JSON document (monitor GET /api/health, CLTOMA_HEALTH): the
// chunk matrix (goal x valid copies), the classes, the replication queue and its progress
// and rate, the deletion queue, and every chunkserver's space, state, copies and drain.
import { GOAL_MAX } from '@antlerfs/protocol';
import type { ChunkRegistry } from './chunk-registry.ts';
import type { Chunkservers } from './chunkservers.ts';
import type { DeletionQueue } from './deletion-queue.ts';
import type { ReplicationPlanner } from './replication-planner.ts';

/** CLTOMA_HEALTH carries the document as a str16: larger ones drop the server list. */
export const HEALTH_JSON_MAX_BYTES = 65_535;

export const STATE_NAMES: Record<number, string> = {
  1: 'online', 2: 'lost', 3: 'full', 4: 'draining', 5: 'drained',
};

export interface HealthSources {
  planner: ReplicationPlanner;
  servers: Chunkservers;
  registry: ChunkRegistry;
  deletions: DeletionQueue | null;
  nowMs: number;
}

export interface ServerHealth {
  csId: number;
  address: string;
  state: string;
  totalBytes: number;
  freeBytes: number;
  /** Share of its usable space its chunks take (estimate), in percent. */
  usagePercent: number;
  copies: number;
  draining: boolean;
  /** Its chunks that still lack their goal elsewhere (drain progress). */
  drainPending: number;
  /** Draining and nothing depends on it: it can be switched off. */
  safeToRemove: boolean;
}

export function healthReport(h: HealthSources): Record<string, unknown> {
  const p = h.planner;
  const snap = p.snapshot;
  const matrix: Record<string, number[]> = {};
  for (let goal = 1; goal <= GOAL_MAX; goal++) {
    const row = snap.matrix[goal]!;
    if (row.some((n) => n > 0)) matrix[String(goal)] = row;
  }
  const queue = p.queueLength;
  const c = p.counters;
  const healthy = snap.classes.lost === 0 && snap.classes.endangered === 0 &&
    snap.classes.undergoal === 0;
  return {
    healthy,
    scan: {
      passes: p.scan.passes, chunks: snap.chunks, passMs: snap.passMs,
      finishedAtMs: snap.finishedAtMs,
      ageMs: snap.finishedAtMs === 0 ? -1 : h.nowMs - snap.finishedAtMs,
    },
    matrixColumns: 'valid copies 0..10 (the last column counts 10 or more)',
    matrix,
    classes: snap.classes,
    invalidCopies: snap.invalidCopies,
    lengthMismatches: snap.lengthMismatches,
    replication: {
      queue, running: p.runningCount, started: c.started, done: c.done, failed: c.failed,
      obsolete: c.obsolete, bytesDone: c.bytesDone, rateBytesPerSecond: p.rateBytesPerSecond(),
      progressPercent: c.done + queue > 0 ? Math.round(c.done * 1000 / (c.done + queue)) / 10 : 100,
      failedBy: p.failedBy, skipped: p.skipped,
      removing: p.removingCount, removedOvergoal: c.removedOvergoal,
      removedInvalid: c.removedInvalid, removeFailed: c.removeFailed,
      movesStarted: c.movesStarted, movesDone: c.movesDone,
    },
    deletionQueue: { length: h.deletions?.length ?? 0, ...(h.deletions?.counters ?? {}) },
    /** Every server marked for removal, connected or not (the mark is metadata). */
    drains: [...h.servers.drainIds].sort((a, b) => a - b),
    chunkservers: serverHealth(h),
  };
}

function serverHealth(h: HealthSources): ServerHealth[] {
  const out: ServerHealth[] = [];
  for (const cs of h.servers.values()) {
    const state = STATE_NAMES[h.servers.stateOf(cs)] ?? '?';
    const draining = h.servers.drainIds.has(cs.csId);
    out.push({
      csId: cs.csId, address: `${cs.host}:${cs.port}`, state,
      totalBytes: cs.totalBytes, freeBytes: cs.freeBytes,
      usagePercent: Math.round(h.planner.usageOf({
        csId: cs.csId, host: cs.host, port: cs.port, freeBytes: cs.freeBytes,
        totalBytes: cs.totalBytes, usable: true, online: true, draining,
      }) * 10_000) / 100,
      copies: h.registry.copiesOn(cs.csId), draining,
      drainPending: draining ? h.planner.snapshot.drainPending.get(cs.csId) ?? 0 : 0,
      safeToRemove: state === 'drained',
    });
  }
  return out;
}

/** The document as a string that fits CLTOMA_HEALTH. */
export function healthJson(h: HealthSources): string {
  const doc = healthReport(h);
  let json = JSON.stringify(doc);
  if (Buffer.byteLength(json) > HEALTH_JSON_MAX_BYTES) {
    json = JSON.stringify({ ...doc, chunkservers: [], chunkserversDropped: true });
  }
  return json;
}
