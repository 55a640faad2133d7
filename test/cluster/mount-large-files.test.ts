// Goal: large files through the mount keep every byte: 1 GiB written with dd (bs=1M,
// conv=fsync) reads back with the same sha256 as its source; fio's mixed sequential and random
// writes read back with correct crc32c everywhere; a sparse file with data past 4 GiB reads
// zeros in its holes and its data at the far offset; the mount reads requests into the buffers
// of large writes it finished with. Throughput of dd and fio is printed beside the client
// library's own (writeFile/readFile of the same data in the same run): a figure for the
// report, never a pass/fail threshold.
// Method: one real cluster (goal 2 on 2 chunkservers), one antler-mount, programs as children.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster } from '../harness/cluster.ts';
import {
  mountCounters, mustShell, requireFuse, requirePrograms, startMount,
} from '../harness/mount.ts';

const MIB = 1024 * 1024;
const DD_MIB = 1024;

function mbPerSecond(bytes: number, ms: number): string {
  return `${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s`;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

/** sha256 of a file as sha256sum prints it. */
async function sha256Of(file: string): Promise<string> {
  return (await mustShell(`sha256sum ${file}`)).split(' ')[0]!;
}

test('1 GiB by dd, fio with verify, and a sparse file past 4 GiB', async () => {
  requireFuse();
  await requirePrograms(['dd', 'sha256sum', 'fio', 'cmp']);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'antler-large-'));
  try {
    await using cluster = await startCluster({ chunkservers: 2 });
    await using mount = await startMount(cluster);
    const mnt = mount.dir;
    const source = path.join(root, 'source');
    await mustShell(`head -c ${DD_MIB}M /dev/urandom > ${source}`);
    const expected = await sha256Of(source);
    const bytes = DD_MIB * MIB;

    const write = await timed(() => mustShell(
      `dd if=${source} of=${mnt}/big bs=1M conv=fsync status=none`));
    const st = await mustShell(`stat -c %s ${mnt}/big`);
    assert.is(Number(st), bytes, 'the length the kernel reports');
    // Buffers of acknowledged 1 MiB writes were read into again (and the sha256 below holds).
    const counters = await mountCounters(mount);
    const reused = Number(/writeBuffersReused=(\d+)/.exec(counters)?.[1] ?? -1);
    assert.ok(reused > 0, `request buffers given back and reused: ${counters}`);
    await mustShell('echo 3 > /proc/sys/vm/drop_caches');
    const read = await timed(() => mustShell(`dd if=${mnt}/big of=/dev/null bs=1M status=none`));
    await mustShell('echo 3 > /proc/sys/vm/drop_caches');
    const back = await mustShell(`dd if=${mnt}/big bs=1M status=none | sha256sum`);
    assert.is(back.split(' ')[0], expected, 'dd reads back what dd wrote');

    // The library on the same cluster, same data, same run.
    const client = await cluster.client('library');
    const data = fs.readFileSync(source);
    const libWrite = await timed(() => client.writeFile('/library-copy', data));
    await mustShell('echo 3 > /proc/sys/vm/drop_caches'); // cold, as for dd
    const libRead = await timed(() => client.readFile('/library-copy'));
    assert.ok(libRead.value.equals(data), 'the library reads back what it wrote');
    // What the library wrote is the same file through the mount.
    assert.is(await sha256Of(`${mnt}/library-copy`), expected);

    const fio = await runFio(mnt);
    process.stdout.write([
      `throughput, ${DD_MIB} MiB, goal 2 on 2 chunkservers:`,
      `  mount dd write (conv=fsync) ${mbPerSecond(bytes, write.ms)}, ` +
        `dd read (cold cache) ${mbPerSecond(bytes, read.ms)}`,
      `  library writeFile ${mbPerSecond(bytes, libWrite.ms)}, ` +
        `readFile (cold cache) ${mbPerSecond(bytes, libRead.ms)}`,
      ...fio.map((j) => `  fio ${j}`), '',
    ].join('\n'));

    await checkSparse(mnt, root);
    assert.is(await mount.unmount(), 0, 'antler-mount exits 0 after SIGTERM');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

/**
 * fio jobs at once, each writing its own file then reading it back with crc32c checks:
 * sequential 1 MiB blocks, random 64 KiB blocks, random 4 KiB blocks (partial blocks for the
 * chunkservers), and random mixed reads and writes (not verified: fio cannot verify randrw).
 */
async function runFio(mnt: string): Promise<string[]> {
  await mustShell(`mkdir ${mnt}/fio`);
  const out = await mustShell(`fio --directory=${mnt}/fio --output-format=json --runtime=120 ` +
    '--ioengine=psync --fsync_on_close=1 --verify=crc32c --verify_fatal=1 --do_verify=1 ' +
    '--name=seq-1m --rw=write --bs=1M --size=128M ' +
    '--name=rand-64k --rw=randwrite --bs=64k --size=96M ' +
    '--name=rand-4k --rw=randwrite --bs=4k --size=16M ' +
    '--name=mixed-128k --rw=randrw --bs=128k --size=16M --verify=0 --do_verify=0');
  const report = JSON.parse(out.slice(out.indexOf('{'))) as {
    jobs: { jobname: string; error: number; write: FioSide; read: FioSide }[];
  };
  const lines: string[] = [];
  for (const job of report.jobs) {
    assert.is(job.error, 0, `fio job ${job.jobname} reports no error`);
    assert.ok(job.write.io_bytes > 0, `fio job ${job.jobname} wrote`);
    lines.push(`${job.jobname}: write ${(job.write.bw_bytes / 1e6).toFixed(1)} MB/s, ` +
      `read (verify) ${(job.read.bw_bytes / 1e6).toFixed(1)} MB/s`);
  }
  assert.is(report.jobs.length, 4);
  return lines;
}

interface FioSide {
  io_bytes: number;
  bw_bytes: number;
}

/** 1 MiB of data at 5000 MiB (past 4 GiB): holes read zeros, the data reads back. */
async function checkSparse(mnt: string, root: string): Promise<void> {
  const far = 5000;
  await mustShell(`head -c 1M /dev/urandom > ${root}/chunk && ` +
    `dd if=${root}/chunk of=${mnt}/sparse bs=1M seek=${far} conv=notrunc,fsync status=none`);
  assert.is(Number(await mustShell(`stat -c %s ${mnt}/sparse`)), (far + 1) * MIB);
  await mustShell('echo 3 > /proc/sys/vm/drop_caches');
  await mustShell(`cmp <(dd if=${mnt}/sparse bs=1M skip=${far} status=none) ${root}/chunk`);
  // Holes: the start, across the 4 GiB line, and just before the data.
  for (const [skip, count] of [[0, 1], [4095, 2], [far - 1, 1]] as const) {
    await mustShell(`cmp -n ${count * MIB} ` +
      `<(dd if=${mnt}/sparse bs=1M skip=${skip} count=${count} status=none) /dev/zero`);
  }
  // A write just past 4 GiB inside the hole lands there exactly.
  const at = 4 * 1024 * MIB + 12345;
  await mustShell(`printf 'past4g' | dd of=${mnt}/sparse bs=1 seek=${at} conv=notrunc status=none`);
  const back = await mustShell(`dd if=${mnt}/sparse bs=1 skip=${at} count=6 status=none`);
  assert.is(back, 'past4g');
}

test.run();
