// The library's logger: the protocol Logger, but writing to stderr and quiet below `warn`,
// because a process using the client (the CLI's `get -`, `cat`) may carry file data on stdout.
import { Logger, type Level, type LogFields } from '@antlerfs/protocol';

const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export class ClientLogger extends Logger {
  private readonly thresholdRank: number;

  constructor(component: string, threshold: Level = 'warn') {
    super(component);
    this.thresholdRank = RANK[threshold];
  }

  override child(component: string): Logger {
    return new ClientLogger(`${this.component}.${component}`);
  }

  override log(level: Level, message: string, fields?: LogFields): void {
    if (RANK[level] < this.thresholdRank) return;
    let line = `${new Date().toISOString()} ${level.padEnd(5)} ${this.component} ${message}`;
    for (const [key, value] of Object.entries(fields ?? {})) {
      if (value !== undefined && value !== null) line += ` ${key}=${String(value)}`;
    }
    process.stderr.write(line + '\n');
  }
}
