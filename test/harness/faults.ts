// Real faults for cluster tests: signals to daemons, flipped bytes in chunk files, and hostile
// bytes on a daemon's port (random, truncated and lying frames on many short connections).
// Nothing here is simulated: the daemons see real signals, real files, real sockets.
import fs from 'node:fs';
import net from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { assert, type LinkKind } from '@antlerfs/protocol';
import { SeededRandom } from './data.ts';
import { hostileConnection, type HostileConnection } from './hostile-frames.ts';

/** True while the process has neither exited nor been killed. */
export function isAlive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Sends `signal`; after `timeoutMs` without an exit, SIGKILL. Resolves with how it ended. */
export async function stopProcess(
  child: ChildProcess, signal: NodeJS.Signals, timeoutMs: number,
): Promise<number | string> {
  const exited = new Promise<number | string>((resolve) => {
    if (!isAlive(child)) resolve(child.exitCode ?? child.signalCode ?? 'gone');
    else child.once('exit', (code, sig) => resolve(code ?? sig ?? 'gone'));
  });
  if (!isAlive(child)) return exited;
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const first = await Promise.race([exited, timedOut]);
  clearTimeout(timer);
  if (first !== 'timeout') return first;
  child.kill('SIGKILL');
  return exited;
}

/** SIGSTOP: the process stays, but answers nothing (a hung machine, not a dead one). */
export function freeze(child: ChildProcess): void {
  assert(isAlive(child), 'only a running process can be frozen');
  child.kill('SIGSTOP');
}

/** SIGCONT after freeze(). */
export function thaw(child: ChildProcess): void {
  child.kill('SIGCONT');
}

/** Flips every bit of the byte at `offset` of a file (a chunk file, to corrupt one block). */
export function flipByte(file: string, offset: number): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    assert(fs.readSync(fd, b, 0, 1, offset) === 1, `byte ${offset} exists in ${file}`);
    b[0] = b[0]! ^ 0xff;
    fs.writeSync(fd, b, 0, 1, offset);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export interface HostileTarget {
  name: string;
  host: string;
  port: number;
  /** The link the port speaks (the monitor port speaks HTTP: any link's frames are garbage). */
  link: LinkKind;
  payloadMaxBytes: number;
}

export interface HostileReport {
  connections: number;
  frames: number;
  /** Connections that ended in a socket error, e.g. reset by the daemon (counted only). */
  socketErrors: number;
  kinds: Record<string, number>;
}

/** Longest a hostile connection is kept open waiting for the daemon to close it. */
const HOSTILE_WAIT_MS = 1000;

/** Sends one hostile connection's bytes; resolves when the socket is gone. */
function sendHostile(target: HostileTarget, c: HostileConnection): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: target.host, port: target.port });
    socket.setNoDelay(true); // so single bytes tend to leave as their own segments
    let failed = false;
    const timer = setTimeout(() => socket.destroy(), HOSTILE_WAIT_MS);
    socket.on('error', () => { failed = true; });
    socket.on('data', () => { /* replies are read and dropped */ });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(!failed);
    });
    socket.once('connect', () => {
      for (const b of c.bytes) socket.write(b);
      if (c.close === 'reset') socket.resetAndDestroy();
      else if (c.close === 'end') socket.end();
      else setTimeout(() => socket.end(), 50);
    });
  });
}

/**
 * Sends `connections` hostile connections (each one or more frames) spread over `targets`,
 * `parallel` at a time. Returns what was sent; the caller checks the daemons afterwards.
 */
export async function sendHostileTraffic(targets: HostileTarget[], opts: {
  seed: number; connections: number; parallel: number;
}): Promise<HostileReport> {
  assert(targets.length > 0 && opts.connections > 0 && opts.parallel > 0, 'hostile plan');
  const rnd = new SeededRandom(opts.seed);
  const report: HostileReport = { connections: 0, frames: 0, socketErrors: 0, kinds: {} };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < opts.connections) {
      const target = targets[next % targets.length]!;
      next++;
      const c = hostileConnection(rnd, target.link, target.payloadMaxBytes);
      report.kinds[c.kind] = (report.kinds[c.kind] ?? 0) + 1;
      report.frames += c.frames;
      report.connections++;
      if (!(await sendHostile(target, c))) report.socketErrors++;
    }
  };
  await Promise.all(Array.from({ length: opts.parallel }, worker));
  return report;
}
