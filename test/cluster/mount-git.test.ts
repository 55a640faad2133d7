// Goal: git works on the mount: init, several commits (new files, edits, a rename, a removal,
// a branch and a merge), then `git log` shows them all and `git fsck --full` finds every object
// sound, and a clone out of the mount has the same tree. Git leans on what a file system must get
// right: lock files created with O_EXCL and renamed over, fsync, mmap'd reads, hard-to-cache
// small files. Method: one real cluster (goal 1 on 1 chunkserver), one antler-mount, git as
// child processes with a fixed identity and date.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster } from '../harness/cluster.ts';
import { mustShell, requireFuse, requirePrograms, startMount } from '../harness/mount.ts';

const GIT = 'git -c user.name=antler -c user.email=antler@example.invalid ' +
  '-c init.defaultBranch=main -c core.fsync=all -c gc.auto=0';

test('git init, commits, log and fsck on the mount', async () => {
  requireFuse();
  await requirePrograms(['git']);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'antler-git-'));
  try {
    await using cluster = await startCluster({ chunkservers: 1 });
    await using mount = await startMount(cluster);
    const repo = path.join(mount.dir, 'repo');
    const git = (args: string) => mount.must(`${GIT} ${args}`, { cwd: repo });
    await mount.must(`mkdir ${repo}`);
    await git('init -q');
    const env = 'GIT_AUTHOR_DATE="2020-01-01T00:00:00Z" GIT_COMMITTER_DATE="2020-01-01T00:00:00Z"';
    const commit = (message: string) => git(`add -A && ${env} ${GIT} commit -q -m "${message}"`);

    await mount.must('for i in $(seq 1 40); do echo "file $i" > f$i.txt; done && ' +
      'mkdir -p src/deep && seq 1 20000 > src/deep/numbers && head -c 300000 /dev/urandom > blob',
    { cwd: repo });
    await commit('first');
    await mount.must('echo changed >> f1.txt', { cwd: repo });
    await git('mv f2.txt moved.txt');
    await commit('second');
    await git('checkout -q -b side');
    await mount.must('echo side > side.txt && rm f3.txt', { cwd: repo });
    await commit('on side');
    await git('checkout -q main');
    await mount.must('echo main >> f4.txt', { cwd: repo });
    await commit('on main');
    await git(`merge -q --no-edit side`);
    await git('gc -q');

    const log = await git('log --format=%s');
    assert.ok(log.includes('first') && log.includes('second') && log.includes('on side'), log);
    assert.ok(log.includes('on main') && log.includes("Merge branch 'side'"), log);
    assert.is(log.trim().split('\n').length, 5);
    await git('fsck --full --strict');
    const status = await git('status --porcelain');
    assert.is(status, '', 'the work tree matches the last commit');

    // A clone out of the mount has the same tree, byte for byte.
    await mustShell(`${GIT} clone -q ${repo} ${root}/clone`);
    const here = await git('rev-parse HEAD^{tree}');
    const there = await mustShell(`${GIT} -C ${root}/clone rev-parse HEAD^{tree}`);
    assert.is(there, here);
    await mustShell(`diff -r --exclude=.git ${repo} ${root}/clone`);
    assert.is(await mount.unmount(), 0);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test.run();
