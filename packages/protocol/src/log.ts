// Structured log lines: `time level component message key=value ...` on stdout, one per event.
export type Level = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

let threshold: Level = (process.env.ANTLER_LOG_LEVEL as Level | undefined) ?? 'info';

export function setLogLevel(level: Level): void {
  threshold = level;
}

export type LogFields = Record<string, string | number | bigint | boolean | undefined | null>;

function formatValue(v: string | number | bigint | boolean): string {
  const s = String(v);
  return /[\s="]/.test(s) || s === '' ? JSON.stringify(s) : s;
}

export class Logger {
  readonly component: string;
  constructor(component: string) {
    this.component = component;
  }

  child(component: string): Logger {
    return new Logger(`${this.component}.${component}`);
  }

  log(level: Level, message: string, fields?: LogFields): void {
    if (RANK[level] < RANK[threshold]) return;
    let line = `${new Date().toISOString()} ${level.padEnd(5)} ${this.component} ${message}`;
    if (fields) {
      for (const [k, v] of Object.entries(fields)) {
        if (v !== undefined && v !== null) line += ` ${k}=${formatValue(v)}`;
      }
    }
    process.stdout.write(line + '\n');
  }

  debug(m: string, f?: LogFields): void { this.log('debug', m, f); }
  info(m: string, f?: LogFields): void { this.log('info', m, f); }
  warn(m: string, f?: LogFields): void { this.log('warn', m, f); }
  error(m: string, f?: LogFields): void { this.log('error', m, f); }
}
