// The /dev/fuse descriptor, read one of two ways. With the native addon, on the event loop: the
// descriptor is non-blocking and watched (uv_poll), and each wake-up reads every waiting
// request on the main thread, which the kernel wakes directly: one thread hand-off per request
// instead of two. Without it (or FUSE_POLL=no), several blocking reads outstanding at once,
// each in its own worker thread (a plain-JS loop over SharedArrayBuffer slots) rather than
// libuv's pool, whose threads blocked on /dev/fuse would starve DNS, fs and the reply writes.
// A reader has two slots: it reads a request into one, marks it full, rings one bell shared by
// all readers (an Atomics counter) and goes on reading into its other slot, so it seldom waits
// for the main thread. The main thread waits for the bell with Atomics.waitAsync (never
// blocking) and takes every full slot in one pass, in each reader's order: no message and no
// thread wake-up per request. Either way a request is handled in its read buffer, which is
// free again once the handler returns; a large WRITE is not copied: its handler keeps the
// buffer and the next read goes into another one. Replies are one writevSync each (the kernel
// only copies them). A blocked read keeps the process from exiting: the connection must end
// (unmount or abort) first. Owns no file system logic.
import fs from 'node:fs';
import os from 'node:os';
import util from 'node:util';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { readableWatcher, type ReadableWatcher } from '@antlerfs/native';
import { assert, type Logger } from '@antlerfs/protocol';
import { FUSE_MIN_READ_BUFFER, OUT_HEADER } from './kernel-abi.ts';
import { assertLayout, writeU64LE } from './struct-codec.ts';

/** Reader threads (= reads outstanding on /dev/fuse) allowed. */
export const READERS_MAX = 16;
/** Request buffers per reader: one being read into while the main thread takes the other. */
export const SLOTS_PER_READER = 2;
/** Kept request buffers given back and waiting to be read into again (~32 MiB at most). */
export const FREE_BUFFERS_MAX = 32;

/** Slot states shared with a reader thread. */
const SLOT_FREE = 0;
const SLOT_FULL = 1;
/**
 * Int32 words of a reader's control buffer: word 0 is set when the mount failed; slot s has
 * its state at 1 + 2s and the length of the request in it at 2 + 2s.
 */
const WORD_MOUNT_FAILED = 0;
const CONTROL_WORDS = 1 + 2 * SLOTS_PER_READER;
const stateWord = (slot: number): number => 1 + 2 * slot;
const lengthWord = (slot: number): number => 2 + 2 * slot;
/**
 * Passes over the slots per bell before the event loop gets a turn: readers refill slots while
 * a pass runs, and replies and master answers need the loop.
 */
const PASSES_PER_BELL_MAX = 4;

/** Atomics.waitAsync (ES2024): Node 20 has it, the compiler's lib does not declare it yet. */
interface AtomicsWaitAsync {
  waitAsync(array: Int32Array, index: number, value: number):
    { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<string> };
}
const atomicsAsync = Atomics as unknown as AtomicsWaitAsync;
assert(typeof atomicsAsync.waitAsync === 'function', 'Atomics.waitAsync exists');

const OUT_HEADER_BYTES = OUT_HEADER.sizeBytes;
// Where reply() writes each fuse_out_header field.
assertLayout(OUT_HEADER, { len: 0, error: 4, unique: 8 });

/** Readers may start before mount(2) is done: they look again every 5 ms, for up to 30 s. */
const MOUNT_WAIT_MS = 5;
const MOUNT_WAITS_MAX = 6000;
/**
 * Requests read on the event loop per wake-up before the loop gets a turn (replies, master
 * answers); the watch is level-triggered, so the rest wake it again on the next turn.
 */
const REQUESTS_PER_WAKEUP_MAX = 16;
const { EAGAIN, EINTR, ENOENT, EPERM } = os.constants.errno;

// Runs in each reader thread, over its slots in turn: wait for the slot to be free, take the
// new buffer the main thread may have handed over for it (it kept the last one), read one
// request into it, store its length, mark it full and ring the bell. Plain JS (no loader in
// worker threads). EPERM means "not mounted yet"; errors other than the transient ones end the
// thread: ENODEV is the normal end (the file system was unmounted or the connection aborted).
const READER_SOURCE = `
const { parentPort, workerData, receiveMessageOnPort } = require('node:worker_threads');
const fs = require('node:fs');
const control = new Int32Array(workerData.control, 0, ${CONTROL_WORDS});
const bell = new Int32Array(workerData.bell, 0, 1);
const data = workerData.data.map((b) => new Uint8Array(b));
const pause = new Int32Array(new SharedArrayBuffer(4));
let unmountedWaits = 0;
let slot = 0;
for (;;) {
  const state = 1 + 2 * slot;
  // A wait may end before the slot is free (a wake-up not meant for it): only FREE goes on.
  while (Atomics.load(control, state) === ${SLOT_FULL}) Atomics.wait(control, state, ${SLOT_FULL});
  for (let m = receiveMessageOnPort(workerData.buffers); m !== undefined;
    m = receiveMessageOnPort(workerData.buffers)) {
    data[m.message.slot] = new Uint8Array(m.message.buffer);
  }
  let n;
  try {
    n = fs.readSync(workerData.fd, data[slot], 0, data[slot].length, null);
  } catch (err) {
    if (err.code === 'EINTR' || err.code === 'EAGAIN' || err.code === 'ENOENT') continue;
    if (err.code === 'EPERM' && Atomics.load(control, ${WORD_MOUNT_FAILED}) === 0 &&
        unmountedWaits++ < ${MOUNT_WAITS_MAX}) {
      Atomics.wait(pause, 0, 0, ${MOUNT_WAIT_MS});
      continue;
    }
    parentPort.postMessage({ end: err.code || String(err) });
    break;
  }
  Atomics.store(control, state + 1, n);
  Atomics.store(control, state, ${SLOT_FULL});
  Atomics.add(bell, 0, 1);
  Atomics.notify(bell, 0, 1);
  slot = (slot + 1) % ${SLOTS_PER_READER};
}
`;

export interface DeviceHandlers {
  /**
   * One request of `length` bytes in `buf`. `buf` is valid only during the call: everything
   * needed later (names, write data) must be copied before returning, unless the handler
   * returns true: it keeps `buf` (views of it) for good, and the reader reads into a new one.
   */
  onRequest(buf: Buffer, length: number): boolean;
  /** Every reader ended; `reason` is the errno code of the first (ENODEV: unmounted). */
  onEnd(reason: string): void;
}

interface Reader {
  worker: Worker;
  control: Int32Array;
  /** The buffer of each slot. */
  data: Buffer[];
  /** The slot the reader fills next after the one taken last: taken in the order read. */
  nextSlot: number;
  /** Where new buffers go to the reader thread. */
  buffers: MessagePort;
  ended: boolean;
}

/** Reading on the event loop: the watch and the buffer the next request is read into. */
interface Poller {
  watcher: ReadableWatcher;
  buffer: Buffer;
  mountWaits: number;
}

export class FuseDevice {
  readonly fd: number;
  private readonly log: Logger;
  private readers: Reader[] = [];
  private poller: Poller | null = null;
  /** Set when nothing reads the device any more (every reader ended, or the watch). */
  private allEnded = false;
  private mountFailed = false;
  private endReason: string | null = null;
  private closedFd = false;
  private bufferBytes = 0;
  /** Rung (incremented, notified) by a reader each time it fills a slot. */
  private readonly bell = new Int32Array(new SharedArrayBuffer(4));
  private handlers: DeviceHandlers | null = null;
  /** Every reply begins with this header; reused, as writevSync copies it before returning. */
  private readonly outHeader = Buffer.alloc(OUT_HEADER_BYTES);
  private readonly headerOnly: Buffer[] = [this.outHeader];
  /** Requests whose buffer a handler kept (a new one went to the reader). */
  buffersKept = 0;
  /** Kept buffers given back (giveBack), read into again before any new one is made. */
  private readonly freeBuffers: SharedArrayBuffer[] = [];
  /** Kept buffers read into again. */
  buffersReused = 0;
  /** Times requests woke the main thread (requests / wake-ups: how many one pass takes). */
  wakeups = 0;

  private constructor(fd: number, log: Logger) {
    this.fd = fd;
    this.log = log;
  }

  /** Serves a /dev/fuse descriptor already mounted (the one fusermount3 sends back). */
  static adopt(fd: number, log: Logger): FuseDevice {
    assert(Number.isInteger(fd) && fd >= 0, 'a /dev/fuse descriptor');
    return new FuseDevice(fd, log);
  }

  /** Opens /dev/fuse; a missing device names the module to load. */
  static open(log: Logger): FuseDevice {
    let fd: number;
    try {
      fd = fs.openSync('/dev/fuse', 'r+');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const hint = code === 'ENOENT' ? ' (load the fuse kernel module: modprobe fuse)' : '';
      throw new Error(`cannot open /dev/fuse: ${(err as Error).message}${hint}`);
    }
    return new FuseDevice(fd, log);
  }

  /**
   * Reads requests on the event loop into buffers of `bufferBytes`; false (nothing started)
   * without the native addon. Before mount(2) the watch fails: it looks again every 5 ms.
   * `scripted` replaces the addon's watcher (tests script the device with it).
   */
  startPolling(
    bufferBytes: number, handlers: DeviceHandlers, scripted?: ReadableWatcher,
  ): boolean {
    assert(this.readers.length === 0 && this.poller === null, 'the device is read one way');
    assert(bufferBytes >= FUSE_MIN_READ_BUFFER, `read buffer ${bufferBytes} >= minimum`);
    let watcher: ReadableWatcher | null;
    try {
      watcher = scripted ?? readableWatcher(this.fd);
    } catch (err) {
      // fcntl refused O_NONBLOCK: the reader threads need no flag.
      this.log.warn('cannot read /dev/fuse on the event loop', { error: (err as Error).message });
      return false;
    }
    if (watcher === null) return false;
    this.bufferBytes = bufferBytes;
    this.handlers = handlers;
    this.poller = {
      watcher, buffer: Buffer.from(new SharedArrayBuffer(bufferBytes)), mountWaits: 0,
    };
    watcher.watch(this.onReadable);
    return true;
  }

  /** Reads and delivers what waits (REQUESTS_PER_WAKEUP_MAX at most); status < 0: poll failed. */
  private readonly onReadable = (status: number): void => {
    const p = this.poller;
    const handlers = this.handlers;
    assert(p !== null && handlers !== null, 'polling was started');
    if (this.allEnded) return;
    this.wakeups++;
    for (let i = 0; i < REQUESTS_PER_WAKEUP_MAX; i++) {
      const n = p.watcher.read(p.buffer, 0, p.buffer.length);
      if (n > 0) {
        this.deliverPolled(p, n, handlers);
        continue;
      }
      const errno = -n;
      if (errno === EINTR || errno === ENOENT) continue; // a request interrupted: read on
      if (errno === EAGAIN && status === 0) return; // nothing more for now
      // The poll failed (EPOLLERR) while the device was not mounted yet: EPERM if it still is
      // not, EAGAIN (or requests, INIT first) if mount(2) finished since. Watch again.
      const unmounted = errno === EPERM || errno === EAGAIN;
      if (unmounted && !this.mountFailed && p.mountWaits++ < MOUNT_WAITS_MAX) {
        p.watcher.unwatch();
        setTimeout(() => {
          if (!this.allEnded) p.watcher.watch(this.onReadable);
        }, MOUNT_WAIT_MS);
        return;
      }
      const reason = n === 0 ? 'end of file' : errno === EAGAIN ? `poll failed (${status})`
        : util.getSystemErrorName(-errno);
      p.watcher.unwatch();
      this.deviceEnded(reason, handlers);
      return;
    }
  };

  private deliverPolled(p: Poller, length: number, handlers: DeviceHandlers): void {
    if (handlers.onRequest(p.buffer, length)) {
      const reused = this.freeBuffers.pop();
      if (reused !== undefined) this.buffersReused++;
      p.buffer = Buffer.from(reused ?? new SharedArrayBuffer(this.bufferBytes));
      this.buffersKept++;
    }
  }

  /** Starts `count` reader threads, each with SLOTS_PER_READER buffers of `bufferBytes`. */
  startReaders(count: number, bufferBytes: number, handlers: DeviceHandlers): void {
    assert(this.readers.length === 0 && this.poller === null, 'the device is read one way');
    assert(count >= 1 && count <= READERS_MAX, `reader count ${count} in 1..${READERS_MAX}`);
    assert(bufferBytes >= FUSE_MIN_READ_BUFFER, `read buffer ${bufferBytes} >= minimum`);
    this.bufferBytes = bufferBytes;
    this.handlers = handlers;
    for (let i = 0; i < count; i++) {
      const control = new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT);
      const data: SharedArrayBuffer[] = [];
      for (let s = 0; s < SLOTS_PER_READER; s++) data.push(new SharedArrayBuffer(bufferBytes));
      const channel = new MessageChannel();
      const worker = new Worker(READER_SOURCE, {
        eval: true, workerData: {
          fd: this.fd, control, bell: this.bell.buffer, data, buffers: channel.port2,
        },
        transferList: [channel.port2], name: `fuse-reader-${i}`,
      });
      channel.port1.unref();
      const reader: Reader = {
        worker, control: new Int32Array(control, 0, CONTROL_WORDS),
        data: data.map((d) => Buffer.from(d)), nextSlot: 0, buffers: channel.port1, ended: false,
      };
      // Messages are rare: only a reader's end (requests come through the bell).
      worker.on('message', (m: { end?: string }) => {
        this.readerEnded(reader, m.end ?? 'unknown', handlers);
      });
      worker.on('error', (err) => {
        this.readerEnded(reader, `reader error: ${err.message}`, handlers);
      });
      worker.on('exit', () => this.readerEnded(reader, 'reader exited', handlers));
      this.readers.push(reader);
    }
    this.listen();
  }

  /**
   * Takes every full slot, then waits (asynchronously) for the bell to ring again. The bell's
   * count is read before the pass: a ring during the pass changes it, so the wait returns at
   * once ('not-equal') and another pass runs; no ring is missed.
   */
  private listen(): void {
    for (let pass = 0; pass < PASSES_PER_BELL_MAX; pass++) {
      if (this.ended) return;
      const rung = Atomics.load(this.bell, 0);
      this.takeFullSlots();
      const wait = atomicsAsync.waitAsync(this.bell, 0, rung);
      if (wait.async) {
        void wait.value.then(this.onBell);
        return;
      }
    }
    setImmediate(this.onBell);
  }

  private readonly onBell = (): void => {
    this.wakeups++;
    this.listen();
  };

  /** Delivers the full slots of every reader, each reader's in the order they were read. */
  private takeFullSlots(): void {
    const handlers = this.handlers;
    assert(handlers !== null, 'readers were started');
    for (const reader of this.readers) {
      // At most one round over its slots: a reader refilling them waits for the next pass.
      for (let taken = 0; taken < SLOTS_PER_READER; taken++) {
        const slot = reader.nextSlot;
        if (Atomics.load(reader.control, stateWord(slot)) !== SLOT_FULL) break;
        this.deliver(reader, slot, handlers);
        reader.nextSlot = (slot + 1) % SLOTS_PER_READER;
      }
    }
  }

  private deliver(reader: Reader, slot: number, handlers: DeviceHandlers): void {
    const length = Atomics.load(reader.control, lengthWord(slot));
    try {
      if (handlers.onRequest(reader.data[slot]!, length)) {
        // Handed over before the slot is freed, so the reader's next read into it uses it.
        const reused = this.freeBuffers.pop();
        if (reused !== undefined) this.buffersReused++;
        const fresh = reused ?? new SharedArrayBuffer(this.bufferBytes);
        reader.buffers.postMessage({ slot, buffer: fresh });
        reader.data[slot] = Buffer.from(fresh);
        this.buffersKept++;
      }
    } finally {
      // Wakes the reader only if it waits for this slot (its other one is full too).
      Atomics.store(reader.control, stateWord(slot), SLOT_FREE);
      Atomics.notify(reader.control, stateWord(slot));
    }
  }

  private readerEnded(reader: Reader, reason: string, handlers: DeviceHandlers): void {
    if (reader.ended) return;
    reader.ended = true;
    if (this.readers.every((r) => r.ended)) {
      Atomics.notify(this.bell, 0); // the pending wait ends too (listen() sees the end)
      this.deviceEnded(reason, handlers);
    } else {
      this.endReason ??= reason;
      if (reason !== 'ENODEV' && reason !== 'reader exited') {
        this.log.warn('fuse reader stopped', { reason });
      }
    }
  }

  /** Nothing reads the device any more; `reason` (ENODEV: unmounted) unless one came first. */
  private deviceEnded(reason: string, handlers: DeviceHandlers): void {
    assert(!this.allEnded, 'the device ends once');
    this.allEnded = true;
    this.endReason ??= reason;
    if (reason !== 'ENODEV' && reason !== 'reader exited') {
      this.log.warn('fuse device reads stopped', { reason });
    }
    handlers.onEnd(this.endReason);
  }

  /**
   * Takes back the buffer of a request a handler kept, once nothing reads it: the next request
   * buffer handed to a reader is this one, not fresh memory (a new 1 MiB SharedArrayBuffer per
   * large WRITE is a megabyte of fresh pages for the kernel to fault in and zero).
   */
  giveBack(buffer: ArrayBufferLike): void {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength !== this.bufferBytes) return;
    if (this.freeBuffers.length >= FREE_BUFFERS_MAX) return;
    assert(!this.freeBuffers.includes(buffer), 'a request buffer is given back once');
    this.freeBuffers.push(buffer);
  }

  /** The mount failed: readers still waiting for it stop. */
  stopWaitingForMount(): void {
    this.mountFailed = true;
    for (const r of this.readers) Atomics.store(r.control, WORD_MOUNT_FAILED, 1);
  }

  /** True once nothing reads the device (every reader thread stopped, or the watch). */
  get ended(): boolean {
    return this.allEnded;
  }

  /** How requests are read: on the event loop, or by reader threads. */
  get readMode(): 'event-loop' | 'threads' {
    return this.poller !== null ? 'event-loop' : 'threads';
  }

  /**
   * Writes one reply: header + `parts` in a single writev. Returns false when the kernel no
   * longer waits for it (the request was interrupted, or the file system is gone).
   */
  reply(unique: number, errno: number, parts: readonly Buffer[]): boolean {
    if (!Number.isSafeInteger(unique) || unique < 0) assert(false, `reply to unique ${unique}`);
    let frameBytes = OUT_HEADER_BYTES;
    for (let i = 0; i < parts.length; i++) frameBytes += parts[i]!.length;
    // fuse_out_header: len:32 error:32 unique:64 (its layout is OUT_HEADER in kernel-abi.ts).
    const header = this.outHeader;
    header.writeUInt32LE(frameBytes, 0);
    header.writeInt32LE(-errno, 4);
    writeU64LE(header, unique, 8);
    const frame = parts.length === 0 ? this.headerOnly : [header, ...parts];
    return this.writeFrame(frame, unique);
  }

  /** Writes a notification (unique 0, error = the notify code). */
  notify(code: number, parts: readonly Buffer[]): boolean {
    return this.reply(0, -code, parts);
  }

  private writeFrame(frame: Buffer[], unique: number): boolean {
    if (this.closedFd) return false;
    try {
      fs.writevSync(this.fd, frame);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOENT: the request is gone (interrupted); ENODEV: unmounted. Both are normal.
      if (code !== 'ENOENT' && code !== 'ENODEV') {
        this.log.error('fuse write failed', { unique, error: (err as Error).message });
      }
      return false;
    }
  }

  /** Closes the descriptor once nothing reads it (a blocked read holds it). */
  close(): void {
    if (this.closedFd) return;
    assert(this.allEnded || (this.readers.length === 0 && this.poller === null),
      'nothing still reads the descriptor');
    this.closedFd = true;
    fs.closeSync(this.fd);
  }
}
