// Goal: deletions go out at DELETIONS_PER_SECOND, failures are retried later, copies on lost
// servers are dropped, and a freed chunk leaves the registry once its copies are gone.
// Method: an injected clock and sender; ticks are driven by hand.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Logger, Status, setLogLevel, type StatusCode } from '@antlerfs/protocol';
import { ChunkRegistry } from '../src/chunk-registry.ts';
import { DeletionQueue } from '../src/deletion-queue.ts';

setLogLevel('warn');

type Answer = (csId: number, chunkId: number, attempt: number) => StatusCode;

function setup(rate: number, status: Answer) {
  let now = 1_000_000;
  const sent: string[] = [];
  const attempts = new Map<string, number>();
  const online = new Set([1, 2, 3]);
  const registry = new ChunkRegistry();
  const queue = new DeletionQueue({
    registry, deletionsPerSecond: rate, log: new Logger('test'), nowMs: () => now,
    isOnline: (csId) => online.has(csId),
    send: async (csId, body) => {
      const key = `${csId}:${body.chunkId}`;
      const n = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, n);
      sent.push(`${key}:${body.version}`);
      return status(csId, body.chunkId, n);
    },
  });
  const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
  const advance = async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += 100) {
      now += 100;
      queue.tick();
      await settle();
    }
  };
  return { queue, sent, online, registry, advance };
}

test('the rate bounds deletions per second', async () => {
  const { queue, sent, advance } = setup(25, () => Status.OK);
  for (let i = 1; i <= 100; i++) queue.enqueueStray(i, 0, 1);
  await advance(1000);
  assert.is(sent.length, 25);
  await advance(3000);
  assert.is(sent.length, 100);
  assert.is(queue.length, 0);
  assert.is(queue.counters.deleted, 100);
});

test('a failed deletion is retried later; a lost server drops its jobs', async () => {
  const { queue, sent, online, advance } = setup(1000, (_cs, chunkId, attempt) =>
    chunkId === 7 && attempt < 3 ? Status.EIO : Status.OK);
  queue.enqueueStray(7, 3, 1);
  queue.enqueueStray(8, 0, 2);
  await advance(100);
  assert.equal(sent, ['1:7:3', '2:8:0']);
  await advance(200);
  assert.is(sent.length, 2, 'no retry before the backoff');
  await advance(10_000);
  assert.equal(sent.filter((s) => s.startsWith('1:7')).length, 3, 'retried until it worked');
  assert.is(queue.counters.retried, 2);
  online.delete(3);
  queue.enqueueStray(9, 0, 3);
  await advance(200);
  assert.is(queue.counters.droppedLost, 1);
  assert.is(queue.length, 0);
});

test('a freed chunk leaves the registry when its last copy is deleted', async () => {
  const answer: Answer = (csId) => (csId === 2 ? Status.NO_SUCH_CHUNK : Status.OK);
  const { queue, registry, advance } = setup(1000, answer);
  registry.add(5, 1);
  registry.addCopy(5, 1, true);
  registry.addCopy(5, 2, false);
  const freed = registry.unref(5);
  assert.ok(freed !== null && freed.deleting);
  assert.is(registry.liveCount, 0);
  assert.is(registry.deletingTotal, 1);
  queue.enqueueChunk(freed!);
  await advance(200);
  assert.is(registry.get(5), undefined, 'gone once every copy is');
  assert.is(registry.deletingTotal, 0);
});

test.run();
