// Goal: a master SIGKILLed and restarted in the middle of a stream of creates, writes and
// unlinks is invisible to the client: no call fails, and no change is applied twice.
// Method: writer loops create files exclusively (a create applied twice would answer EEXIST),
// write them and close them, and unlink every third one they made (an unlink applied twice would
// answer ENOENT); one more handle keeps appending to a log file across the kills, so its chunk
// write has to take its lease again on the restarted master. The master is killed twice with
// SIGKILL and started again on its data and ports. Then the directory holds exactly the files
// the loops kept, each with its bytes, and the log file holds every appended piece in order.
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Client } from '@antlerfs/client';
import { startCluster } from '../harness/cluster.ts';
import { waitUntil } from '../harness/wait.ts';

const DIR = '/stream';
const WRITERS = 3;
/** Operations between kills (and after the last one), proof the stream goes on. */
const OPS_PER_PHASE = 60;
const KILLS = 2;
/** Bounds each loop; far more than the test needs. */
const OPS_MAX = 5_000;
/** Generous bound for the counts above to be reached; not a speed claim. */
const PROGRESS_TIMEOUT_MS = 120_000;
const FILE_SIZES_BYTES = [0, 1, 4096, 65_536, 65_537, 300_000, 1_048_576 + 17];
const LOG_PIECE_BYTES = 48 * 1024 + 5;
/** The log handle flushes (waits for every copy) after this many pieces. */
const LOG_PIECES_PER_FLUSH = 8;
/** Pause between log pieces, so the log grows at a modest pace while the files stream. */
const LOG_PAUSE_MS = 10;
/** Bounds the log (and so the memory the check needs). */
const LOG_PIECES_MAX = 2_000;

/** Bytes of a file: its name over and over, so a mix-up between files shows. */
function contentOf(name: string, sizeBytes: number): Buffer {
  const out = Buffer.alloc(sizeBytes);
  if (sizeBytes > 0) out.fill(`${name};`);
  return out;
}

class Stream {
  /** Files that should exist now: name -> size. */
  readonly expected = new Map<string, number>();
  readonly failures: string[] = [];
  /** Pieces appended to the log file (piece j is contentOf(`log-${j}`, LOG_PIECE_BYTES)). */
  logPieces = 0;
  ops = 0;
  private stopping = false;
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly client: Client) {}

  start(): void {
    for (let k = 0; k < WRITERS; k++) this.loops.push(this.writer(k));
    this.loops.push(this.appender());
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  private async writer(k: number): Promise<void> {
    for (let i = 0; i < OPS_MAX && !this.stopping; i++) {
      const name = `w${k}-${i}`;
      const size = FILE_SIZES_BYTES[(i * 5 + k) % FILE_SIZES_BYTES.length]!;
      try {
        const h = await this.client.open(`${DIR}/${name}`, 'wx');
        await h.write(contentOf(name, size), 0);
        await h.close();
        this.expected.set(name, size);
        this.ops++;
        if (i % 3 !== 2) continue;
        const victim = `w${k}-${i - 2}`;
        await this.client.unlink(`${DIR}/${victim}`);
        this.expected.delete(victim);
        this.ops++;
      } catch (err) {
        this.failures.push(`${name}: ${(err as Error).message}`);
        return; // the test fails; the other loops show whether they got through
      }
    }
  }

  private async appender(): Promise<void> {
    try {
      const h = await this.client.open(`${DIR}/log`, 'w');
      for (let j = 0; j < LOG_PIECES_MAX && !this.stopping; j++) {
        await h.write(contentOf(`log-${j}`, LOG_PIECE_BYTES));
        this.logPieces++;
        if (j % LOG_PIECES_PER_FLUSH === LOG_PIECES_PER_FLUSH - 1) await h.flush();
        await sleep(LOG_PAUSE_MS);
      }
      await h.close();
    } catch (err) {
      this.failures.push(`log: ${(err as Error).message}`);
    }
  }
}

test('SIGKILL of the master mid-stream: no call fails, no change is applied twice', async () => {
  await using cluster = await startCluster({ chunkservers: 2 });
  const client = await cluster.client('stream');
  await client.mkdir(DIR);
  const stream = new Stream(client);
  stream.start();
  const kills: (number | string)[] = [];
  try {
    for (let kill = 0; kill <= KILLS; kill++) {
      const from = stream.ops;
      await waitUntil(`${OPS_PER_PHASE} more operations (phase ${kill})`,
        () => stream.ops >= from + OPS_PER_PHASE || stream.failures.length > 0,
        { timeoutMs: PROGRESS_TIMEOUT_MS });
      if (kill === KILLS || stream.failures.length > 0) break;
      kills.push(await cluster.stopMaster('SIGKILL'));
      await cluster.startMaster();
    }
  } finally {
    await stream.stop();
  }
  assert.equal(stream.failures, [], 'no call failed');
  assert.equal(kills, Array(KILLS).fill('SIGKILL'), 'the master died of the signal each time');
  await cluster.waitForChunkservers();
  const reader = await cluster.client('reader');
  const listed = (await reader.readdir(DIR)).map((e) => e.name).filter((n) => n !== 'log');
  assert.equal(listed.sort(), [...stream.expected.keys()].sort(),
    'exactly the files the loops kept, after ' + `${stream.ops} operations`);
  const wrong: string[] = [];
  for (const [name, size] of stream.expected) {
    const back = await reader.readFile(`${DIR}/${name}`);
    if (!back.equals(contentOf(name, size))) wrong.push(`${name}: ${back.length} of ${size} bytes`);
  }
  assert.equal(wrong, [], 'every kept file has its bytes');
  const log = await reader.readFile(`${DIR}/log`);
  assert.is(log.length, stream.logPieces * LOG_PIECE_BYTES, 'log length');
  const badPieces: number[] = [];
  for (let j = 0; j < stream.logPieces; j++) {
    const at = j * LOG_PIECE_BYTES;
    const piece = log.subarray(at, at + LOG_PIECE_BYTES);
    if (!piece.equals(contentOf(`log-${j}`, LOG_PIECE_BYTES))) badPieces.push(j);
  }
  assert.equal(badPieces, [], 'every log piece in order');
});

test.run();
