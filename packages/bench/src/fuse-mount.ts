// The FUSE mount a bench run measures: an antler-mount process of its own in front of the run's
// master (a cluster the bench started or an existing one), on a fresh mount point in a
// temporary folder. Stopping it always leaves nothing mounted (SIGTERM, then umount -l as the
// last resort) and removes only the empty mount point, never anything through the mount. When
// antler-mount ended on its own, its log is kept and its tail goes into the failures' reasons.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '@antlerfs/test/harness/cluster.ts';
import { isAlive, stopProcess } from '@antlerfs/test/harness/faults.ts';
import { requireFuse } from '@antlerfs/test/harness/mount.ts';
import { logTail, waitForReady } from '@antlerfs/test/harness/wait.ts';

const MOUNT_READY_MS = 30_000;
const MOUNT_STOP_MS = 30_000;
const UNMOUNT_ATTEMPTS = 3;

export interface BenchMount {
  /** The mount point. */
  dir: string;
  child: ChildProcess;
  logFile: string;
  /** Null while antler-mount runs (or was stopped by us); else how it ended and its log. */
  gone(): string | null;
  /** The last lines of antler-mount's log. */
  logTail(): string;
  stop(): Promise<void>;
}

function isMounted(dir: string): boolean {
  const table = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  return table.split('\n').some((line) => line.split(' ')[4] === dir);
}

/**
 * Unmounts whatever is left on `dir`, then removes the (empty) mount point, and the log too
 * unless `keepLog`.
 */
function cleanUp(child: ChildProcess, dir: string, tmp: string, keepLog: boolean): void {
  if (isAlive(child)) child.kill('SIGKILL');
  for (let i = 0; i < UNMOUNT_ATTEMPTS && isMounted(dir); i++) {
    spawnSync('umount', ['-l', dir], { stdio: 'ignore' });
  }
  if (isMounted(dir)) return; // left for the operator rather than deleting through a mount
  fs.rmdirSync(dir);
  if (!keepLog) fs.rmSync(tmp, { recursive: true, force: true });
}

/**
 * Starts antler-mount for `masterAddr`; throws with the reason when this machine cannot mount
 * (not root, no /dev/fuse, no mount(8)) or the mount does not come up.
 */
export async function startBenchMount(masterAddr: string): Promise<BenchMount> {
  requireFuse();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'antler-bench-mount-'));
  const dir = path.join(tmp, 'mnt');
  fs.mkdirSync(dir);
  const logFile = path.join(tmp, 'mount.log');
  const fd = fs.openSync(logFile, 'a');
  const bin = path.join(REPO_ROOT, 'packages', 'client', 'bin', 'antler-mount');
  const child = spawn(process.execPath, [bin, dir, '-H', masterAddr], {
    stdio: ['ignore', fd, fd],
  });
  fs.closeSync(fd);
  let ended: string | null = null;
  let stopping = false;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      if (!stopping) ended = `antler-mount ended by itself (${code ?? signal}); log ${logFile}`;
      resolve(code ?? signal ?? 'gone');
    });
  });
  // The mount may be detached (antler-mount's emergency stop) before its exit is seen here.
  const gone = (): string | null => ended ?? (!stopping && !isMounted(dir)
    ? `antler-mount is no longer mounted on ${dir}; log ${logFile}` : null);
  const atExit = (): void => cleanUp(child, dir, tmp, gone() !== null);
  process.once('exit', atExit);
  try {
    await waitForReady({ name: 'antler-mount', logFile, fromByte: 0, timeoutMs: MOUNT_READY_MS,
      exited });
  } catch (err) {
    stopping = true;
    await stopProcess(child, 'SIGTERM', MOUNT_STOP_MS);
    cleanUp(child, dir, tmp, true);
    process.off('exit', atExit);
    throw new Error(`${(err as Error).message} (log ${logFile})`);
  }
  let stopped: Promise<void> | null = null;
  return {
    dir, child, logFile, gone, logTail: () => logTail(logFile),
    stop: () => {
      stopped ??= (async () => {
        const keepLog = gone() !== null;
        stopping = true;
        await stopProcess(child, 'SIGTERM', MOUNT_STOP_MS);
        cleanUp(child, dir, tmp, keepLog || ended !== null);
        process.off('exit', atExit);
      })();
      return stopped;
    },
  };
}
