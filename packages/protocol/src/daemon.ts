// The daemon skeleton shared by every antlerfs process: ordered modules that start in order
// and stop in reverse on SIGTERM/SIGINT (a second signal or a timeout forces exit), a lock file
// so two daemons never share a data folder, and a logged exit on a bug.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from './log.ts';

export interface DaemonModule {
  name: string;
  start(): Promise<void> | void;
  stop(): Promise<void> | void;
}

export interface DaemonOptions {
  name: string;
  log: Logger;
  modules: DaemonModule[];
  /** Folder to lock (DATA_PATH); omitted for stateless daemons. */
  lockDir?: string;
  stopTimeoutMs?: number;
}

/**
 * Takes `<dir>/.lock` holding our pid; refuses if a live process holds it. The file appears
 * with the pid already in it (written to a file of our own, then linked: link() fails if the
 * name exists), so a process starting at the same moment never reads an empty lock and takes
 * it for a stale one. A lock of a dead process is removed only while it is still that file.
 */
export function takeLock(dir: string, name: string): () => void {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, '.lock');
  const mine = path.join(dir, `.lock.${process.pid}.tmp`);
  fs.writeFileSync(mine, `${process.pid}\n`);
  try {
    for (let attempt = 0; attempt < LOCK_ATTEMPTS_MAX; attempt++) {
      try {
        fs.linkSync(mine, file);
        return () => {
          try { fs.unlinkSync(file); } catch { /* already gone */ }
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      removeIfStale(file, dir, name);
    }
  } finally {
    fs.rmSync(mine, { force: true });
  }
  throw new Error(`cannot take lock ${file}: other processes keep taking it`);
}

/** Lock attempts at most: each ends with the lock held, refused, or a dead owner's removed. */
const LOCK_ATTEMPTS_MAX = 8;

/** Removes `file` if it names a dead process (and is still the file read); throws if alive. */
function removeIfStale(file: string, dir: string, name: string): void {
  let ino: number;
  let pid: number;
  try {
    ino = fs.statSync(file).ino;
    pid = Number(fs.readFileSync(file, 'utf8').trim());
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // released meanwhile
    throw err;
  }
  let alive = false;
  if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) {
    try { process.kill(pid, 0); alive = true; } catch { alive = false; }
  }
  if (alive) {
    throw new Error(`${dir} is in use by another process, pid ${pid} (lock file ${file}); ` +
      `stop it first (${name} needs the folder to itself)`);
  }
  try {
    if (fs.statSync(file).ino === ino) fs.unlinkSync(file); // stale lock of a dead process
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

export async function runDaemon(opts: DaemonOptions): Promise<void> {
  const { log } = opts;
  let release: (() => void) | null = null;
  if (opts.lockDir) release = takeLock(opts.lockDir, opts.name);
  const started: DaemonModule[] = [];
  let stopping = false;

  const stop = async (why: string, code: number): Promise<void> => {
    if (stopping) {
      log.warn('second stop request: exiting now', { why });
      process.exit(1);
    }
    stopping = true;
    log.info('stopping', { why });
    const timer = setTimeout(() => {
      log.error('stop timed out: exiting', { timeoutMs: opts.stopTimeoutMs ?? 30_000 });
      process.exit(1);
    }, opts.stopTimeoutMs ?? 30_000);
    timer.unref();
    for (const m of [...started].reverse()) {
      try {
        await m.stop();
        log.info('module stopped', { module: m.name });
      } catch (err) {
        log.error('module stop failed', { module: m.name, error: (err as Error).stack });
      }
    }
    release?.();
    log.info('stopped');
    process.exit(code);
  };

  process.on('SIGTERM', () => void stop('SIGTERM', 0));
  process.on('SIGINT', () => void stop('SIGINT', 0));
  process.on('uncaughtException', (err) => {
    log.error('uncaught exception: exiting', { error: err.stack ?? String(err) });
    release?.();
    process.exit(70);
  });
  process.on('unhandledRejection', (err) => {
    log.error('unhandled rejection: exiting', { error: (err as Error)?.stack ?? String(err) });
    release?.();
    process.exit(70);
  });

  for (const m of opts.modules) {
    try {
      await m.start();
    } catch (err) {
      log.error('module failed to start', { module: m.name, error: (err as Error).message });
      for (const s of [...started].reverse()) await Promise.resolve(s.stop()).catch(() => undefined);
      release?.();
      process.exit(1);
    }
    started.push(m);
  }
}
