// Goal: the mount serves the same file system whichever way it reads /dev/fuse: on the event
// loop (the native addon's watch, the default), in reader threads (-o poll=no), and in reader
// threads because the addon is not loaded (ANTLER_NO_NATIVE=1). In each: a file copied in with
// 1 MiB and 4 KiB writes reads back with its source's sha256, four readers at once included;
// names are created, renamed, listed and removed; the mount unmounts and exits 0.
// Method: one real cluster, three antler-mount processes in turn; every program on a mount is
// a child process; the mode each one chose is read from its ready line.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster } from '../harness/cluster.ts';
import { mustShell, requireFuse, requirePrograms, startMount } from '../harness/mount.ts';

const MODES: { name: string; options?: string; env?: Record<string, string>; reads: string }[] = [
  { name: 'event loop', reads: 'event-loop' },
  { name: 'threads asked for', options: 'poll=no', reads: 'threads' },
  { name: 'threads without the addon', env: { ANTLER_NO_NATIVE: '1' }, reads: 'threads' },
];
const NAMES = 200;

test('every way of reading the device serves the same bytes and names', async () => {
  requireFuse();
  await requirePrograms(['dd', 'sha256sum']);
  const local = fs.mkdtempSync(path.join(os.tmpdir(), 'antler-modes-'));
  try {
    const source = path.join(local, 'source.bin');
    await mustShell(`head -c 25165831 /dev/urandom > ${source}`); // 24 MiB + 7 bytes
    const expected = (await mustShell(`sha256sum ${source}`)).split(' ')[0]!;
    await using cluster = await startCluster({ chunkservers: 2 });
    for (const [i, mode] of MODES.entries()) {
      const m = await startMount(cluster, {
        ...(mode.options === undefined ? {} : { options: mode.options }),
        ...(mode.env === undefined ? {} : { env: mode.env }),
      });
      try {
        assert.is(m.ready['deviceReads'], mode.reads, mode.name);
        const dir = `m${i}`;
        await m.must(`mkdir ${dir} && dd if=${source} of=${dir}/big bs=1M status=none && ` +
          `dd if=${source} of=${dir}/small-writes bs=4k status=none`);
        for (const file of ['big', 'small-writes']) {
          const back = (await m.must(`sha256sum ${dir}/${file}`)).split(' ')[0];
          assert.is(back, expected, `${mode.name}: ${file}`);
        }
        const together = await m.must(`for r in 1 2 3 4; do sha256sum ${dir}/big & done; wait`);
        const sums = together.trim().split('\n').map((line) => line.split(' ')[0]);
        assert.equal(sums, [expected, expected, expected, expected], `${mode.name}: 4 readers`);

        await m.must(`cd ${dir} && for n in $(seq 1 ${NAMES}); do : > f$n; done && ` +
          `for n in $(seq 1 ${NAMES}); do mv f$n r$n; done`);
        assert.is((await m.must(`ls ${dir} | grep -c '^r'`)).trim(), String(NAMES), mode.name);
        assert.is((await m.sh(`ls ${dir} | grep -c '^f'`)).stdout.trim(), '0', mode.name);
        await m.must(`rm ${dir}/r*`);
        assert.is((await m.must(`ls ${dir}`)).trim(), 'big\nsmall-writes', mode.name);
      } finally {
        assert.is(await m.unmount(), 0, `${mode.name}: antler-mount exits 0`);
      }
    }
  } finally {
    fs.rmSync(local, { recursive: true, force: true });
  }
});

test.run();
