// Deletion of chunk copies on the chunkservers, at DELETIONS_PER_SECOND, never in the request
// path: copies of chunks no file refers to any more (unlink, truncate, a rename that replaced
// a file), and strays found at registration (unknown ids, stale versions). A failed deletion is
// retried later with backoff; a copy on a lost server is dropped (its re-registration reports it
// again). A freed chunk leaves the registry when its last copy is gone.
import { Status, type Logger, type StatusCode } from '@antlerfs/protocol';
import type { Chunk, ChunkRegistry } from './chunk-registry.ts';

/** Deletions outstanding on the chunkservers at once. */
export const DELETIONS_INFLIGHT_MAX = 256;
const TICK_MS = 100;
const RETRY_DELAY_MS_MIN = 1000;
const RETRY_DELAY_MS_MAX = 60_000;

interface Job {
  chunkId: number;
  /** Version to delete; 0 deletes whatever version the server holds. */
  version: number;
  csId: number;
  /** A copy of a freed chunk (its registry entry waits for it), not a stray. */
  freed: boolean;
  attempts: number;
  notBeforeMs: number;
}

export type DeleteSender =
  (csId: number, body: { chunkId: number; version: number }) => Promise<StatusCode>;

export interface DeletionQueueOptions {
  registry: ChunkRegistry;
  send: DeleteSender;
  isOnline: (csId: number) => boolean;
  deletionsPerSecond: number;
  log: Logger;
  nowMs?: () => number;
}

export class DeletionQueue {
  private ready: Job[] = [];
  private readyHead = 0;
  private waiting: Job[] = [];
  private inflight = 0;
  private budget = 0;
  private lastTickMs = 0;
  private timer: NodeJS.Timeout | null = null;
  private ratePerSecond: number;
  private readonly opts: DeletionQueueOptions;
  private readonly nowMs: () => number;
  readonly counters = { deleted: 0, retried: 0, droppedLost: 0, strays: 0 };

  constructor(opts: DeletionQueueOptions) {
    this.opts = opts;
    this.ratePerSecond = opts.deletionsPerSecond;
    this.nowMs = opts.nowMs ?? Date.now;
    this.lastTickMs = this.nowMs();
  }

  get length(): number {
    return this.ready.length - this.readyHead + this.waiting.length + this.inflight;
  }

  setRate(deletionsPerSecond: number): void {
    this.ratePerSecond = deletionsPerSecond;
  }

  /** A chunk lost its last reference: delete each of its copies. */
  enqueueChunk(chunk: Chunk): void {
    for (const copy of chunk.copies.values()) {
      this.push({
        chunkId: chunk.id, version: 0, csId: copy.csId, freed: true, attempts: 0, notBeforeMs: 0,
      });
    }
  }

  /** A copy the master does not count (unknown id, stale or replaced version). */
  enqueueStray(chunkId: number, version: number, csId: number): void {
    this.counters.strays++;
    this.push({ chunkId, version, csId, freed: false, attempts: 0, notBeforeMs: 0 });
  }

  start(): void {
    this.lastTickMs = this.nowMs();
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Sends what the rate allows now (also called directly by tests). */
  tick(): void {
    const now = this.nowMs();
    // One tick's worth plus one: fractions carry over, an idle spell never becomes a burst.
    const budgetMax = this.ratePerSecond * TICK_MS / 1000 + 1;
    const earned = (now - this.lastTickMs) * this.ratePerSecond / 1000;
    this.budget = Math.min(budgetMax, this.budget + earned);
    this.lastTickMs = now;
    this.promoteWaiting(now);
    while (this.budget >= 1 && this.inflight < DELETIONS_INFLIGHT_MAX &&
      this.readyHead < this.ready.length) {
      const job = this.ready[this.readyHead++]!;
      this.budget -= 1;
      this.run(job);
    }
    if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
      this.ready = this.ready.slice(this.readyHead);
      this.readyHead = 0;
    }
  }

  private push(job: Job): void {
    this.ready.push(job);
  }

  private promoteWaiting(now: number): void {
    if (this.waiting.length === 0) return;
    const still: Job[] = [];
    for (const job of this.waiting) (job.notBeforeMs <= now ? this.ready : still).push(job);
    this.waiting = still;
  }

  private run(job: Job): void {
    if (!this.opts.isOnline(job.csId)) {
      this.counters.droppedLost++;
      return;
    }
    this.inflight++;
    this.opts.send(job.csId, { chunkId: job.chunkId, version: job.version }).then(
      (status) => this.finished(job, status),
      () => this.finished(job, Status.EIO),
    );
  }

  private finished(job: Job, status: StatusCode): void {
    this.inflight--;
    // Deleted, or not there (in the version asked for): either way the copy is gone.
    const gone = status === Status.OK || status === Status.ENOENT ||
      status === Status.NO_SUCH_CHUNK || status === Status.WRONG_VERSION;
    if (gone) {
      this.counters.deleted++;
      const chunk = this.opts.registry.get(job.chunkId);
      if (job.freed && chunk !== undefined && chunk.deleting) {
        this.opts.registry.removeCopy(job.chunkId, job.csId);
      }
      return;
    }
    if (!this.opts.isOnline(job.csId)) {
      this.counters.droppedLost++;
      return;
    }
    this.counters.retried++;
    job.attempts++;
    const delay = Math.min(RETRY_DELAY_MS_MAX, RETRY_DELAY_MS_MIN * 2 ** Math.min(job.attempts, 6));
    job.notBeforeMs = this.nowMs() + delay;
    this.waiting.push(job);
    this.opts.log.debug('chunk deletion failed: retrying later', {
      chunkId: job.chunkId, csId: job.csId, status, delayMs: delay,
    });
  }
}
