// Progress of a run on stderr (stdout carries only the table): one line per step, and while a
// step moves bytes or ops, an update at most every UPDATE_INTERVAL_MS (rewritten in place on a
// terminal, a new line elsewhere so logs stay readable).
const UPDATE_INTERVAL_MS = 1000;
const UPDATE_INTERVAL_PIPE_MS = 5000;

export class Progress {
  private readonly out: NodeJS.WriteStream;
  private readonly tty: boolean;
  private step = '';
  private stepStartMs = 0;
  private lastUpdateMs = 0;
  private lineOpen = false;

  constructor(out: NodeJS.WriteStream = process.stderr) {
    this.out = out;
    this.tty = out.isTTY === true;
  }

  /** Starts a named step. */
  begin(step: string): void {
    this.closeLine();
    this.step = step;
    this.stepStartMs = Date.now();
    this.lastUpdateMs = this.stepStartMs;
    this.out.write(`antler-bench: ${step} ...\n`);
  }

  /** Reports `done` of `total` units (bytes when unit is 'MiB'); throttled. */
  update(done: number, total: number, unit: 'MiB' | 'ops'): void {
    const now = Date.now();
    const interval = this.tty ? UPDATE_INTERVAL_MS : UPDATE_INTERVAL_PIPE_MS;
    if (now - this.lastUpdateMs < interval) return;
    this.lastUpdateMs = now;
    const scale = unit === 'MiB' ? 1024 * 1024 : 1;
    const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
    const secs = ((now - this.stepStartMs) / 1000).toFixed(0);
    const amount = `${Math.floor(done / scale)}/${Math.floor(total / scale)} ${unit}`;
    const text = `  ${this.step}: ${amount} (${pct}%, ${secs} s)`;
    if (this.tty) {
      this.out.write(`\r\x1b[2K${text}`);
      this.lineOpen = true;
    } else {
      this.out.write(text + '\n');
    }
  }

  /** Ends the current step with its result. */
  end(result: string): void {
    this.closeLine();
    const secs = ((Date.now() - this.stepStartMs) / 1000).toFixed(1);
    this.out.write(`  ${this.step}: ${result} (${secs} s)\n`);
  }

  note(text: string): void {
    this.closeLine();
    this.out.write(`antler-bench: ${text}\n`);
  }

  private closeLine(): void {
    if (this.lineOpen) this.out.write('\r\x1b[2K');
    this.lineOpen = false;
  }
}
