// Goal: ordinary tools copy a real source tree into and out of the mount, byte for byte and
// with its modes, times, symlinks, hard links and empty files: cp -a then diff -r; tar out of
// the mount and into it; rsync -a twice, the second run transferring nothing; files show a
// preferred I/O size (st_blksize) of one 1 MiB request.
// Method: one real cluster (goal 2 on 2 chunkservers) and one antler-mount; every tool runs
// as a child process; the source is this repository's packages/ folder without node_modules,
// plus a few entries of every kind.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { READ_SIZE_MAX_BYTES } from '@antlerfs/protocol';
import { REPO_ROOT, startCluster } from '../harness/cluster.ts';
import { mustShell, requireFuse, requirePrograms, startMount } from '../harness/mount.ts';

/** The source tree: packages/ without node_modules, plus every kind of entry. */
async function makeSource(root: string): Promise<string> {
  const src = path.join(root, 'src');
  fs.mkdirSync(src);
  await mustShell(`tar -C ${REPO_ROOT} --exclude=node_modules -cf - packages | ` +
    `tar -C ${src} -xf -`);
  await mustShell([
    `cd ${src}/packages`, 'mkdir -p extra/empty-dir', ': > extra/empty-file',
    'head -c 5000000 /dev/urandom > extra/random.bin', 'ln -s ../client/package.json extra/link',
    'ln extra/random.bin extra/hard-link', 'chmod 0751 extra/empty-dir',
    'chmod 0600 extra/random.bin', "touch -h -d '2001-02-03 04:05:06' extra/link",
    "touch -d '2001-02-03 04:05:06' extra/empty-file",
  ].join(' && '));
  return src;
}

/** One line per entry: path, type, mode, size (not of directories), mtime (s), link target. */
async function listing(dir: string): Promise<string> {
  const find = `find . -printf '%p %y %m %s %TY-%Tm-%Td_%TH:%TM:%.2TS %l\\n'`;
  return mustShell(`cd ${dir} && ${find} | awk '$2 == "d" { $4 = "-" } 1' | sort`);
}

test('cp -a, tar and rsync copy a source tree into and out of the mount', async () => {
  requireFuse();
  await requirePrograms(['cp', 'diff', 'tar', 'rsync', 'find']);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'antler-copy-'));
  try {
    await using cluster = await startCluster({ chunkservers: 2 });
    await using mount = await startMount(cluster);
    const src = await makeSource(root);
    const mnt = mount.dir;

    await mount.must(`cp -a ${src}/packages ${mnt}/cp`);
    await mustShell(`diff -r ${src}/packages ${mnt}/cp`);
    assert.is(await listing(`${mnt}/cp`), await listing(`${src}/packages`), 'cp -a keeps metadata');
    const links = await mustShell(
      `stat -c '%h %i' ${mnt}/cp/extra/random.bin ${mnt}/cp/extra/hard-link`);
    const [a, b] = links.trim().split('\n');
    assert.is(a, b, 'the hard link is one inode with two names');
    assert.ok(a!.startsWith('2 '), 'link count 2');
    // Tools size their buffers by st_blksize: the largest request the mount takes, 1 MiB.
    const ioSize = await mustShell(`stat -c %o ${mnt}/cp/extra/random.bin`);
    assert.is(ioSize.trim(), String(READ_SIZE_MAX_BYTES), 'preferred I/O size');

    // tar out of the mount, extracted elsewhere, is the source again.
    await mustShell(`tar -C ${mnt}/cp -cf ${root}/out.tar . && mkdir ${root}/out && ` +
      `tar -C ${root}/out -xpf ${root}/out.tar`);
    await mustShell(`diff -r ${src}/packages ${root}/out`);
    assert.is(await listing(`${root}/out`), await listing(`${src}/packages`), 'tar from the mount');
    // tar into the mount.
    await mustShell(`tar -C ${src}/packages -cf ${root}/in.tar . && mkdir ${mnt}/tar && ` +
      `tar -C ${mnt}/tar -xpf ${root}/in.tar`);
    await mustShell(`diff -r ${src}/packages ${mnt}/tar`);
    assert.is(await listing(`${mnt}/tar`), await listing(`${src}/packages`), 'tar into the mount');

    // rsync twice: the second run finds nothing to transfer.
    await mustShell(`rsync -a ${src}/packages/ ${mnt}/rsync/`);
    await mustShell(`diff -r ${src}/packages ${mnt}/rsync`);
    const second = await mustShell(`rsync -a --stats ${src}/packages/ ${mnt}/rsync/`);
    assert.match(second, /Number of regular files transferred: 0\b/, second);
    assert.is(await listing(`${mnt}/rsync`), await listing(`${src}/packages`), 'rsync -a');

    // And everything is still there after the copies were listed and compared.
    const count = await mustShell(`find ${mnt} -type f | wc -l`);
    const perCopy = Number(await mustShell(`find ${src}/packages -type f | wc -l`));
    assert.is(Number(count), 3 * perCopy);
    assert.is(await mount.unmount(), 0, 'antler-mount exits 0 after SIGTERM');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test.run();
