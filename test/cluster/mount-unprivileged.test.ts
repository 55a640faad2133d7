// Goal: an ordinary user mounts with antler-mount (through fusermount3 and the native addon's
// SCM_RIGHTS receive), writes and reads a file through the mount as that user, and unmounts
// with antler-mount -u; the serving process then exits 0.
// Method: a real cluster started as root; antler-mount and every program on the mount run as
// user nobody (setpriv), with HOME and TMPDIR in a folder nobody owns (tsx writes its cache
// there). fusermount3 opens /dev/fuse as the calling user, so the device must be open to all
// (0666, as distributions' udev rules set it); where it is not, the test opens it for its run
// and restores the mode. Fails, never skips, when the addon lacks the calls (pnpm install
// builds it).
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addon } from '../../native/index.ts';
import { REPO_ROOT, startCluster } from '../harness/cluster.ts';
import { stopProcess } from '../harness/faults.ts';
import {
  MOUNT_READY_TIMEOUT_MS, MOUNT_STOP_TIMEOUT_MS, mustShell, requireFuse, requirePrograms, shell,
} from '../harness/mount.ts';
import { logTail, waitForReady, waitUntil } from '../harness/wait.ts';

const BIN = path.join(REPO_ROOT, 'packages', 'client', 'bin', 'antler-mount');
const USER = 'nobody';
/** nobody's uid and nogroup's gid. */
const USER_ID = 65534;
const AS_USER = `setpriv --reuid=${USER} --regid=nogroup --clear-groups`;
const FUSE_DEVICE = '/dev/fuse';
/** What every user needs on /dev/fuse for fusermount3 to open it. */
const FUSE_DEVICE_MODE = 0o666;
/** The file written through the mount: a few chunkserver blocks and a partial one. */
const FILE_BYTES = 3 * 1024 * 1024 + 12_345;
/** The mount leaves the mount table within this long after fusermount3 -u returns. */
const UNMOUNTED_WITHIN_MS = 10_000;

function mounted(dir: string): boolean {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .some((line) => line.split(' ')[4] === dir);
}

function requireAddon(): void {
  if (addon?.socketpair === undefined || addon.recvFd === undefined) {
    throw new Error('the native addon is not built or lacks socketpair/recvFd, which mounting ' +
      'without root needs (cd native && npx node-gyp rebuild --nodedir=/usr)');
  }
}

test('nobody mounts, writes and reads a file, and unmounts', async () => {
  requireFuse();
  requireAddon();
  await requirePrograms(['setpriv', 'fusermount3', 'sha256sum']);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'antler-user-'));
  const home = path.join(root, 'home');
  const mnt = path.join(root, 'mnt');
  const env = `env HOME=${home} TMPDIR=${home}`;
  let child: ReturnType<typeof spawn> | null = null;
  const deviceMode = fs.statSync(FUSE_DEVICE).mode & 0o777;
  try {
    if ((deviceMode & FUSE_DEVICE_MODE) !== FUSE_DEVICE_MODE) {
      fs.chmodSync(FUSE_DEVICE, deviceMode | FUSE_DEVICE_MODE);
    }
    fs.chmodSync(root, 0o755);
    for (const dir of [home, mnt]) {
      fs.mkdirSync(dir, { mode: 0o755 });
      await mustShell(`chown ${USER}:nogroup ${dir}`);
    }
    const readable = await shell(`${AS_USER} bash -c 'test -r ${BIN} && ` +
      `test -r ${REPO_ROOT}/node_modules/tsx/package.json && test -x ${REPO_ROOT}/packages'`);
    assert.is(readable.code, 0, `${USER} must be able to read the repository and its ` +
      `node_modules (${REPO_ROOT})`);

    await using cluster = await startCluster({ chunkservers: 1 });
    // The tree's root belongs to root: the user works in a folder of its own.
    const client = await cluster.client();
    await client.mkdir('/user');
    await client.chown('/user', USER_ID, USER_ID);
    const logFile = path.join(root, 'mount.log');
    const fd = fs.openSync(logFile, 'a');
    child = spawn('bash', ['-c', `exec ${AS_USER} ${env} ${process.execPath} ${BIN} ${mnt} ` +
      `-H ${cluster.masterAddr}`], { stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    const started = child;
    const exited = new Promise<number | string>((resolve) => {
      started.once('exit', (code, signal) => resolve(code ?? signal ?? 'gone'));
    });
    try {
      await waitForReady({
        name: 'antler-mount', logFile, fromByte: 0, timeoutMs: MOUNT_READY_TIMEOUT_MS, exited,
      });
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${logTail(logFile)}`);
    }
    assert.ok(mounted(mnt), 'mounted');
    const entry = await mustShell(`findmnt -n -o FSTYPE,SOURCE ${mnt}`);
    assert.match(entry, /^fuse\.antlerfs\s+antlerfs:/);

    const data = crypto.randomBytes(FILE_BYTES);
    const source = path.join(home, 'data');
    fs.writeFileSync(source, data);
    const want = crypto.createHash('sha256').update(data).digest('hex');
    await mustShell(`${AS_USER} cp ${source} ${mnt}/user/file`);
    const owner = await mustShell(`${AS_USER} stat -c %U:%s ${mnt}/user/file`);
    assert.is(owner.trim(), `${USER}:${FILE_BYTES}`);
    const got = await mustShell(`${AS_USER} sha256sum ${mnt}/user/file`);
    assert.is(got.split(' ')[0], want, 'what nobody reads is what nobody wrote');

    const unmount = await shell(`${AS_USER} ${env} ${process.execPath} ${BIN} -u ${mnt}`,
      { timeoutMs: 60_000 });
    assert.is(unmount.code, 0, `antler-mount -u as ${USER}: ${unmount.stderr}`);
    await waitUntil('the mount to leave the table', () => !mounted(mnt),
      { timeoutMs: UNMOUNTED_WITHIN_MS });
    const code = await waitUntil('antler-mount to exit', () => started.exitCode ?? false,
      { timeoutMs: MOUNT_STOP_TIMEOUT_MS });
    assert.is(code, 0, `antler-mount exits 0 once unmounted:\n${logTail(logFile)}`);
  } finally {
    fs.chmodSync(FUSE_DEVICE, deviceMode);
    if (child !== null) await stopProcess(child, 'SIGKILL', MOUNT_STOP_TIMEOUT_MS);
    for (let attempt = 0; attempt < 3 && mounted(mnt); attempt++) {
      await shell(`umount -l ${mnt}`, { timeoutMs: 10_000 });
    }
    // Never delete through a mount: the tree goes only once nothing is mounted on it.
    if (!mounted(mnt)) fs.rmSync(root, { recursive: true, force: true });
  }
});

test.run();
