// Latencies of one measurement: each op's duration in ms kept in a preallocated array (the
// count is known before the timed loop, so recording never allocates), and the p50 / p99 of
// them by the nearest-rank method on a sorted copy, computed after the loop.
import { assert } from '@antlerfs/protocol';

export interface Latency {
  p50Ms: number;
  p99Ms: number;
  /** Ops measured. */
  count: number;
}

export class LatencyRecorder {
  private readonly samplesMs: Float64Array;
  private count = 0;

  constructor(capacity: number) {
    assert(Number.isInteger(capacity) && capacity > 0, 'latency capacity is a positive count');
    this.samplesMs = new Float64Array(capacity);
  }

  /** Records one op that started at `startMs` (performance.now()) and ends now. */
  since(startMs: number): void {
    this.add(performance.now() - startMs);
  }

  add(ms: number): void {
    assert(this.count < this.samplesMs.length, 'more ops than the recorder was sized for');
    assert(ms >= 0, 'a duration is not negative');
    this.samplesMs[this.count++] = ms;
  }

  get size(): number {
    return this.count;
  }

  summary(): Latency {
    assert(this.count > 0, 'percentiles of at least one op');
    const sorted = this.samplesMs.slice(0, this.count).sort();
    return { p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), count: this.count };
  }
}

/** Nearest-rank percentile of ascending `sorted`: the smallest value >= p % of the values. */
export function percentile(sorted: Float64Array, p: number): number {
  assert(sorted.length > 0, 'percentile of at least one value');
  assert(p > 0 && p <= 100, 'percentile in (0, 100]');
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[rank - 1]!;
}
