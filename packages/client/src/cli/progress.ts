// A one-line progress bar on stderr for long transfers: percent, bytes and rate, redrawn at
// most every REDRAW_INTERVAL_MS and ended with a newline.
import type { Writable } from 'node:stream';
import { formatBytes } from './output.ts';

const REDRAW_INTERVAL_MS = 200;
const BAR_WIDTH_CHARS = 30;

export class Progress {
  private readonly out: Writable;
  private readonly totalBytes: number;
  private readonly label: string;
  private readonly startedMs = Date.now();
  private doneBytes = 0;
  private lastDrawMs = 0;

  constructor(out: Writable, totalBytes: number, label: string) {
    this.out = out;
    this.totalBytes = totalBytes;
    this.label = label;
  }

  add(bytes: number): void {
    this.doneBytes += bytes;
    const now = Date.now();
    if (now - this.lastDrawMs >= REDRAW_INTERVAL_MS) this.draw(now);
  }

  finish(): void {
    this.draw(Date.now());
    this.out.write('\n');
  }

  private draw(now: number): void {
    this.lastDrawMs = now;
    const fraction = this.totalBytes > 0 ? Math.min(1, this.doneBytes / this.totalBytes) : 1;
    const filled = Math.round(fraction * BAR_WIDTH_CHARS);
    const seconds = Math.max((now - this.startedMs) / 1000, 0.001);
    const rate = `${(this.doneBytes / seconds / 1e6).toFixed(1)} MB/s`;
    const bar = '#'.repeat(filled) + '.'.repeat(BAR_WIDTH_CHARS - filled);
    const pct = `${Math.floor(fraction * 100)}%`.padStart(4);
    const bytes = `${formatBytes(this.doneBytes)} / ${formatBytes(this.totalBytes)}`;
    this.out.write(`\r${this.label} [${bar}] ${pct} ${bytes} ${rate}  `);
  }
}
