// antler-mount for cluster tests: a real FUSE mount of a real cluster, served by its own
// antler-mount process (so the test process may use the mount freely), and shell commands run
// on it as child processes. Mount points live under their own temporary folder and are removed
// only with rmdir once unmounted, so nothing ever deletes through a mount. unmount() always
// leaves nothing mounted (SIGTERM, then umount -l and SIGKILL as the last resort). When a test
// fails, the tail of every mount log is printed at exit.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { assert } from '@antlerfs/protocol';
import { nodeArgsFromEnv, REPO_ROOT, type Cluster } from './cluster.ts';
import { isAlive, stopProcess } from './faults.ts';
import { LOG_TAIL_LINES, logTail, waitForReady, waitUntil } from './wait.ts';

/** antler-mount gets this long to log `ready` (tsx compiles it first). */
export const MOUNT_READY_TIMEOUT_MS = 30_000;
/** After SIGTERM, antler-mount gets this long to unmount and exit. */
export const MOUNT_STOP_TIMEOUT_MS = 30_000;
/** A shell command on the mount gets this long before it is killed. */
export const SHELL_TIMEOUT_MS = 240_000;

export interface ShellResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Mount extends AsyncDisposable {
  /** The mount point. */
  dir: string;
  child: ChildProcess;
  logFile: string;
  /** key=value fields of the ready line. */
  ready: Record<string, string>;
  /** Runs `bash -c cmd` in a child process; never throws on a failing command. */
  sh(cmd: string, opts?: { cwd?: string; timeoutMs?: number }): Promise<ShellResult>;
  /** Like sh() but throws with the command's output unless it exits 0; returns stdout. */
  must(cmd: string, opts?: { cwd?: string; timeoutMs?: number }): Promise<string>;
  /** SIGTERM and wait: returns how antler-mount ended. Safe to call twice. */
  unmount(): Promise<number | string>;
}

const mounts: MountImpl[] = [];
let exitHookSet = false;

/**
 * Fails (never skips) when this machine cannot mount: the tests need root, /dev/fuse and
 * mount(8) (scripts/test-deps.sh installs fuse3).
 */
export function requireFuse(): void {
  const missing: string[] = [];
  if ((process.getuid?.() ?? 0) !== 0) missing.push('root (mount(2) is reserved to root)');
  if (!fs.existsSync('/dev/fuse')) missing.push('/dev/fuse (modprobe fuse)');
  const paths = (process.env.PATH ?? '').split(':').concat(['/usr/bin', '/bin', '/usr/sbin']);
  for (const program of ['mount', 'umount']) {
    if (!paths.some((p) => fs.existsSync(path.join(p, program)))) missing.push(`${program}(8)`);
  }
  if (missing.length > 0) {
    throw new Error(`mount tests cannot run here: missing ${missing.join(', ')}`);
  }
}

/** Checks that `programs` are installed; a missing one fails the test with its name. */
export async function requirePrograms(programs: string[]): Promise<void> {
  for (const p of programs) {
    const r = await shell(`command -v ${p}`, { timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`${p} is not installed (bash scripts/test-deps.sh)`);
  }
}

/**
 * Starts antler-mount on a fresh mount point for `cluster`; waits for its ready line. `options`
 * go to -o, `env` is added to the environment (ANTLER_NO_NATIVE=1: without the addon).
 */
export async function startMount(
  cluster: Cluster,
  opts: { options?: string; args?: string[]; env?: Record<string, string> } = {},
): Promise<Mount> {
  requireFuse();
  setExitHook();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'antler-mnt-'));
  const logFile = path.join(cluster.dir, `mount-${mounts.length}.log`);
  const args = [dir, '-H', cluster.masterAddr, ...(opts.options ? ['-o', opts.options] : []),
    ...(opts.args ?? [])];
  const fd = fs.openSync(logFile, 'a');
  const bin = path.join(REPO_ROOT, 'packages', 'client', 'bin', 'antler-mount');
  const child = spawn(process.execPath, [...nodeArgsFromEnv(), bin, ...args], {
    stdio: ['ignore', fd, fd], env: { ...process.env, ...opts.env },
  });
  fs.closeSync(fd);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'gone'));
  });
  const mount = new MountImpl(dir, child, logFile, exited);
  mounts.push(mount);
  try {
    mount.ready = await waitForReady({
      name: 'antler-mount', logFile, fromByte: 0, timeoutMs: MOUNT_READY_TIMEOUT_MS, exited,
    });
  } catch (err) {
    await mount.unmount();
    throw err;
  }
  return mount;
}

/** Runs `bash -c cmd` (not on any mount in particular). */
export function shell(
  cmd: string, opts: { cwd?: string; timeoutMs?: number } = {},
): Promise<ShellResult> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', cmd], {
      cwd: opts.cwd, timeout: opts.timeoutMs ?? SHELL_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024,
      killSignal: 'SIGKILL',
    }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 128;
      const killed = err !== null && err.killed ? `\n[harness: killed after timeout]` : '';
      resolve({ code, stdout, stderr: stderr + killed });
    });
  });
}

export async function mustShell(
  cmd: string, opts: { cwd?: string; timeoutMs?: number } = {},
): Promise<string> {
  const r = await shell(cmd, opts);
  if (r.code !== 0) {
    throw new Error(`command failed (exit ${r.code}): ${cmd}\n` +
      `--- stdout\n${r.stdout.slice(-4000)}` +
      `\n--- stderr\n${r.stderr.slice(-4000)}`);
  }
  return r.stdout;
}

function isMounted(dir: string): boolean {
  const table = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  return table.split('\n').some((line) => line.split(' ')[4] === dir);
}

class MountImpl implements Mount {
  readonly dir: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  ready: Record<string, string> = {};
  private readonly exited: Promise<number | string>;
  private stopped: Promise<number | string> | null = null;

  constructor(dir: string, child: ChildProcess, logFile: string, exited: Promise<number | string>) {
    this.dir = dir;
    this.child = child;
    this.logFile = logFile;
    this.exited = exited;
  }

  sh(cmd: string, opts: { cwd?: string; timeoutMs?: number } = {}): Promise<ShellResult> {
    return shell(cmd, { cwd: opts.cwd ?? this.dir, timeoutMs: opts.timeoutMs });
  }

  must(cmd: string, opts: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
    return mustShell(cmd, { cwd: opts.cwd ?? this.dir, timeoutMs: opts.timeoutMs });
  }

  unmount(): Promise<number | string> {
    this.stopped ??= this.stop();
    return this.stopped;
  }

  private async stop(): Promise<number | string> {
    const how = await stopProcess(this.child, 'SIGTERM', MOUNT_STOP_TIMEOUT_MS);
    // The last resort: whatever happened, nothing stays mounted.
    for (let attempt = 0; attempt < 3 && isMounted(this.dir); attempt++) {
      await shell(`umount -l ${this.dir}`, { timeoutMs: 10_000 });
      await sleep(100);
    }
    assert(!isMounted(this.dir), `${this.dir} is unmounted`);
    try {
      fs.rmdirSync(this.dir); // only an empty folder: never anything through a mount
    } catch {
      // left for the operator; it is empty or it holds what a failed unmount left
    }
    await this.exited;
    return how;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.unmount();
  }

  /** Synchronous last resort at process exit. */
  killNow(): void {
    if (isAlive(this.child)) this.child.kill('SIGKILL');
    if (isMounted(this.dir)) spawnSync('umount', ['-l', this.dir], { stdio: 'ignore' });
  }
}

function setExitHook(): void {
  if (exitHookSet) return;
  exitHookSet = true;
  process.on('exit', (code) => {
    const failing = code !== 0 || (process.exitCode ?? 0) !== 0;
    for (const m of mounts) {
      m.killNow();
      if (failing) {
        process.stderr.write(`----- antler-mount ${m.dir}: last ${LOG_TAIL_LINES} lines of ` +
          `${m.logFile}\n${logTail(m.logFile)}\n`);
      }
    }
  });
}

/** How long a mount takes at most to log its request counts after SIGUSR2. */
const COUNTS_WITHIN_MS = 10_000;

/**
 * The mount's counters now: it logs them on SIGUSR2 (kernel requests, master requests, what it
 * answered itself, request buffers kept and reused); the text of that log line.
 */
export async function mountCounters(mount: Mount): Promise<string> {
  const lines = () => fs.readFileSync(mount.logFile, 'utf8').split('\n')
    .filter((l) => l.includes('request counts'));
  const seen = lines().length;
  mount.child.kill('SIGUSR2');
  await waitUntil('the mount logs its request counts', async () => lines().length > seen,
    { timeoutMs: COUNTS_WITHIN_MS, intervalMs: 20 });
  return lines().at(-1)!;
}
