// Goal: antler-mount behaves as a command: --help and --version; clear one-line errors (exit 1
// or 2, nothing mounted) for a missing mount point, a file, a non-empty folder, one already
// mounted, an unknown option, an unreachable master and a user who is not root; -o ro refuses
// writes; -u unmounts and the serving process then exits 0; SIGTERM while a file is open
// unmounts lazily, the open file keeps working, and the process exits 0 once it is closed.
// Method: a real cluster and real mounts; antler-mount and every program as child processes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_ROOT, startCluster } from '../harness/cluster.ts';
import { requireFuse, requirePrograms, shell, startMount } from '../harness/mount.ts';
import { waitUntil } from '../harness/wait.ts';

const BIN = path.join(REPO_ROOT, 'packages', 'client', 'bin', 'antler-mount');
const MOUNT = `${process.execPath} ${BIN}`;

function mounted(dir: string): boolean {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .some((line) => line.split(' ')[4] === dir);
}

test('--help, --version and clear errors that mount nothing', async () => {
  requireFuse();
  await requirePrograms(['setpriv']);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'antler-cli-'));
  try {
    const help = await shell(`${MOUNT} --help`);
    assert.is(help.code, 0);
    assert.match(help.stdout, /usage: antler-mount MOUNTPOINT/);
    assert.match(help.stdout, /attr_timeout=S/);
    assert.match(help.stdout, /-u MOUNTPOINT/);
    assert.is((await shell(`${MOUNT} --version`)).stdout, 'antler-mount 0.1.0\n');

    await using cluster = await startCluster({ chunkservers: 1 });
    const H = `-H ${cluster.masterAddr}`;
    fs.writeFileSync(path.join(root, 'file'), 'x');
    fs.mkdirSync(path.join(root, 'full'));
    fs.writeFileSync(path.join(root, 'full', 'inside'), 'x');
    fs.mkdirSync(path.join(root, 'empty'));
    const cases: [string, number, RegExp][] = [
      [`${root}/missing ${H}`, 1, /mount point .*missing does not exist/],
      [`${root}/file ${H}`, 1, /mount point .*file is not a directory/],
      [`${root}/full ${H}`, 1, /mount point .*full is not empty/],
      [`${root}/empty ${H} -o no_such_option`, 2, /unknown mount option no_such_option/],
      [`${root}/empty -H 127.0.0.1:1`, 1, /cannot reach master/],
      [`${H}`, 2, /a mount point is needed/],
    ];
    for (const [args, code, message] of cases) {
      const r = await shell(`${MOUNT} ${args}`, { timeoutMs: 60_000 });
      assert.is(r.code, code, `exit status of antler-mount ${args}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.is(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    }
    assert.not.ok(mounted(path.join(root, 'empty')), 'nothing was mounted');

    // Not root, with /dev/fuse closed to other users: a clear one-line refusal, either that root
    // is needed (no native addon to receive fusermount3's descriptor) or fusermount3's own.
    fs.chmodSync(root, 0o755);
    fs.chmodSync(path.join(root, 'empty'), 0o777);
    const user = await shell(`setpriv --reuid=65534 --regid=65534 --clear-groups ` +
      `${MOUNT} ${root}/empty ${H}`, { timeoutMs: 60_000 });
    assert.is(user.code, 1, user.stderr);
    assert.match(user.stderr, /mounting needs root[^\n]*SCM_RIGHTS|fusermount3[^\n]*\/dev\/fuse/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('busy mount point, read-only mount, -u, and SIGTERM with a file open', async () => {
  requireFuse();
  await using cluster = await startCluster({ chunkservers: 1 });
  await using first = await startMount(cluster);
  await first.must('echo hello > f');

  const again = await shell(`${MOUNT} ${first.dir} -H ${cluster.masterAddr}`,
    { timeoutMs: 60_000 });
  assert.is(again.code, 1, again.stderr);
  assert.match(again.stderr, /is busy: .* is already mounted there/);

  await using ro = await startMount(cluster, { options: 'ro' });
  assert.is(await ro.must('cat f'), 'hello\n');
  const refused = await ro.sh('echo no > g');
  assert.is.not(refused.code, 0);
  assert.match(refused.stderr, /Read-only file system/);

  // -u from another process: the serving process sees the mount go and exits 0.
  const u = await shell(`${MOUNT} -u ${ro.dir}`);
  assert.is(u.code, 0, u.stderr);
  await waitUntil('the read-only mount process exits by itself', () => ro.child.exitCode !== null,
    { timeoutMs: 30_000, intervalMs: 50 });
  assert.is(ro.child.exitCode, 0);

  // SIGTERM while a file is open: unmounted lazily, the file keeps working until closed. The
  // holder reads only when told (a file outside the mount appears), at most 60 s later.
  const go = path.join(cluster.dir, 'holder-go');
  const holder = spawn('bash', ['-c',
    `exec 3<f; for i in $(seq 1200); do [ -e '${go}' ] && break; sleep 0.05; done; cat <&3`], {
    cwd: first.dir, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  holder.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  const holderDone = new Promise((resolve) => holder.once('exit', resolve));
  await waitUntil('the holder has the file open', async () => {
    const r = await shell(`ls -l /proc/${holder.pid}/fd/3`);
    return r.code === 0;
  }, { timeoutMs: 10_000, intervalMs: 50 });
  first.child.kill('SIGTERM');
  await waitUntil('the mount point is detached', () => !mounted(first.dir),
    { timeoutMs: 10_000, intervalMs: 50 });
  assert.is(first.child.exitCode, null, 'still serving the open file');
  fs.writeFileSync(go, '');
  assert.is(await holderDone, 0);
  assert.is(out, 'hello\n', 'the open file read to its end after the unmount');
  // The last close ends the lazily detached mount: the process exits by itself, with 0.
  await waitUntil('the mount process exits after the last close',
    () => first.child.exitCode !== null, { timeoutMs: 30_000, intervalMs: 50 });
  assert.is(first.child.exitCode, 0);
  assert.is(await first.unmount(), 0);
});

test.run();
