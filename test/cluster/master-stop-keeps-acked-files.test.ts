// Goal: a master stopped with SIGTERM, or killed with SIGKILL, in the middle of a stream of
// creates and writes loses no acknowledged file: after it restarts (same data, same ports) and
// the chunkservers register again, every file whose write and close returned is there with the
// right bytes.
// Method: writer loops record a file only once its close returned; the master is stopped after
// a number of them, restarted, and the same client keeps writing; then a fresh client reads
// every acknowledged file back and compares sha256.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster } from '../harness/cluster.ts';
import { AckedWriter, ackedProblems } from '../harness/acked-writes.ts';
import { waitUntil } from '../harness/wait.ts';

/** Files acknowledged before the stop, and again after the restart (proof the writes resume). */
const ACKED_BEFORE = 150;
const ACKED_AFTER = 20;
/** Bounds the whole stream; far more than the test needs. */
const ATTEMPTS_MAX = 5_000;
/** Generous bound for the counts above to be reached; not a speed claim. */
const PROGRESS_TIMEOUT_MS = 90_000;

async function stopMidStream(signal: 'SIGTERM' | 'SIGKILL', seed: number): Promise<void> {
  await using cluster = await startCluster({ chunkservers: 3 });
  const client = await cluster.client('writer');
  await client.mkdir('/stream');
  const writer = new AckedWriter(client, { dir: '/stream', seed, attemptsMax: ATTEMPTS_MAX });
  writer.start(3);
  let how: number | string = 'not stopped';
  try {
    await waitUntil(`${ACKED_BEFORE} acknowledged files`,
      () => writer.acked.length >= ACKED_BEFORE, { timeoutMs: PROGRESS_TIMEOUT_MS });
    how = await cluster.stopMaster(signal);
    const ackedAtStop = writer.acked.length;
    await cluster.startMaster();
    await cluster.waitForChunkservers();
    await waitUntil(`${ACKED_AFTER} more acknowledged files after the restart`,
      () => writer.acked.length >= ackedAtStop + ACKED_AFTER, { timeoutMs: PROGRESS_TIMEOUT_MS });
  } finally {
    await writer.stop();
  }
  const reader = await cluster.client('reader');
  assert.equal(await ackedProblems(reader, writer.acked), [],
    `all ${writer.acked.length} acknowledged files are whole ` +
    `(${writer.failures.length} attempts failed while the master was away)`);
  const names = new Set((await reader.readdir('/stream')).map((e) => e.name));
  const missing = writer.acked.filter((f) => !names.has(f.path.slice('/stream/'.length)));
  assert.equal(missing.map((f) => f.path), [], 'every acknowledged file is listed');
  if (signal === 'SIGKILL') assert.is(how, 'SIGKILL', 'the master died of the signal');
  // Exit code 0, not the harness's SIGKILL after its stop timeout.
  else assert.is(how, 0, 'the master stopped cleanly on SIGTERM');
}

test('SIGTERM of the master mid-stream: every acknowledged file survives the restart', () =>
  stopMidStream('SIGTERM', 71));

test('SIGKILL of the master mid-stream: every acknowledged file survives the restart', () =>
  stopMidStream('SIGKILL', 61));

test.run();
