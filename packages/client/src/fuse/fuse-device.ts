// The /dev/fuse descriptor: several blocking reads outstanding at once, each in its own worker
// thread (a plain-JS loop over a SharedArrayBuffer slot) rather than libuv's pool, whose threads
// blocked on /dev/fuse would starve DNS, fs and the reply writes. The main thread copies each
// request out and frees the slot at once, so reading never waits for the cluster; a large WRITE
// is not copied: its handler keeps the slot's buffer and the reader gets a new one (handed over
// before the slot is freed). Replies are one writevSync each (the kernel only copies them). A
// blocked read keeps the process from exiting: the connection must end (unmount or abort)
// first. Owns no file system logic.
import fs from 'node:fs';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { assert, type Logger } from '@antlerfs/protocol';
import { FUSE_MIN_READ_BUFFER, OUT_HEADER } from './kernel-abi.ts';
import { writeStruct } from './struct-codec.ts';

/** Reader threads (= reads outstanding on /dev/fuse) allowed. */
export const READERS_MAX = 16;

/** Slot states shared with a reader thread (Int32 word 0 of its buffer). */
const SLOT_FREE = 0;
const SLOT_FULL = 1;
const CONTROL_BYTES = 8;

/** Readers may start before mount(2) is done: they look again every 5 ms, for up to 30 s. */
const MOUNT_WAIT_MS = 5;
const MOUNT_WAITS_MAX = 6000;

// Runs in each reader thread: wait for the slot to be free, take the new buffer the main thread
// may have handed over (it kept the last one), read one request into it, tell the main thread
// its length. Plain JS (no loader in worker threads). EPERM means "not mounted yet"; errors
// other than the transient ones end the thread: ENODEV is the normal end (the file system was
// unmounted or the connection aborted).
const READER_SOURCE = `
const { parentPort, workerData, receiveMessageOnPort } = require('node:worker_threads');
const fs = require('node:fs');
const control = new Int32Array(workerData.control, 0, 2);
let data = new Uint8Array(workerData.data);
const pause = new Int32Array(new SharedArrayBuffer(4));
let unmountedWaits = 0;
for (;;) {
  // A wait may end before the slot is free (a wake-up not meant for it): only FREE goes on.
  while (Atomics.load(control, 0) === ${SLOT_FULL}) Atomics.wait(control, 0, ${SLOT_FULL});
  for (let m = receiveMessageOnPort(workerData.buffers); m !== undefined;
    m = receiveMessageOnPort(workerData.buffers)) {
    data = new Uint8Array(m.message);
  }
  let n;
  try {
    n = fs.readSync(workerData.fd, data, 0, data.length, null);
  } catch (err) {
    if (err.code === 'EINTR' || err.code === 'EAGAIN' || err.code === 'ENOENT') continue;
    if (err.code === 'EPERM' && Atomics.load(control, 1) === 0 &&
        unmountedWaits++ < ${MOUNT_WAITS_MAX}) {
      Atomics.wait(pause, 0, 0, ${MOUNT_WAIT_MS});
      continue;
    }
    parentPort.postMessage({ end: err.code || String(err) });
    break;
  }
  Atomics.store(control, 0, ${SLOT_FULL});
  parentPort.postMessage({ length: n });
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
  data: Buffer;
  /** Where new buffers go to the reader thread. */
  buffers: MessagePort;
  ended: boolean;
}

export class FuseDevice {
  readonly fd: number;
  private readonly log: Logger;
  private readers: Reader[] = [];
  private endReason: string | null = null;
  private closedFd = false;
  private bufferBytes = 0;
  /** Requests whose buffer a handler kept (a new one went to the reader). */
  buffersKept = 0;

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

  /** Starts `count` reader threads, each with a buffer of `bufferBytes`. */
  startReaders(count: number, bufferBytes: number, handlers: DeviceHandlers): void {
    assert(this.readers.length === 0, 'readers start once');
    assert(count >= 1 && count <= READERS_MAX, `reader count ${count} in 1..${READERS_MAX}`);
    assert(bufferBytes >= FUSE_MIN_READ_BUFFER, `read buffer ${bufferBytes} >= minimum`);
    this.bufferBytes = bufferBytes;
    for (let i = 0; i < count; i++) {
      const control = new SharedArrayBuffer(CONTROL_BYTES);
      const data = new SharedArrayBuffer(bufferBytes);
      const channel = new MessageChannel();
      const worker = new Worker(READER_SOURCE, {
        eval: true, workerData: { fd: this.fd, control, data, buffers: channel.port2 },
        transferList: [channel.port2], name: `fuse-reader-${i}`,
      });
      channel.port1.unref();
      const reader: Reader = {
        worker, control: new Int32Array(control, 0, 2), data: Buffer.from(data),
        buffers: channel.port1, ended: false,
      };
      worker.on('message', (m: { length?: number; end?: string }) => {
        if (m.length !== undefined) this.deliver(reader, m.length, handlers);
        else this.readerEnded(reader, m.end ?? 'unknown', handlers);
      });
      worker.on('error', (err) => {
        this.readerEnded(reader, `reader error: ${err.message}`, handlers);
      });
      worker.on('exit', () => this.readerEnded(reader, 'reader exited', handlers));
      this.readers.push(reader);
    }
  }

  private deliver(reader: Reader, length: number, handlers: DeviceHandlers): void {
    assert(Atomics.load(reader.control, 0) === SLOT_FULL, 'a delivered slot is full');
    try {
      if (handlers.onRequest(reader.data, length)) {
        // Handed over before the slot is freed, so the reader's next read goes into it.
        const fresh = new SharedArrayBuffer(this.bufferBytes);
        reader.buffers.postMessage(fresh);
        reader.data = Buffer.from(fresh);
        this.buffersKept++;
      }
    } finally {
      Atomics.store(reader.control, 0, SLOT_FREE);
      Atomics.notify(reader.control, 0);
    }
  }

  private readerEnded(reader: Reader, reason: string, handlers: DeviceHandlers): void {
    if (reader.ended) return;
    reader.ended = true;
    this.endReason ??= reason;
    if (reason !== 'ENODEV' && reason !== 'reader exited') {
      this.log.warn('fuse reader stopped', { reason });
    }
    if (this.readers.every((r) => r.ended)) handlers.onEnd(this.endReason);
  }

  /** The mount failed: readers still waiting for it stop (word 1 of each slot's control). */
  stopWaitingForMount(): void {
    for (const r of this.readers) Atomics.store(r.control, 1, 1);
  }

  /** True once every reader thread has stopped. */
  get ended(): boolean {
    return this.readers.length > 0 && this.readers.every((r) => r.ended);
  }

  /**
   * Writes one reply: header + `parts` in a single writev. Returns false when the kernel no
   * longer waits for it (the request was interrupted, or the file system is gone).
   */
  reply(unique: number, errno: number, parts: readonly Buffer[]): boolean {
    let bodyBytes = 0;
    for (const p of parts) bodyBytes += p.length;
    const header = Buffer.allocUnsafe(OUT_HEADER.sizeBytes);
    writeStruct(OUT_HEADER, {
      len: OUT_HEADER.sizeBytes + bodyBytes, error: -errno, unique,
    }, header, 0);
    return this.writeFrame([header, ...parts], `reply to ${unique}`);
  }

  /** Writes a notification (unique 0, error = the notify code). */
  notify(code: number, parts: readonly Buffer[]): boolean {
    return this.reply(0, -code, parts);
  }

  private writeFrame(frame: Buffer[], what: string): boolean {
    if (this.closedFd) return false;
    try {
      fs.writevSync(this.fd, frame);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOENT: the request is gone (interrupted); ENODEV: unmounted. Both are normal.
      if (code !== 'ENOENT' && code !== 'ENODEV') {
        this.log.error('fuse write failed', { what, error: (err as Error).message });
      }
      return false;
    }
  }

  /** Closes the descriptor once the readers are gone (a blocked read holds it). */
  close(): void {
    if (this.closedFd) return;
    assert(this.readers.every((r) => r.ended), 'no reader still reads the descriptor');
    this.closedFd = true;
    fs.closeSync(this.fd);
  }
}
