// Goal: requests run concurrently (a slow one holds up nothing), each gets exactly one reply
// (none for FORGET), errors become errno values, unknown opcodes get ENOSYS; INTERRUPT answers a
// read-only request EINTR at once and drops its late result, leaves a changing one alone, works
// when it overtakes its request, and gets EAGAIN when the request is not found; small write
// data is copied out of the read buffer before it is reused, large write data keeps it.
import os from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AssertionError, FsError, Logger } from '@antlerfs/protocol';
import {
  FORGET_IN, INTERRUPT_IN, MKDIR_IN, Opcode, READ_IN, WRITE_IN,
} from '../src/fuse/kernel-abi.ts';
import type { Handler, MountContext, Reply } from '../src/fuse/mount-context.ts';
import { RequestDispatcher, WRITE_KEEP_MIN_BYTES } from '../src/fuse/request-dispatcher.ts';
import type { FuseRequest } from '../src/fuse/request.ts';
import { buildRequest, type RequestSpec } from './fuse-fixtures.ts';

const E = os.constants.errno;

/** Expected failures log errors; the test checks them through the replies instead. */
class QuietLogger extends Logger {
  override log(): void {}
}

interface Sent {
  unique: number;
  errno: number;
  body: string;
}

function setup(handlers: [number, Handler][], opts: { undeliverable?: number[] } = {}) {
  const sent: Sent[] = [];
  const bugs: Error[] = [];
  const d = new RequestDispatcher({
    replier: {
      reply(unique, errno, parts) {
        sent.push({ unique, errno, body: Buffer.concat(parts).toString() });
        return !(opts.undeliverable ?? []).includes(unique);
      },
    },
    handlers: new Map(handlers), ctx: {} as MountContext, log: new QuietLogger('test'),
    debug: false, onBug: (err) => bugs.push(err),
  });
  const send = (spec: RequestSpec): void => {
    const buf = buildRequest(spec, 16);
    d.onRequest(buf, buf.length - 16);
    buf.fill(0x55); // the read buffer is reused at once
  };
  return { d, sent, bugs, send };
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => { resolve = r; });
  return { promise, resolve };
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const reply = (text: string, hooks: Partial<Reply> = {}): Reply => ({
  parts: [Buffer.from(text)], ...hooks,
});

test('concurrent requests, one reply each, errors as errno', async () => {
  const slow = deferred<Reply>();
  const { d, sent, bugs, send } = setup([
    [Opcode.READLINK, async () => slow.promise],
    [Opcode.STATFS, async () => reply('fast')],
    [Opcode.UNLINK, async () => { throw new FsError('ENOTEMPTY', 'x'); }],
    [Opcode.RMDIR, async () => { throw new TypeError('oops'); }],
    [Opcode.LINK, async () => { throw new AssertionError('broken'); }],
    [Opcode.FORGET, async () => null],
  ]);
  send({ opcode: Opcode.READLINK, unique: 2 });
  send({ opcode: Opcode.STATFS, unique: 4 });
  send({ opcode: Opcode.UNLINK, unique: 6, names: ['a'] });
  send({ opcode: Opcode.RMDIR, unique: 8, names: ['a'] });
  send({ opcode: Opcode.FORGET, unique: 10, struct: FORGET_IN, arg: { nlookup: 1 } });
  send({ opcode: Opcode.FALLOCATE, unique: 12 });
  send({ opcode: Opcode.LINK, unique: 14, names: ['a'], data: Buffer.alloc(8) });
  await tick();
  assert.equal(sent.map((s) => [s.unique, s.errno]).sort((a, b) => a[0]! - b[0]!),
    [[4, 0], [6, E.ENOTEMPTY], [8, E.EIO], [12, E.ENOSYS], [14, E.EIO]]);
  assert.is(sent.find((s) => s.unique === 4)!.body, 'fast');
  assert.is(d.inflightCount, 1, 'the slow one is still running');
  assert.is(bugs.length, 1, 'a failed assertion is reported as a bug');
  const idle = d.idle();
  slow.resolve(reply('slow'));
  await idle;
  assert.equal(sent.at(-1), { unique: 2, errno: 0, body: 'slow' });
});

test('delivered and lost hooks follow what the kernel got', async () => {
  const seen: string[] = [];
  const { send } = setup([
    [Opcode.LOOKUP, async (req: FuseRequest) => reply('e', {
      delivered: () => seen.push(`delivered ${req.header.unique}`),
      lost: () => seen.push(`lost ${req.header.unique}`),
    })],
  ], { undeliverable: [4] });
  send({ opcode: Opcode.LOOKUP, unique: 2, names: ['a'] });
  send({ opcode: Opcode.LOOKUP, unique: 4, names: ['b'] });
  await tick();
  assert.equal(seen.sort(), ['delivered 2', 'lost 4']);
});

test('INTERRUPT: read-only requests answer EINTR, others finish', async () => {
  const read = deferred<Reply>();
  const mkdir = deferred<Reply>();
  const lost: number[] = [];
  const { sent, send } = setup([
    [Opcode.READ, async () => read.promise],
    [Opcode.MKDIR, async () => mkdir.promise],
  ]);
  send({ opcode: Opcode.READ, unique: 2, struct: READ_IN, arg: { size: 10 } });
  send({ opcode: Opcode.MKDIR, unique: 4, struct: MKDIR_IN, names: ['d'] });
  send({ opcode: Opcode.INTERRUPT, unique: 7, struct: INTERRUPT_IN, arg: { unique: 2 } });
  send({ opcode: Opcode.INTERRUPT, unique: 9, struct: INTERRUPT_IN, arg: { unique: 4 } });
  await tick();
  assert.equal(sent, [{ unique: 2, errno: E.EINTR, body: '' }]);
  read.resolve(reply('late', { lost: () => lost.push(2) }));
  mkdir.resolve(reply('made'));
  await tick();
  assert.equal(sent.map((s) => [s.unique, s.errno, s.body]),
    [[2, E.EINTR, ''], [4, 0, 'made']], 'the late READ result is dropped');
  assert.equal(lost, [2]);
});

test('INTERRUPT before its request, and of a request never seen', async () => {
  const read = deferred<Reply>();
  const { sent, send } = setup([[Opcode.READ, async () => read.promise]]);
  send({ opcode: Opcode.INTERRUPT, unique: 21, struct: INTERRUPT_IN, arg: { unique: 20 } });
  send({ opcode: Opcode.READ, unique: 20, struct: READ_IN, arg: { size: 1 } });
  send({ opcode: Opcode.INTERRUPT, unique: 31, struct: INTERRUPT_IN, arg: { unique: 30 } });
  await tick();
  assert.equal(sent, [{ unique: 20, errno: E.EINTR, body: '' }]);
  await tick(60);
  assert.equal(sent.at(-1), { unique: 31, errno: E.EAGAIN, body: '' }, 'EAGAIN: ask again');
  read.resolve(reply('late'));
  await tick();
  assert.is(sent.length, 2);
});

test('write data is copied before the read buffer is reused; bad requests get EINVAL', async () => {
  let data = '';
  const { sent, send } = setup([[Opcode.WRITE, async (req: FuseRequest) => {
    await tick();
    data = req.data.toString();
    return reply('');
  }]]);
  send({ opcode: Opcode.WRITE, unique: 2, struct: WRITE_IN, arg: { size: 5 },
    data: Buffer.from('hello') });
  send({ opcode: Opcode.WRITE, unique: 4, data: Buffer.alloc(3) });
  await tick(5);
  assert.is(data, 'hello');
  assert.equal(sent.map((s) => [s.unique, s.errno]), [[4, E.EINVAL], [2, 0]]);
});

test('a large WRITE keeps the read buffer instead of a copy; the device must replace it', () => {
  let kept: Buffer | null = null;
  const d = new RequestDispatcher({
    replier: { reply: () => true },
    handlers: new Map<number, Handler>([[Opcode.WRITE, async (req: FuseRequest) => {
      kept = req.data;
      return reply('');
    }]]),
    ctx: {} as MountContext, log: new QuietLogger('test'), debug: false, onBug: () => undefined,
  });
  const big = buildRequest({ opcode: Opcode.WRITE, struct: WRITE_IN,
    arg: { size: WRITE_KEEP_MIN_BYTES }, data: Buffer.alloc(WRITE_KEEP_MIN_BYTES, 7) });
  assert.ok(d.onRequest(big, big.length), 'the buffer is kept');
  assert.ok(kept!.buffer === big.buffer, 'the data is a view of the read buffer, not a copy');
  const small = buildRequest({ opcode: Opcode.WRITE, struct: WRITE_IN,
    arg: { size: 100 }, data: Buffer.alloc(100, 7) });
  assert.not.ok(d.onRequest(small, small.length), 'a small write is copied');
  assert.ok(kept!.buffer !== small.buffer);
  assert.not.ok(d.onRequest(Buffer.alloc(8), 8), 'nothing kept of a malformed request');
});

test.run();
