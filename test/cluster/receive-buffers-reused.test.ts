// Goal: buffers given back and used again never change bytes somebody still uses: the
// chunkservers' receive slabs (given back by acknowledged writes) and read buffers (given back
// once a reply is with the kernel), and the client's receive buffers (given back once a read
// copied them out). Reads that overlap, jump back, run side by side on one handle, keep views
// for long, or wait in a chunkserver's reply queue all see the bytes written.
// Method: a real cluster; two files at goal 2 written through the library, read back by
// sha256, then read in this process in patterns that drop readahead segments while other reads
// still copy from them, and in bursts of 1 MiB reads while this process does not read its
// sockets (replies queue at the chunkservers); every range is compared with the content
// written, and the process's counters show that buffers were reused.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { READ_SIZE_MAX_BYTES, slabCounters } from '@antlerfs/protocol';
import { startCluster } from '../harness/cluster.ts';
import { KIB, MIB, SeededRandom, content, contentSha256 } from '../harness/data.ts';
import { readSha256, writeContent } from '../harness/files.ts';

const FILE_BYTES = 24 * MIB + 5 * KIB;

test('reused receive buffers never change bytes still being read', async () => {
  await using cluster = await startCluster({ chunkservers: 3 });
  const client = await cluster.client();
  await client.mkdir('/r');
  await client.setGoal('/r', 2);
  const files = [{ path: '/r/a', seed: 71 }, { path: '/r/b', seed: 72 }];
  for (const f of files) {
    await writeContent(client, f.path, { seed: f.seed, sizeBytes: FILE_BYTES });
  }
  for (const f of files) {
    const back = await readSha256(client, f.path);
    assert.is(back.sha256, contentSha256(f.seed, FILE_BYTES), `${f.path} sha256`);
  }
  const expected = files.map((f) => content(f.seed, FILE_BYTES));
  const reusedBefore = slabCounters.reused;
  const rnd = new SeededRandom(5);
  let checked = 0;
  const check = (k: number, data: Buffer, position: number, what: string): void => {
    const want = expected[k]!.subarray(position, position + data.length);
    assert.ok(data.equals(want), `${files[k]!.path} ${what} at ${position} (${data.length} B)`);
    checked++;
  };
  const handles = await Promise.all(files.map((f) => client.open(f.path, 'r')));
  try {
    // Views handed out whole (readRequest) are kept to the end and compared last.
    const kept: { k: number; data: Buffer; position: number }[] = [];
    for (let round = 0; round < 6; round++) {
      const work: Promise<void>[] = [];
      for (const [k, h] of handles.entries()) {
        // Sequential 128 KiB reads, several in flight: readahead segments are dropped behind
        // them while later reads still copy out of the segments they share.
        const start = rnd.below(FILE_BYTES - 8 * MIB);
        for (let i = 0; i < 48; i++) {
          const position = start + i * 128 * KIB;
          const buf = Buffer.alloc(128 * KIB);
          work.push(h.read(buf, 0, buf.length, position).then((n) => {
            check(k, buf.subarray(0, n), position, 'sequential read');
          }));
        }
        // A jump back clears the readahead while those reads run.
        const back = rnd.below(FILE_BYTES / 2);
        const buf = Buffer.alloc(300 * KIB);
        work.push(h.read(buf, 0, buf.length, back).then((n) => {
          check(k, buf.subarray(0, n), back, 'read after a jump');
        }));
        const position = rnd.below(Math.floor(FILE_BYTES / READ_SIZE_MAX_BYTES)) *
          READ_SIZE_MAX_BYTES;
        work.push(h.readRequest(position, READ_SIZE_MAX_BYTES).then((data) => {
          kept.push({ k, data, position });
        }));
      }
      await Promise.all(work);
    }
    for (const { k, data, position } of kept) check(k, data, position, 'view kept');
    // Replies pile up at the chunkservers while this process does not read its sockets: those
    // queued keep their buffers while later reads there take others.
    for (let round = 0; round < 3; round++) {
      const work: Promise<void>[] = [];
      for (const [k, h] of handles.entries()) {
        for (let i = 0; i < 24; i++) {
          const position = rnd.below(Math.floor(FILE_BYTES / READ_SIZE_MAX_BYTES)) *
            READ_SIZE_MAX_BYTES;
          work.push(h.readRequest(position, READ_SIZE_MAX_BYTES).then((data) => {
            check(k, data, position, 'read while replies waited');
          }));
        }
      }
      await new Promise((r) => setTimeout(r, 5)); // the requests leave
      const until = performance.now() + 300;
      while (performance.now() < until) { /* not reading the sockets */ }
      await Promise.all(work);
    }
  } finally {
    await Promise.all(handles.map((h) => h.close()));
  }
  assert.ok(checked > 500, `${checked} ranges compared`);
  assert.ok(slabCounters.reused > reusedBefore, 'the client read into buffers given back');
});

test.run();
