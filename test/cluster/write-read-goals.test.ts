// Goal: files of 0 B to 200 MiB, sized around the block and chunk edges, come back byte for
// byte at goals 1, 2 and 3 on three chunkservers; every chunk has as many copies as the goal,
// on distinct servers; goal 4 on three servers stores three copies.
// Method: a real cluster per goal; the files are streamed in through the client library, read
// back as a stream and compared by sha256; at goal 2 some also go through the CLI's put/get
// (local files and stdin/stdout) with `antler --json fileinfo` checking the copies.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster, type CliResult } from '../harness/cluster.ts';
import { KIB, MIB, content, contentSha256, sha256 } from '../harness/data.ts';
import { chunkCount, placementProblems, readSha256, writeContent } from '../harness/files.ts';

const SIZES_BYTES = [0, 1, 64 * KIB - 1, 64 * KIB + 1, 64 * MIB - 1, 64 * MIB + 1, 200 * MIB];
const CHUNKSERVERS = 3;

/** Writes every size into a directory of `goal`, reads each back, checks sha256 and copies. */
async function roundTrip(goal: number): Promise<void> {
  await using cluster = await startCluster({ chunkservers: CHUNKSERVERS });
  const client = await cluster.client();
  const dir = `/goal${goal}`;
  await client.mkdir(dir);
  await client.setGoal(dir, goal);
  for (const [i, sizeBytes] of SIZES_BYTES.entries()) {
    const file = `${dir}/f${i}-${sizeBytes}`;
    const seed = goal * 100 + i;
    // Even sizes go through writeFile, odd ones through open/write/close: both paths are real.
    const way = i % 2 === 0 ? 'writeFile' : 'handle';
    await writeContent(client, file, { seed, sizeBytes, way });
    assert.is((await client.stat(file)).length, sizeBytes, `${file} length`);
    assert.is((await client.stat(file)).goal, goal, `${file} inherits the goal of ${dir}`);
    const back = await readSha256(client, file);
    assert.is(back.sizeBytes, sizeBytes, `${file}: bytes read`);
    assert.is(back.sha256, contentSha256(seed, sizeBytes), `${file}: sha256`);
    const copies = Math.min(goal, CHUNKSERVERS);
    assert.equal(await placementProblems(client, file, { sizeBytes, copies }), [],
      `${file} placement`);
  }
}

test('goal 1: every size reads back with its sha256, one copy per chunk', () => roundTrip(1));

test('goal 2: every size reads back with its sha256, two copies on distinct servers', () =>
  roundTrip(2));

test('goal 3: every size reads back with its sha256, three copies on distinct servers', () =>
  roundTrip(3));

test('goal 4 on three chunkservers: three copies on distinct servers', async () => {
  await using cluster = await startCluster({ chunkservers: CHUNKSERVERS });
  const client = await cluster.client();
  await client.mkdir('/goal4');
  await client.setGoal('/goal4', 4);
  const sizeBytes = 64 * MIB + 64 * KIB + 1; // two chunks, the second with a partial block
  await writeContent(client, '/goal4/f', { seed: 4, sizeBytes });
  assert.is((await client.stat('/goal4/f')).goal, 4, 'the goal is kept as set');
  const back = await readSha256(client, '/goal4/f');
  assert.is(back.sha256, contentSha256(4, sizeBytes));
  assert.equal(await placementProblems(client, '/goal4/f', { sizeBytes, copies: 3 }), []);
});

test('CLI put and get round trip at goal 2, and fileinfo shows the copies', async () => {
  await using cluster = await startCluster({ chunkservers: CHUNKSERVERS });
  const ok = async (args: string[], input?: Buffer): Promise<CliResult> => {
    const r = await cluster.cli(args, input === undefined ? {} : { input });
    assert.is(r.code, 0, `antler ${args.join(' ')}: exit ${r.code}, stderr: ${r.stderr}`);
    return r;
  };
  await ok(['mkdir', '/cli']);
  await ok(['setgoal', '2', '/cli']);
  const local = path.join(cluster.dir, 'local');
  fs.mkdirSync(local);
  for (const [i, sizeBytes] of [0, 1, 64 * KIB + 1, 64 * MIB + 1].entries()) {
    const seed = 500 + i;
    const data = content(seed, sizeBytes);
    const remote = `/cli/f${i}`;
    // Even files go in from a local file and out to one; odd ones through stdin and stdout.
    let got: Buffer;
    if (i % 2 === 0) {
      const src = path.join(local, `in${i}`);
      const dst = path.join(local, `out${i}`);
      fs.writeFileSync(src, data);
      await ok(['put', src, remote]);
      await ok(['get', remote, dst]);
      got = fs.readFileSync(dst);
    } else {
      await ok(['put', '-', remote], data);
      got = (await ok(['get', remote, '-'])).stdoutBytes;
    }
    assert.is(got.length, sizeBytes, `${remote}: bytes back`);
    assert.is(sha256(got), contentSha256(seed, sizeBytes), `${remote}: sha256`);
    const info = JSON.parse((await ok(['--json', 'fileinfo', remote])).stdout) as CliFileInfo;
    assert.is(info.length, sizeBytes, `${remote}: fileinfo length`);
    assert.is(info.goal, 2, `${remote}: fileinfo goal`);
    assert.is(info.chunks.length, chunkCount(sizeBytes), `${remote}: fileinfo chunks`);
    for (const c of info.chunks) {
      const servers = c.locations.map((l) => l.csId);
      assert.is(servers.length, 2, `${remote} chunk ${c.index}: copies`);
      assert.is(new Set(servers).size, 2, `${remote} chunk ${c.index}: distinct servers`);
    }
  }
});

/** The part of `antler --json fileinfo` this test reads. */
interface CliFileInfo {
  length: number;
  goal: number;
  chunks: { index: number; locations: { csId: number }[] }[];
}

test.run();
