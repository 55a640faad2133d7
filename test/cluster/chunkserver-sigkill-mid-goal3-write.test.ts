// Goal: a chunkserver SIGKILLed in the middle of a goal-3 write does not corrupt the file: the
// write goes on over a new chain (or fails with a clear error), and what the client was told is
// written reads back exactly. Method: 4 real chunkservers; a 96 MiB goal-3 write on an open
// handle; after the first pieces, one server of chunk 0's chain is killed; then sha256 of the
// file against the bytes written.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FsError } from '@antlerfs/protocol';
import { startCluster } from '../harness/cluster.ts';
import { content, sha256 } from '../harness/data.ts';

const PIECE_BYTES = 1024 * 1024;
const PIECES = 96;
const KILL_AFTER_PIECES = 8;

test('SIGKILL of a chain member mid goal-3 write: the file reads back exactly', async () => {
  await using cluster = await startCluster({ chunkservers: 4 });
  const client = await cluster.client();
  const pieces = Array.from({ length: PIECES }, (_, i) => content(100 + i, PIECE_BYTES));
  const handle = await client.open('/big', 'w', { goal: 3 });
  let written = 0;
  let failure: unknown = null;
  try {
    for (; written < PIECES; written++) {
      if (written === KILL_AFTER_PIECES) {
        await handle.fsync();
        const chain = (await client.fileInfo('/big')).chunks[0]!.locations.map((l) => l.csId);
        assert.is(chain.length, 3, `chunk 0 has 3 copies: ${chain.join(',')}`);
        const victim = cluster.chunkservers.findIndex((cs) => Number(cs.ready.csId) === chain[1]);
        assert.ok(victim >= 0, 'the chain member is one of ours');
        assert.is(await cluster.stopChunkserver(victim, 'SIGKILL'), 'SIGKILL');
      }
      await handle.write(pieces[written]!, written * PIECE_BYTES);
    }
    await handle.close();
  } catch (err) {
    failure = err;
  }
  if (failure !== null) {
    // A failure must be a clear status, and what was fsynced before the kill must be intact.
    assert.instance(failure, FsError, `a clear error, not ${String(failure)}`);
    process.stdout.write(`the write failed after the kill: ${(failure as Error).message}\n`);
    const head = await client.readFile('/big');
    assert.ok(head.length >= KILL_AFTER_PIECES * PIECE_BYTES, 'the fsynced part is there');
    assert.is(sha256(head.subarray(0, KILL_AFTER_PIECES * PIECE_BYTES)),
      sha256(Buffer.concat(pieces.slice(0, KILL_AFTER_PIECES))));
    return;
  }
  process.stdout.write('the write completed over a new chain after the kill\n');
  const back = await client.readFile('/big');
  assert.is(back.length, PIECES * PIECE_BYTES);
  assert.is(sha256(back), sha256(Buffer.concat(pieces)), 'every byte as written');
  for (const chunk of (await client.fileInfo('/big')).chunks) {
    const ids = chunk.locations.map((l) => l.csId);
    assert.is(new Set(ids).size, ids.length, `chunk ${chunk.index}: distinct servers`);
  }
});

test.run();
