// Goal: preadNoWait reads what the page cache holds and never waits for the disk, dropCached
// frees a file's clean cached pages (dirty ones keep their bytes), and the fallbacks (addon
// disabled with ANTLER_NO_NATIVE=1) say "would block" and drop nothing. Method: a file
// just written (so cached) in a temporary folder, read at several places; errors and bad ranges
// checked; the fallback checked in a child process, since loading is decided at import. The
// readable watcher (the mount reads /dev/fuse with it) is checked on a socket pair: callbacks
// only while bytes wait, reads without throwing, nothing after unwatch, end of file seen.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  PREAD_WOULD_BLOCK, addon, available, dropCached, dropCachedAvailable, preadNoWait,
  preadNoWaitAvailable, readableWatcher,
} from '../index.ts';

const FILE_BYTES = 256 * 1024;

function pattern(length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (i * 131 + (i >> 8)) & 0xff;
  return out;
}

function withCachedFile(work: (fd: number, data: Buffer) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'antler-native-'));
  const file = path.join(dir, 'cached.bin');
  const data = pattern(FILE_BYTES);
  fs.writeFileSync(file, data);
  const fd = fs.openSync(file, 'r');
  try {
    work(fd, data);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.env['ANTLER_NO_NATIVE'] === '1') {
  test('without the addon every read says would block and leaves the buffer alone', async () => {
    assert.is(available, false);
    assert.is(preadNoWaitAvailable, false);
    assert.is(dropCachedAvailable, false);
    const fd = fs.openSync(process.execPath, 'r');
    try {
      assert.is(await dropCached(fd, 0, 0), 0, 'dropping does nothing and says nothing');
    } finally {
      fs.closeSync(fd);
    }
    withCachedFile((fd) => {
      const buf = Buffer.alloc(4096, 7);
      assert.is(preadNoWait(fd, buf, 0, buf.length, 0), PREAD_WOULD_BLOCK);
      assert.ok(buf.equals(Buffer.alloc(4096, 7)));
      assert.is(readableWatcher(fd), null, 'no watcher: callers read in threads');
    });
  });
} else {
  test('the addon is built and has preadNoWait', () => {
    assert.ok(available, 'addon loaded (node-gyp build in native/)');
    assert.ok(preadNoWaitAvailable, 'addon exports preadNoWait');
  });

  test('a cached file gives its bytes, at any place in the buffer and the file', () => {
    withCachedFile((fd, data) => {
      const buf = Buffer.alloc(FILE_BYTES + 100);
      assert.is(preadNoWait(fd, buf, 0, 4096, 0), 4096);
      assert.ok(buf.subarray(0, 4096).equals(data.subarray(0, 4096)));
      // Unaligned position, offset into a Buffer that is itself a view.
      const view = buf.subarray(10);
      assert.is(preadNoWait(fd, view, 33, 70_000, 12_345), 70_000);
      assert.ok(view.subarray(33, 33 + 70_000).equals(data.subarray(12_345, 82_345)));
      // The whole file in one call, then past its end: short, then 0.
      assert.is(preadNoWait(fd, buf, 0, FILE_BYTES + 100, 0), FILE_BYTES);
      assert.ok(buf.subarray(0, FILE_BYTES).equals(data));
      assert.is(preadNoWait(fd, buf, 0, 100, FILE_BYTES - 10), 10);
      assert.is(preadNoWait(fd, buf, 0, 100, FILE_BYTES + 4096), 0);
      assert.is(preadNoWait(fd, buf, 0, 0, 0), 0);
    });
  });

  test('dropCached frees clean pages from the thread pool and keeps dirty ones', async () => {
    assert.ok(dropCachedAvailable, 'addon exports fadviseAsync');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'antler-native-'));
    const fd = fs.openSync(path.join(dir, 'drop.bin'), 'w+');
    try {
      const data = pattern(FILE_BYTES);
      fs.writeSync(fd, data, 0, data.length, 0);
      const buf = Buffer.alloc(4096);
      // Dirty pages only start their writeback: the bytes are still there.
      assert.is(await dropCached(fd, 0, 0), 0);
      assert.ok(fs.readFileSync(path.join(dir, 'drop.bin')).equals(data));
      fs.fdatasyncSync(fd);
      assert.is(preadNoWait(fd, buf, 0, buf.length, 8192), buf.length, 'cached once written');
      assert.is(await dropCached(fd, 0, 0), 0);
      assert.is(preadNoWait(fd, buf, 0, buf.length, 8192), PREAD_WOULD_BLOCK, 'dropped');
      const bad = fs.openSync(path.join(dir, 'closed.bin'), 'w');
      fs.closeSync(bad);
      assert.is(await dropCached(bad, 0, 0), os.constants.errno.EBADF, 'errno, not a throw');
    } finally {
      fs.closeSync(fd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('failures other than would-block throw like fs errors; bad ranges are refused', () => {
    withCachedFile((fd) => {
      const buf = Buffer.alloc(100);
      assert.throws(() => preadNoWait(fd, buf, 90, 20, 0), /range outside the buffer/);
      assert.throws(() => preadNoWait(fd, buf, -1, 10, 0), /range outside the buffer/);
      assert.throws(() => preadNoWait(fd, buf, 0, 10, -1), /range outside the buffer/);
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'antler-native-'));
    const writeOnly = fs.openSync(path.join(dir, 'w.bin'), 'w');
    try {
      preadNoWait(writeOnly, Buffer.alloc(10), 0, 10, 0);
      assert.unreachable('read from a write-only descriptor');
    } catch (err) {
      assert.is((err as NodeJS.ErrnoException).code, 'EBADF');
    } finally {
      fs.closeSync(writeOnly);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a readable watcher calls back while bytes wait, reads, then stops', async () => {
    const pair = addon!.socketpair!();
    const [ours, theirs] = pair;
    const { EAGAIN } = os.constants.errno;
    try {
      const w = readableWatcher(ours);
      assert.ok(w !== null, 'addon exports the watcher');
      const buf = Buffer.alloc(64);
      assert.is(w.read(buf, 0, buf.length), -EAGAIN, 'non-blocking: nothing yet');
      const got: string[] = [];
      let calls = 0;
      w.watch((status) => {
        calls++;
        assert.is(status, 0);
        for (let n = w.read(buf, 0, buf.length); n !== -EAGAIN; n = w.read(buf, 0, buf.length)) {
          got.push(n === 0 ? 'EOF' : buf.toString('utf8', 0, n));
          if (n === 0) { w.unwatch(); return; }
        }
      });
      assert.throws(() => w.watch(() => undefined), /already watching/);
      await sleep(30);
      assert.is(calls, 0, 'no call while nothing waits');
      fs.writeSync(theirs, 'one');
      for (let i = 0; i < 200 && got.length < 1; i++) await sleep(5);
      assert.equal(got, ['one']);
      fs.writeSync(theirs, 'two');
      for (let i = 0; i < 200 && got.length < 2; i++) await sleep(5);
      assert.equal(got, ['one', 'two']);
      fs.closeSync(theirs);
      for (let i = 0; i < 200 && got.length < 3; i++) await sleep(5);
      assert.equal(got, ['one', 'two', 'EOF'], 'end of file seen, then unwatched');
      const before = calls;
      await sleep(30);
      assert.is(calls, before, 'no call after unwatch');
      w.unwatch(); // a second time does nothing
      assert.throws(() => w.read(buf, 60, 10), /range outside the buffer/);
    } finally {
      fs.closeSync(ours);
      try { fs.closeSync(theirs); } catch { /* closed above */ }
    }
  });

  test('a watcher stopped from outside its callback calls back no more', async () => {
    const [ours, theirs] = addon!.socketpair!();
    try {
      const w = readableWatcher(ours)!;
      let calls = 0;
      w.watch(() => { calls++; });
      w.unwatch();
      fs.writeSync(theirs, 'x');
      await sleep(30);
      assert.is(calls, 0);
      // Watching again works (the mount does that while waiting for mount(2)).
      w.watch(() => { calls++; w.unwatch(); });
      for (let i = 0; i < 200 && calls === 0; i++) await sleep(5);
      assert.is(calls, 1);
    } finally {
      fs.closeSync(ours);
      fs.closeSync(theirs);
    }
  });

  test('with ANTLER_NO_NATIVE=1 the addon is not loaded and the fallback answers', () => {
    const self = path.resolve(import.meta.dirname, 'index.test.ts');
    const child = spawnSync(process.execPath, ['--import', 'tsx', self], {
      env: { ...process.env, ANTLER_NO_NATIVE: '1' }, encoding: 'utf8', timeout: 60_000,
    });
    assert.is(child.status, 0, child.stdout + child.stderr);
    assert.match(child.stdout, /Passed:\s+1/);
  });
}

test.run();
