// Waiting in cluster tests: for a daemon's `ready` log line, for a TCP port, for any condition.
// Every wait has a deadline and, when it runs out, says what it was waiting for and shows
// the evidence (the daemon's log tail), so a hung test explains itself.
import fs from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** How often polls look again: short enough to be quick, long enough to cost nothing. */
export const POLL_INTERVAL_MS = 50;
/** Lines of a daemon log shown when something about that daemon fails. */
export const LOG_TAIL_LINES = 40;

/** The last `lines` lines of a log file ('' if it does not exist yet). */
export function logTail(file: string, lines = LOG_TAIL_LINES): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
  const all = text.split('\n');
  if (all.at(-1) === '') all.pop();
  return all.slice(-lines).join('\n');
}

/** Parses the `key=value` fields of one structured log line (values may be JSON-quoted). */
export function parseLogFields(line: string): Record<string, string> {
  const fields: Record<string, string> = {};
  const re = /(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) {
    const raw = m[2]!;
    fields[m[1]!] = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
  }
  return fields;
}

/** How much of a run's log is searched for its ready line. */
const READY_SCAN_MAX_BYTES = 1024 * 1024;

/** A log line whose message is exactly `ready`: `<time> info  <component> ready k=v ...`. */
const READY_LINE = /^\S+\s+info\s+\S+\s+ready(\s|$)/;

export interface ReadyWait {
  /** Daemon name for messages ("master", "chunkserver 2"). */
  name: string;
  logFile: string;
  /** Bytes of the log to skip: output of an earlier run of the same daemon. */
  fromByte: number;
  timeoutMs: number;
  /** Rejects when the process exits first; keeps the wait from sitting out its deadline. */
  exited: Promise<number | string>;
}

/** Waits for the daemon's `ready` line in its log; returns its key=value fields. */
export async function waitForReady(w: ReadyWait): Promise<Record<string, string>> {
  let exitedWith: number | string | null = null;
  void w.exited.then((code) => { exitedWith = code; });
  const deadline = Date.now() + w.timeoutMs;
  const polls = Math.ceil(w.timeoutMs / POLL_INTERVAL_MS) + 1;
  for (let i = 0; i < polls; i++) {
    const line = findReadyLine(w.logFile, w.fromByte);
    if (line !== null) return parseLogFields(line.slice(line.indexOf(' ready') + 6));
    if (exitedWith !== null) {
      throw new Error(`${w.name} exited (${exitedWith}) before its ready line; ` +
        `log ${w.logFile}:\n${logTail(w.logFile)}`);
    }
    if (Date.now() >= deadline) break;
    await sleep(POLL_INTERVAL_MS);
  }
  throw new Error(`${w.name} not ready after ${w.timeoutMs} ms; log ${w.logFile}:\n` +
    logTail(w.logFile));
}

function findReadyLine(file: string, fromByte: number): string | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    // Only this run's output: the ready line comes early, so a bounded read finds it.
    const size = Math.min(fs.fstatSync(fd).size - fromByte, READY_SCAN_MAX_BYTES);
    if (size <= 0) return null;
    const buf = Buffer.alloc(size);
    const n = fs.readSync(fd, buf, 0, size, fromByte);
    for (const line of buf.toString('utf8', 0, n).split('\n')) {
      if (READY_LINE.test(line)) return line;
    }
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Polls `check` until it returns a value other than undefined/false, or throws after
 * `timeoutMs` with `what` and the last value seen (or the last error thrown by `check`).
 */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs: number; intervalMs?: number },
): Promise<T> {
  const intervalMs = opts.intervalMs ?? POLL_INTERVAL_MS * 4;
  const deadline = Date.now() + opts.timeoutMs;
  const polls = Math.ceil(opts.timeoutMs / intervalMs) + 1;
  let last = '';
  for (let i = 0; i < polls; i++) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
      last = `last value ${String(v)}`;
    } catch (err) {
      last = `last error ${(err as Error).message}`;
    }
    if (Date.now() >= deadline) break;
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what} (${last})`);
}

/** True when something accepts TCP connections on host:port. */
export function canConnect(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Waits until host:port accepts a TCP connection. */
export function waitForPort(host: string, port: number, timeoutMs: number): Promise<true> {
  return waitUntil(`${host}:${port} to accept connections`,
    async () => (await canConnect(host, port)) || undefined, { timeoutMs });
}
