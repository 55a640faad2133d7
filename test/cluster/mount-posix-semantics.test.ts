// Goal: the POSIX calls programs rely on behave as on a local file system, each checked with a
// real program on the mount: names (symlinks, hard links, rename over a file, rename of a
// directory, renameat2 NOREPLACE and EXCHANGE (of files, and of a folder and a file), rmdir of
// a non-empty directory), attributes (chmod, chown, utimes, truncate by path and by
// descriptor), opens (O_APPEND, O_EXCL, O_TRUNC), a file unlinked while open, directory
// listings longer than one master page, statfs, and what antlerfs does not keep (FIFOs,
// fallocate).
// Method: one real cluster (goal 1 on 1 chunkserver) and one antler-mount; bash, coreutils and
// perl (for truncate(2) by path and the renameat2 system call) as child processes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster } from '../harness/cluster.ts';
import { requireFuse, requirePrograms, startMount, type Mount } from '../harness/mount.ts';

/** renameat2's system call number: it has no wrapper in perl or coreutils 9.1. */
const RENAMEAT2: Record<string, number> = { x64: 316, arm64: 276, ia32: 353 };

/** renameat2(AT_FDCWD, from, AT_FDCWD, to, flags); returns "ok" or the errno text. */
async function renameat2(m: Mount, from: string, to: string, flags: number): Promise<string> {
  const nr = RENAMEAT2[process.arch];
  assert.ok(nr !== undefined, `renameat2 number known for ${process.arch}`);
  // perl's syscall() wants variables for string arguments.
  return m.must(`perl -e 'my ($f, $t) = ("${from}", "${to}"); ` +
    `print syscall(${nr}, -100, $f, -100, $t, ${flags}) == 0 ? "ok" : "$!"'`);
}

test('names, attributes, opens and listings behave as POSIX says', async () => {
  requireFuse();
  await requirePrograms(['perl', 'stat', 'truncate', 'mkfifo']);
  await using cluster = await startCluster({ chunkservers: 1 });
  await using m = await startMount(cluster);

  // Symlinks and hard links.
  await m.must('mkdir -p a/b && echo data > a/b/f && ln -s b/f a/sym && ln a/b/f a/hard');
  assert.is(await m.must('readlink a/sym'), 'b/f\n');
  assert.is(await m.must('cat a/sym'), 'data\n');
  assert.is(await m.must("stat -c '%h %i' a/b/f"), await m.must("stat -c '%h %i' a/hard"));
  assert.is(await m.must("stat -c '%h' a/b/f"), '2\n');
  await m.must('rm a/hard');
  assert.is(await m.must("stat -c '%h' a/b/f"), '1\n');

  // Rename over a file, rename of a directory, rmdir of a non-empty one.
  await m.must('echo new > a/n && echo old > a/o && mv a/n a/o && mv a/b a/c');
  assert.is(await m.must('cat a/o a/c/f'), 'new\ndata\n');
  assert.is(await m.must('test ! -e a/n && test ! -e a/b && echo gone'), 'gone\n');
  const rmdir = await m.sh('rmdir a/c');
  assert.match(rmdir.stderr, /Directory not empty/);

  // renameat2: NOREPLACE refuses an existing target; EXCHANGE swaps two names, a folder and a
  // file across folders too; both at once are refused.
  await m.must('echo 1 > x && echo 2 > y');
  assert.match(await renameat2(m, 'x', 'y', 1), /File exists/);
  assert.is(await renameat2(m, 'x', 'z', 1), 'ok');
  assert.is(await renameat2(m, 'z', 'y', 2), 'ok');
  assert.is(await m.must('cat z y'), '2\n1\n');
  assert.match(await renameat2(m, 'z', 'y', 3), /Invalid argument/);
  assert.match(await renameat2(m, 'z', 'nothing', 2), /No such file/);
  await m.must('mkdir -p ex/inner && echo in > ex/inner/f && echo out > ex-file');
  assert.is(await renameat2(m, 'ex/inner', 'ex-file', 2), 'ok');
  assert.is(await m.must('cat ex-file/f ex/inner'), 'in\nout\n');
  assert.is(await m.must("stat -c '%h' ex"), '2\n', 'the folder moved out: ex has no subfolder');

  // chown, chmod, utimes (chown clears set-id bits, so it comes first).
  await m.must('chmod 4755 y && chown 1234:5678 y');
  assert.is(await m.must("stat -c '%a' y"), '755\n', 'chown cleared the set-user-id bit');
  await m.must("chmod 4751 y && touch -m -d '2001-02-03 04:05:06.789' y");
  assert.is(await m.must("stat -c '%a %u %g %y' y"),
    '4751 1234 5678 2001-02-03 04:05:06.789000000 +0000\n');
  await m.must("touch -a -d '1999-12-31 23:59:59' y");
  assert.is(await m.must("stat -c '%x' y"), '1999-12-31 23:59:59.000000000 +0000\n');

  // Truncate by path (truncate(2), no descriptor) and by descriptor (ftruncate), both ways.
  await m.must('printf 0123456789 > t && perl -e \'truncate("t", 4) or die $!\'');
  assert.is(await m.must('cat t'), '0123');
  await m.must('truncate -s 8 t');
  assert.is(await m.must('od -An -c t | tr -s " "'), ' 0 1 2 3 \\0 \\0 \\0 \\0\n');
  await m.must('exec 3<>t && printf XY >&3 && truncate -s 3 /proc/self/fd/3 && exec 3>&-');
  assert.is(await m.must('cat t'), 'XY2');

  // O_APPEND, O_EXCL (noclobber), O_TRUNC.
  await m.must('printf a > ap && printf b >> ap && printf c >> ap');
  assert.is(await m.must('cat ap'), 'abc');
  const excl = await m.sh('set -o noclobber; echo again > ap');
  assert.is.not(excl.code, 0, 'O_EXCL create of an existing file fails');
  assert.match(excl.stderr, /cannot overwrite existing file/);
  await m.must('echo short > ap');
  assert.is(await m.must('cat ap'), 'short\n');
  // O_TRUNC while another descriptor has written and not yet closed: its bytes go too (seen
  // by another client: this kernel would show its own idea of the size).
  await m.must(`perl -e 'open(my $a, ">", "pending") or die; syswrite($a, "abc"); ` +
    `open(my $b, ">", "pending") or die; close($b); close($a) or die'`);
  const other = await cluster.client('other');
  assert.is((await other.stat('/pending')).length, 0);

  // A write through one descriptor, not yet closed, is read through another opened after it
  // (O_DIRECT: the read reaches the mount, not the kernel's cache), and through one opened
  // before it.
  await m.must('head -c 100000 /dev/zero > shared');
  const seen = await m.must(`perl -e 'use Fcntl; ` +
    `sysopen(my $early, "shared", O_RDONLY | O_DIRECT) or die; ` +
    `open(my $w, "+<", "shared") or die; syswrite($w, "NEWDATA") == 7 or die; ` +
    `sysopen(my $late, "shared", O_RDONLY | O_DIRECT) or die; ` +
    `for my $fh ($late, $early) { sysread($fh, my $b, 16) == 16 or die; ` +
    `print substr($b, 0, 7), "\n"; } ` +
    `close($w) or die'`);
  assert.is(seen, 'NEWDATA\nNEWDATA\n', 'both reads see the unclosed write');

  // A file unlinked while open stays readable until closed, then goes for good.
  await m.must('head -c 200000 /dev/urandom > held && sha256sum held > held.sum');
  const held = await m.must('exec 3<held && rm held && test ! -e held && ' +
    'sha256sum <&3 | cut -d" " -f1 && exec 3<&-');
  assert.is(held.trim(), (await m.must('cut -d" " -f1 held.sum')).trim());
  assert.is(await m.must('ls -A | grep -c antler-unlinked || true'), '0\n');

  // A listing longer than one page of the master (1024 entries), with stat of every entry.
  await m.must('mkdir many && cd many && for i in $(seq 1 2500); do : > "entry $i"; done');
  assert.is(await m.must('ls many | wc -l'), '2500\n');
  assert.is(await m.must('ls -l many | grep -c "^-"'), '2500\n');
  assert.is(await m.must('find many -type f | sort -u | wc -l'), '2500\n');

  // statfs: the cluster's own totals. Free space is read by the library before and after, since
  // anything else writing to the same disk moves it between the calls.
  const s = await other.statfs();
  const [blocks, size, avail] = (await m.must("stat -f -c '%b %S %a' .")).trim().split(' ')
    .map(Number);
  const after = await other.statfs();
  assert.is(blocks! * size!, Math.floor(s.totalBytes / size!) * size!);
  const low = Math.min(s.availBytes, after.availBytes) - 2 * size!;
  const high = Math.max(s.availBytes, after.availBytes);
  assert.ok(avail! * size! > low && avail! * size! <= high,
    `mount reports ${avail! * size!} B free, library ${s.availBytes}..${after.availBytes}`);

  // What antlerfs does not keep: special files, preallocation.
  assert.match((await m.sh('mkfifo fifo')).stderr, /Operation not permitted/);
  assert.match((await m.sh('fallocate -l 1M ap')).stderr, /not supported/);
  assert.is(await m.unmount(), 0);
});

test.run();
