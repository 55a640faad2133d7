// Self-healing: every REPLICATION_LOOP_MS a health scan pass (in bounded slices) lists the
// chunks below their goal, above it, and with invalid copies; the planner then copies the most
// endangered first (MATOCS_REPLICATE to a server chosen by free space, from the valid holders),
// deletes extra copies (on the fullest server, never while the chunk is copied or leased) and
// invalid ones, and, with nothing to heal, moves chunks from the fullest server to the emptiest
// until their usage is within BALANCE_MARGIN_PERCENT. Copies are runtime state (rebuilt from
// chunkserver reports), so nothing here is logged. Every decision is counted by its reason.
import {
  CHUNK_SIZE_BYTES, Status, statusName, type Logger, type StatusCode,
} from '@antlerfs/protocol';
import type { Chunk, ChunkRegistry } from './chunk-registry.ts';
import { HealthScan, type HealthSnapshot, type WorkItem } from './chunk-health.ts';
import type { Node } from './inode-table.ts';
import { placeCopies } from './placement.ts';

/** Chunks one scan slice looks at before yielding the event loop. */
const SCAN_SLICE_CHUNKS = 20_000;
/** Queue entries one dispatch looks at at most (the rest wait for the next one). */
const DISPATCH_LOOK_MAX = 5000;
/** A target that answered EAGAIN gets no copy for this long. */
const BUSY_BACKOFF_MS = 2000;
const RETRY_DELAY_MS_MIN = 1000;
const RETRY_DELAY_MS_MAX = 60_000;
/** The copy rate is measured over this window. */
const RATE_WINDOW_MS = 60_000;

export interface PlannerServer {
  csId: number;
  host: string;
  port: number;
  freeBytes: number;
  totalBytes: number;
  /** Online with its chunk list in. */
  usable: boolean;
  /** Connected, its chunk list maybe still coming. */
  online: boolean;
  draining: boolean;
}

export interface PlannerLimits {
  loopMs: number;
  perServerMax: number;
  totalMax: number;
  rebalanceMovesMax: number;
  balanceMarginPercent: number;
  replicationTimeoutMs: number;
  /** After start, nothing is copied or deleted for this long (servers re-register first). */
  startGraceMs: number;
}

export interface ReplicateOrder {
  chunkId: number;
  version: number;
  sources: { host: string; port: number }[];
}

export interface PlannerOptions {
  registry: ChunkRegistry;
  inodes: () => IterableIterator<Node>;
  servers: () => PlannerServer[];
  replicate: (csId: number, order: ReplicateOrder, timeoutMs: number) =>
    Promise<{ status: StatusCode; lengthBytes: number }>;
  /** MATOCS_DELETE of one copy (version 0: whatever version it has). */
  remove: (csId: number, chunkId: number, version: number) => Promise<StatusCode>;
  /** A copy that arrived for a chunk that changed meanwhile: the deletion queue takes it. */
  stray: (chunkId: number, version: number, csId: number) => void;
  limits: PlannerLimits;
  log: Logger;
  nowMs?: () => number;
  random?: () => number;
}

interface Job {
  chunkId: number;
  version: number;
  target: number;
  source: number;
  goal: number;
  /** A rebalancing move: the copy on this server goes once the new one is in. */
  moveFrom: number;
  lengthBytes: number;
}

export class ReplicationPlanner {
  private readonly opts: PlannerOptions;
  private readonly nowMs: () => number;
  private readonly random: () => number;
  readonly scan: HealthScan;
  limits: PlannerLimits;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private queue: (WorkItem | null)[] = [];
  private queueHead = 0;
  private readonly running = new Map<number, Job>();
  private readonly removing = new Set<number>();
  private readonly asSource = new Map<number, number>();
  private readonly asTarget = new Map<number, number>();
  private readonly busyUntil = new Map<number, number>();
  private readonly retryAt = new Map<number, { atMs: number; attempts: number }>();
  private readonly copied: { atMs: number; bytes: number }[] = [];
  private moves = 0;
  private notBeforeMs = 0;
  private servers = new Map<number, PlannerServer>();
  readonly counters = {
    started: 0, done: 0, failed: 0, bytesDone: 0, obsolete: 0, removedOvergoal: 0,
    removedInvalid: 0, removeFailed: 0, movesStarted: 0, movesDone: 0,
  };
  /** Why a replication failed, by status name. */
  readonly failedBy: Record<string, number> = {};
  /** Why a chunk of the queue was passed over, by reason. */
  readonly skipped: Record<string, number> = {};

  constructor(opts: PlannerOptions) {
    this.opts = opts;
    this.limits = opts.limits;
    this.nowMs = opts.nowMs ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.scan = new HealthScan({
      registry: opts.registry, inodes: opts.inodes, nowMs: this.nowMs,
      counts: (csId) => this.servers.get(csId)?.draining === false,
      draining: (csId) => this.servers.get(csId)?.draining === true,
    });
  }

  get snapshot(): HealthSnapshot {
    return this.scan.last;
  }

  get queueLength(): number {
    let n = 0;
    for (let i = this.queueHead; i < this.queue.length; i++) if (this.queue[i] !== null) n++;
    return n;
  }

  get runningCount(): number {
    return this.running.size;
  }

  get removingCount(): number {
    return this.removing.size;
  }

  start(): void {
    this.stopped = false;
    this.notBeforeMs = this.nowMs() + this.limits.startGraceMs;
    this.timer = setInterval(() => this.pass(), this.limits.loopMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Starts a scan pass unless one runs; its slices yield the event loop in between. */
  pass(): void {
    if (this.scan.running || this.stopped) return;
    const slice = (): void => {
      if (this.stopped) return;
      this.refreshServers();
      if (this.scan.step(SCAN_SLICE_CHUNKS)) this.plan();
      else setImmediate(slice);
    };
    slice();
  }

  /** A whole pass and its plan at once (tests). */
  passNow(): void {
    this.refreshServers();
    this.scan.runPass();
    this.plan();
  }

  /** Bytes per second copied over the last minute. */
  rateBytesPerSecond(): number {
    this.trimRate();
    let bytes = 0;
    for (const c of this.copied) bytes += c.bytes;
    return Math.round(bytes / (RATE_WINDOW_MS / 1000));
  }

  private refreshServers(): void {
    this.servers = new Map(this.opts.servers().map((s) => [s.csId, s]));
  }

  /** Why nothing may be planned now, or null. */
  private holdReason(): string | null {
    if (this.nowMs() < this.notBeforeMs) return 'start grace';
    for (const s of this.servers.values()) if (s.online && !s.usable) return 'registration';
    return null;
  }

  private plan(): void {
    const hold = this.holdReason();
    if (hold !== null) {
      this.skip(`held: ${hold}`);
      this.queue = [];
      this.queueHead = 0;
      return;
    }
    const snap = this.scan.last;
    this.forgetExpired();
    this.queue = [...snap.undergoal];
    this.queueHead = 0;
    this.removeInvalid(snap.invalid);
    this.removeOvergoal(snap.overgoal);
    this.dispatch();
  }

  /** Drops retry and busy marks that have run out (they would pile up otherwise). */
  private forgetExpired(): void {
    const now = this.nowMs();
    for (const [id, r] of this.retryAt) {
      if (r.atMs <= now && this.opts.registry.live(id) === undefined) this.retryAt.delete(id);
    }
    for (const [csId, until] of this.busyUntil) if (until <= now) this.busyUntil.delete(csId);
  }

  private skip(reason: string): void {
    this.skipped[reason] = (this.skipped[reason] ?? 0) + 1;
  }

  /** Chunk state that rules out any copy or deletion now, or null. */
  private blocked(chunk: Chunk | undefined): string | null {
    if (chunk === undefined) return 'gone';
    if (chunk.leaseSession !== 0 || chunk.pendingVersion !== 0) return 'leased';
    if (this.running.has(chunk.id)) return 'copying';
    if (this.removing.has(chunk.id)) return 'removing';
    return null;
  }

  private counting(chunk: Chunk): number[] {
    const out: number[] = [];
    for (const c of chunk.copies.values()) {
      const s = this.servers.get(c.csId);
      if (c.valid && s !== undefined && s.usable && !s.draining) out.push(c.csId);
    }
    return out;
  }

  /** Starts copies from the queue while the limits allow; also called when one ends. */
  dispatch(): void {
    if (this.stopped) return;
    this.refreshServers();
    const now = this.nowMs();
    let looked = 0;
    for (let i = this.queueHead; i < this.queue.length && looked < DISPATCH_LOOK_MAX; i++) {
      if (this.running.size >= this.limits.totalMax) {
        this.skip('total limit');
        break;
      }
      const item = this.queue[i];
      if (item === null || item === undefined) continue;
      looked++;
      const done = this.tryCopy(item, now);
      if (done) this.queue[i] = null;
    }
    while (this.queueHead < this.queue.length && this.queue[this.queueHead] === null) {
      this.queueHead++;
    }
    // Healing first: moves only once no copy is waiting or running.
    if (this.queueLength === 0 && this.running.size === this.moves) this.rebalance();
  }

  /** One queue entry: returns true when it is started or needs nothing any more. */
  private tryCopy(item: WorkItem, now: number): boolean {
    const chunk = this.opts.registry.live(item.chunkId);
    const why = this.blocked(chunk);
    if (why !== null) {
      this.skip(why);
      return why === 'gone' || why === 'copying';
    }
    const c = chunk!;
    if (this.counting(c).length >= item.goal) return true;
    const retry = this.retryAt.get(c.id);
    if (retry !== undefined && retry.atMs > now) {
      this.skip('retry later');
      return false;
    }
    const source = this.pickSource(c);
    if (source === null) {
      this.skip('no free source');
      return false;
    }
    const target = this.pickTarget(c);
    if (target === null) {
      this.skip('no free target');
      return false;
    }
    this.startJob(c, { source, target, goal: item.goal, moveFrom: 0, len: item.lengthBytes });
    return true;
  }

  /** The first valid holder with a free source slot (draining servers can serve). */
  private pickSource(chunk: Chunk): number | null {
    let best: number | null = null;
    let bestLoad = Infinity;
    for (const c of chunk.copies.values()) {
      const s = this.servers.get(c.csId);
      if (!c.valid || s === undefined || !s.usable) continue;
      const load = this.asSource.get(c.csId) ?? 0;
      if (load < this.limits.perServerMax && load < bestLoad) {
        best = c.csId;
        bestLoad = load;
      }
    }
    return best;
  }

  private pickTarget(chunk: Chunk): number | null {
    const now = this.nowMs();
    const candidates = [];
    for (const s of this.servers.values()) {
      if (!s.usable || s.draining || chunk.copies.has(s.csId)) continue;
      if ((this.asTarget.get(s.csId) ?? 0) >= this.limits.perServerMax) continue;
      if ((this.busyUntil.get(s.csId) ?? 0) > now) continue;
      candidates.push({ csId: s.csId, freeBytes: s.freeBytes });
    }
    const placed = placeCopies(1, candidates, this.random);
    return 'csIds' in placed ? placed.csIds[0]! : null;
  }

  private startJob(
    chunk: Chunk,
    p: { source: number; target: number; goal: number; moveFrom: number; len: number },
  ): void {
    const job: Job = {
      chunkId: chunk.id, version: chunk.version, target: p.target, source: p.source,
      goal: p.goal, moveFrom: p.moveFrom, lengthBytes: p.len,
    };
    // The chosen source first, then every other valid holder as a fallback.
    const sources = [p.source];
    for (const c of chunk.copies.values()) {
      if (c.valid && c.csId !== p.source && this.servers.get(c.csId)?.usable) sources.push(c.csId);
    }
    const hops = sources.map((id) => {
      const s = this.servers.get(id)!;
      return { host: s.host, port: s.port };
    });
    this.running.set(chunk.id, job);
    bump(this.asSource, job.source, 1);
    bump(this.asTarget, job.target, 1);
    if (job.moveFrom !== 0) {
      this.moves++;
      this.counters.movesStarted++;
    }
    this.counters.started++;
    this.opts.replicate(job.target, { chunkId: job.chunkId, version: job.version, sources: hops },
      this.limits.replicationTimeoutMs).then(
      (r) => this.finished(job, r.status, r.lengthBytes),
      () => this.finished(job, Status.EIO, 0),
    );
  }

  private finished(job: Job, status: StatusCode, lengthBytes: number): void {
    this.running.delete(job.chunkId);
    bump(this.asSource, job.source, -1);
    bump(this.asTarget, job.target, -1);
    if (job.moveFrom !== 0) this.moves--;
    if (status === Status.OK) this.copyArrived(job, lengthBytes);
    else this.copyFailed(job, status);
    this.dispatch();
  }

  private copyArrived(job: Job, lengthBytes: number): void {
    const { registry } = this.opts;
    const chunk = registry.live(job.chunkId);
    const target = this.servers.get(job.target);
    this.retryAt.delete(job.chunkId);
    if (chunk === undefined || chunk.version !== job.version || target?.usable !== true) {
      // Freed or written meanwhile: the new copy is of no use.
      this.counters.obsolete++;
      this.opts.stray(job.chunkId, job.version, job.target);
      return;
    }
    registry.addCopy(job.chunkId, job.target, true, lengthBytes);
    this.counters.done++;
    this.counters.bytesDone += lengthBytes;
    this.copied.push({ atMs: this.nowMs(), bytes: lengthBytes });
    this.trimRate();
    const held = this.scan.last.heldBytes;
    held.set(job.target, (held.get(job.target) ?? 0) + job.lengthBytes);
    if (job.moveFrom !== 0) {
      this.counters.movesDone++;
      if (this.counting(chunk).length > job.goal && chunk.copies.get(job.moveFrom)?.valid) {
        held.set(job.moveFrom, (held.get(job.moveFrom) ?? 0) - job.lengthBytes);
        this.removeCopy(chunk, job.moveFrom, 'removedOvergoal');
      }
    }
  }

  private copyFailed(job: Job, status: StatusCode): void {
    const name = statusName(status) ?? `status ${status}`;
    this.counters.failed++;
    this.failedBy[name] = (this.failedBy[name] ?? 0) + 1;
    if (status === Status.EAGAIN) {
      this.busyUntil.set(job.target, this.nowMs() + BUSY_BACKOFF_MS);
      return; // another target may take it at once
    }
    const prev = this.retryAt.get(job.chunkId);
    const attempts = (prev?.attempts ?? 0) + 1;
    const delay = Math.min(RETRY_DELAY_MS_MAX, RETRY_DELAY_MS_MIN * 2 ** Math.min(attempts, 6));
    this.retryAt.set(job.chunkId, { atMs: this.nowMs() + delay, attempts });
    this.opts.log.warn('chunk replication failed: retrying later', {
      chunkId: job.chunkId, version: job.version, target: job.target, status: name,
      delayMs: delay,
    });
  }

  /** Stops counting a copy at once, then deletes it on its server. */
  private removeCopy(chunk: Chunk, csId: number, counter: 'removedOvergoal' | 'removedInvalid'):
    void {
    this.opts.registry.removeCopy(chunk.id, csId);
    this.removing.add(chunk.id);
    const version = counter === 'removedInvalid' ? 0 : chunk.version;
    this.opts.remove(csId, chunk.id, version).then((status) => {
      this.removing.delete(chunk.id);
      const gone = status === Status.OK || status === Status.NO_SUCH_CHUNK ||
        status === Status.ENOENT;
      if (gone) this.counters[counter]++;
      else {
        this.counters.removeFailed++;
        // Still there: the deletion queue keeps trying (a re-registration reports it too).
        this.opts.stray(chunk.id, version, csId);
      }
    }, () => this.removing.delete(chunk.id));
  }

  private removeInvalid(items: WorkItem[]): void {
    for (const item of items) {
      const chunk = this.opts.registry.live(item.chunkId);
      const why = this.blocked(chunk);
      if (why !== null) {
        this.skip(`invalid copy: ${why}`);
        continue;
      }
      const c = chunk!;
      if (this.counting(c).length === 0 && c.copies.size > 0) {
        // Only invalid (or draining) copies: keep them, they may be all that is left.
        let anyValid = false;
        for (const cp of c.copies.values()) if (cp.valid) anyValid = true;
        if (!anyValid) continue;
      }
      for (const cp of [...c.copies.values()]) {
        if (!cp.valid && this.servers.get(cp.csId)?.usable === true) {
          this.opts.log.info('deleting an invalid chunk copy', { chunkId: c.id, csId: cp.csId });
          this.removeCopy(c, cp.csId, 'removedInvalid');
          break; // one at a time per chunk
        }
      }
    }
  }

  private removeOvergoal(items: WorkItem[]): void {
    for (const item of items) {
      const chunk = this.opts.registry.live(item.chunkId);
      const why = this.blocked(chunk);
      if (why !== null) {
        this.skip(`overgoal: ${why}`);
        continue;
      }
      const holders = this.counting(chunk!);
      if (holders.length < item.goal) continue;
      // A copy on a draining server is not needed once the goal is met elsewhere.
      const drained = [...chunk!.copies.values()].find((cp) => cp.valid &&
        this.servers.get(cp.csId)?.draining === true && this.servers.get(cp.csId)?.usable === true);
      if (drained !== undefined) {
        this.removeCopy(chunk!, drained.csId, 'removedOvergoal');
        continue;
      }
      if (holders.length <= item.goal) continue;
      const victim = this.fullest(holders);
      this.removeCopy(chunk!, victim, 'removedOvergoal');
    }
  }

  /** Share of a server's usable space its chunks take (estimated from the last pass). */
  usageOf(s: PlannerServer): number {
    const held = Math.max(0, this.scan.last.heldBytes.get(s.csId) ?? 0);
    const cap = held + s.freeBytes;
    return cap > 0 ? held / cap : 0;
  }

  private fullest(csIds: number[]): number {
    let best = csIds[0]!;
    let bestUsage = -1;
    for (const id of csIds) {
      const s = this.servers.get(id);
      const u = s === undefined ? 0 : this.usageOf(s);
      if (u > bestUsage) {
        best = id;
        bestUsage = u;
      }
    }
    return best;
  }

  /** With nothing to heal: moves a chunk from the fullest server to the emptiest. */
  private rebalance(): void {
    while (this.moves < this.limits.rebalanceMovesMax &&
      this.running.size < this.limits.totalMax) {
      if (!this.startMove()) return;
    }
  }

  private startMove(): boolean {
    const pool = [...this.servers.values()].filter((s) => s.usable && !s.draining);
    if (pool.length < 2) return false;
    pool.sort((a, b) => this.usageOf(b) - this.usageOf(a));
    const from = pool[0]!;
    const to = pool[pool.length - 1]!;
    const gap = this.usageOf(from) - this.usageOf(to);
    if (gap * 100 <= this.limits.balanceMarginPercent) return false;
    if (to.freeBytes < CHUNK_SIZE_BYTES) {
      this.skip('rebalance: target full');
      return false;
    }
    if ((this.asTarget.get(to.csId) ?? 0) >= this.limits.perServerMax ||
      (this.busyUntil.get(to.csId) ?? 0) > this.nowMs() ||
      (this.asSource.get(from.csId) ?? 0) >= this.limits.perServerMax) {
      this.skip('rebalance: servers busy');
      return false;
    }
    const pick = this.movable(from.csId, to.csId);
    if (pick === null) {
      this.skip('rebalance: nothing movable');
      return false;
    }
    // A move must not overshoot: after it the source must still be at least as full.
    const share = (s: PlannerServer): number =>
      pick.len / Math.max(1, (this.scan.last.heldBytes.get(s.csId) ?? 0) + s.freeBytes);
    if (this.usageOf(from) - share(from) < this.usageOf(to) + share(to)) return false;
    this.startJob(pick.chunk, {
      source: from.csId, target: to.csId, goal: pick.goal, moveFrom: from.csId, len: pick.len,
    });
    return true;
  }

  private movable(from: number, to: number): { chunk: Chunk; goal: number; len: number } | null {
    for (const item of this.scan.last.movable.get(from) ?? []) {
      const chunk = this.opts.registry.live(item.chunkId);
      if (this.blocked(chunk) !== null || chunk!.copies.has(to)) continue;
      if (chunk!.copies.get(from)?.valid !== true) continue;
      if (this.counting(chunk!).length < item.goal) continue;
      return { chunk: chunk!, goal: item.goal, len: item.lengthBytes };
    }
    return null;
  }

  private trimRate(): void {
    const cutoff = this.nowMs() - RATE_WINDOW_MS;
    let drop = 0;
    while (drop < this.copied.length && this.copied[drop]!.atMs < cutoff) drop++;
    if (drop > 0) this.copied.splice(0, drop);
  }
}

function bump(map: Map<number, number>, key: number, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}
