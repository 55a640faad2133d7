// Goal: the device read on the event loop delivers every request once and in order, keeps
// waiting while the file system is not mounted yet (a poll that fails before mount(2), whether
// the read then says EPERM, EAGAIN, or already gives INIT), ends once on ENODEV, ends after
// stopWaitingForMount, gives a handler that keeps a buffer a new one, and reads at most 16
// requests per wake-up; a descriptor the addon cannot make non-blocking starts nothing. Method: FuseDevice with a scripted watcher in place of the addon's
// (reads answer from a queue of requests and errnos; the test fires the callbacks).
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ReadableWatcher } from '@antlerfs/native';
import { Logger } from '@antlerfs/protocol';
import { FuseDevice } from '../src/fuse/fuse-device.ts';

const { EAGAIN, EPERM, ENODEV, EINTR } = os.constants.errno;
const BUFFER_BYTES = 1024 * 1024 + 4096;
const UV_EBADF = -9;

class QuietLogger extends Logger {
  override log(): void {}
}

/** A device whose reads answer from `queue` (a request's bytes, or -errno); -EAGAIN when empty. */
class ScriptedWatcher implements ReadableWatcher {
  queue: (string | number)[] = [];
  callback: ((status: number) => void) | null = null;
  watches = 0;
  reads = 0;

  watch(onReadable: (status: number) => void): void {
    assert.is(this.callback, null, 'watched once at a time');
    this.callback = onReadable;
    this.watches++;
  }

  unwatch(): void {
    this.callback = null;
  }

  read(buffer: Uint8Array, offset: number, length: number): number {
    this.reads++;
    const next = this.queue.shift() ?? -EAGAIN;
    if (typeof next === 'number') return next;
    const bytes = Buffer.from(next);
    assert.ok(bytes.length <= length);
    buffer.set(bytes, offset);
    return bytes.length;
  }

  fire(status = 0): void {
    assert.ok(this.callback !== null, 'a watch is set');
    this.callback(status);
  }

  /** Waits (bounded) for the device to watch again after a failed poll. */
  async rewatched(): Promise<void> {
    for (let i = 0; i < 200 && this.callback === null; i++) await sleep(5);
    assert.ok(this.callback !== null, 'watched again');
  }
}

function setup(keep: (text: string) => boolean = () => false) {
  const device = FuseDevice.adopt(1_000_000, new QuietLogger('test'));
  const watcher = new ScriptedWatcher();
  const got: string[] = [];
  const buffers = new Set<ArrayBufferLike>();
  const ends: string[] = [];
  const started = device.startPolling(BUFFER_BYTES, {
    onRequest: (buf, length) => {
      const text = buf.toString('utf8', 0, length);
      got.push(text);
      buffers.add(buf.buffer);
      return keep(text);
    },
    onEnd: (reason) => { ends.push(reason); },
  }, watcher);
  assert.ok(started);
  assert.is(device.readMode, 'event-loop');
  return { device, watcher, got, buffers, ends };
}

test('requests are delivered in order, 16 per wake-up at most, interrupted reads skipped', () => {
  const { device, watcher, got, ends } = setup();
  const requests = Array.from({ length: 20 }, (_, i) => `req${i}`);
  watcher.queue.push(...requests.slice(0, 3), -EINTR, ...requests.slice(3));
  watcher.fire();
  assert.is(got.length, 15, '16 reads, one of them interrupted');
  watcher.fire();
  assert.equal(got, requests);
  assert.is(watcher.queue.length, 0);
  watcher.fire(); // nothing waits: one read, EAGAIN
  assert.equal(ends, []);
  assert.is(device.ended, false);
  assert.is(device.wakeups, 3);
});

test('a poll that fails before mount(2) is set again until the device reads', async () => {
  const { device, watcher, got, ends } = setup();
  // Not mounted: the poll fails at once and the read says EPERM.
  watcher.queue.push(-EPERM);
  watcher.fire(UV_EBADF);
  assert.is(watcher.callback, null, 'unwatched while waiting');
  await watcher.rewatched();
  // mount(2) finished between the failed poll and the read: INIT is there, then nothing.
  watcher.queue.push('INIT');
  watcher.fire(UV_EBADF);
  assert.equal(got, ['INIT']);
  assert.equal(ends, [], 'not ended by a poll that failed before the mount');
  await watcher.rewatched();
  // The same with nothing to read yet.
  watcher.fire(UV_EBADF);
  await watcher.rewatched();
  watcher.queue.push('LOOKUP');
  watcher.fire();
  assert.equal(got, ['INIT', 'LOOKUP']);
  assert.is(watcher.watches, 4);
  assert.is(device.ended, false);
  // Unmounted: the poll fails and the read says ENODEV: the end, once.
  watcher.queue.push(-ENODEV);
  watcher.fire(UV_EBADF);
  assert.equal(ends, ['ENODEV']);
  assert.is(device.ended, true);
  assert.is(watcher.callback, null);
});

test('after stopWaitingForMount an unmounted device ends', () => {
  const { device, watcher, ends } = setup();
  device.stopWaitingForMount();
  watcher.queue.push(-EPERM);
  watcher.fire(UV_EBADF);
  assert.equal(ends, ['EPERM']);
  assert.is(watcher.callback, null);
});

test('a handler that keeps its buffer gets a new one for the next read; given back, reused', () => {
  const { device, watcher, got, buffers } = setup((text) => text.startsWith('WRITE'));
  watcher.queue.push('WRITE 1', 'GETATTR', 'WRITE 2', 'FLUSH');
  watcher.fire();
  assert.equal(got, ['WRITE 1', 'GETATTR', 'WRITE 2', 'FLUSH']);
  // WRITE 1 kept the first buffer: GETATTR and WRITE 2 shared the second, FLUSH got a third.
  assert.is(buffers.size, 3);
  assert.is(device.buffersKept, 2);
  const [first] = buffers;
  device.giveBack(first!);
  watcher.queue.push('WRITE 3', 'STATFS');
  watcher.fire();
  assert.is(device.buffersReused, 1);
  const last = [...buffers];
  assert.is(buffers.size, 3, 'STATFS was read into the buffer given back');
  assert.ok(last.includes(first!));
});

test('a descriptor that refuses O_NONBLOCK is left to the reader threads', () => {
  // No descriptor 1,000,000 here: with the addon fcntl fails (EBADF), without it there is no
  // watcher; either way nothing starts and the mount can start its threads.
  const device = FuseDevice.adopt(1_000_000, new QuietLogger('test'));
  const started = device.startPolling(BUFFER_BYTES, {
    onRequest: () => false, onEnd: () => undefined,
  });
  assert.is(started, false);
  assert.is(device.readMode, 'threads');
});

test.run();
