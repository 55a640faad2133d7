// Background scrub: re-reads every chunk at a bounded rate (SCRUB_BYTES_PER_SECOND) and verifies
// every block on the checksum workers, so a block that rots on a disk nobody reads is found and
// replaced before the other copies are needed. A bad block marks the copy damaged (no longer
// served) and the store reports it to the master. Passes repeat forever, each lasting at least
// SCRUB_PASS_MIN_MS (a few small chunks are not re-read over and over); each takes a snapshot of
// the chunk list, so chunks created meanwhile wait for the next pass.
import { FsError, assert, type Logger } from '@antlerfs/protocol';
import { HEADER_BYTES } from './chunk-file.ts';
import type { ChunkStore } from './chunk-store.ts';
import { TokenBucket, sleepUntilWoken } from './token-bucket.ts';

export interface ScrubberOptions {
  store: ChunkStore;
  log: Logger;
  /** 0 = no scrub. */
  bytesPerSecond: number;
  /** Shortest time one pass takes (the rest of it is spent waiting). */
  passMinMs: number;
}

/** Counters answered by CLTOCS_STATS. */
export interface ScrubberCounters {
  scrub_chunks: number;
  scrub_bytes: number;
  scrub_damaged: number;
  scrub_passes: number;
}

/** With no chunk to scrub, the scrubber looks again this often. */
const IDLE_RECHECK_MS = 1000;

export class Scrubber {
  readonly counters: ScrubberCounters = {
    scrub_chunks: 0, scrub_bytes: 0, scrub_damaged: 0, scrub_passes: 0,
  };
  private readonly opts: ScrubberOptions;
  private readonly log: Logger;
  private readonly bucket: TokenBucket;
  private readonly stopper = new AbortController();
  private loop: Promise<void> | null = null;

  constructor(opts: ScrubberOptions) {
    assert(opts.bytesPerSecond >= 0, `SCRUB_BYTES_PER_SECOND ${opts.bytesPerSecond}`);
    assert(opts.passMinMs >= 0, `SCRUB_PASS_MIN_MS ${opts.passMinMs}`);
    this.opts = opts;
    this.log = opts.log;
    this.bucket = new TokenBucket({ bytesPerSecond: opts.bytesPerSecond });
  }

  get enabled(): boolean {
    return this.opts.bytesPerSecond > 0;
  }

  start(): void {
    assert(this.loop === null, 'scrubber starts once');
    if (!this.enabled) {
      this.log.info('scrub off');
      return;
    }
    this.log.info('scrub on', {
      bytesPerSecond: this.opts.bytesPerSecond, passMinMs: this.opts.passMinMs,
    });
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    // Runs until stop(); every pass waits at least passMinMs (IDLE_RECHECK_MS with no chunk).
    while (!this.stopper.signal.aborted) {
      const startedMs = Date.now();
      const chunks = this.opts.store.list();
      const damagedBefore = this.counters.scrub_damaged;
      for (const chunk of chunks) {
        // The header is read too; an empty chunk still costs its header.
        if (!(await this.bucket.take(HEADER_BYTES + chunk.lengthBytes))) return;
        await this.scrubOne(chunk.chunkId);
      }
      if (chunks.length > 0) {
        this.counters.scrub_passes++;
        this.log.info('scrub pass done', {
          chunks: chunks.length, damaged: this.counters.scrub_damaged - damagedBefore,
          ms: Date.now() - startedMs,
        });
      }
      const passMs = chunks.length > 0 ? this.opts.passMinMs
        : Math.max(this.opts.passMinMs, IDLE_RECHECK_MS);
      const restMs = startedMs + passMs - Date.now();
      if (restMs > 0) await sleepUntilWoken(restMs, this.stopper.signal);
    }
  }

  /** Verifies one chunk; a chunk deleted, changed or already damaged meanwhile is skipped. */
  private async scrubOne(chunkId: number): Promise<void> {
    const { store } = this.opts;
    const held = store.get(chunkId);
    if (held === undefined || store.isDamaged(chunkId)) return;
    try {
      const bad = await store.verifyChunk(chunkId);
      this.counters.scrub_chunks++;
      this.counters.scrub_bytes += held.lengthBytes;
      if (bad.length > 0) {
        this.counters.scrub_damaged++;
        this.log.warn('scrub found a damaged chunk', {
          chunkId, version: held.version, badBlocks: bad.length, firstBadBlock: bad[0],
        });
      }
    } catch (err) {
      if (!(err instanceof FsError)) throw err;
      // Gone or stopping: nothing to do. A disk error is counted on its disk by the store.
      if (err.code === 'NO_SUCH_CHUNK' || err.code === 'EAGAIN') return;
      this.log.warn('scrub cannot read a chunk', { chunkId, error: err.message });
    }
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    this.bucket.close();
    await this.loop;
  }
}
