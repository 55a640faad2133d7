// Loopback TCP into a file: one socket on 127.0.0.1 into a receiver thread that writes what
// arrives to a file in the order received (async writes on libuv's pool, a bounded number in
// flight, the socket paused past it) and fsyncs it at the end. Time runs from the first write
// until the fsync returned. It is the plain form of every write path here, whose bytes cross a
// socket to another process (or thread) that writes them: on a machine of few cores this bounds
// those paths well below the raw disk, whose writer copies each byte once where this copies it
// three times (into the socket, out of it, into the page cache).
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { assert } from '@antlerfs/protocol';
import type { Deadline } from '../deadline.ts';
import type { Progress } from '../progress.ts';
import { throughput, type Figure } from '../report.ts';
import { connect, send } from './loopback-tcp.ts';

/** File writes in flight in the receiver before it pauses the socket. */
const WRITES_INFLIGHT_MAX = 64;

export interface LoopbackDiskOptions {
  /** Folder of the file (the filesystem of the cluster's disks). */
  dir: string;
  totalBytes: number;
  deadline: Deadline;
  progress: Progress;
}

/** What the receiver thread posts: its port, progress, then its end. */
type ReceiverMessage =
  | { port: number }
  | { received: number }
  | { done: true; bytesWritten: number }
  | { error: string };

// Plain JS (no loader in worker threads). Posts { port } once listening, { received } every
// 64 MiB, then { done, bytesWritten } after the fsync, or { error }.
const RECEIVER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const net = require('node:net');
const { file, totalBytes, inflightMax } = workerData;
const fd = fs.openSync(file, 'w');
let received = 0;
let written = 0;
let writing = 0;
let reported = 0;
let finished = false;
const finish = (msg) => {
  if (finished) return;
  finished = true;
  fs.closeSync(fd);
  parentPort.postMessage(msg);
  server.close();
};
const server = net.createServer((socket) => {
  socket.on('error', (err) => finish({ error: 'receiver socket: ' + err.message }));
  socket.on('data', (chunk) => {
    const at = received;
    received += chunk.length;
    if (received - reported >= 64 << 20) {
      reported = received;
      parentPort.postMessage({ received });
    }
    writing++;
    if (writing >= inflightMax) socket.pause();
    fs.write(fd, chunk, 0, chunk.length, at, (err, n) => {
      writing--;
      if (err || n !== chunk.length) {
        finish({ error: err ? 'write: ' + err.message : 'short write ' + n + ' of ' + chunk.length });
        socket.destroy();
        return;
      }
      written += n;
      if (writing <= inflightMax / 2) socket.resume();
      if (written < totalBytes) return;
      fs.fsync(fd, (e) => {
        finish(e ? { error: 'fsync: ' + e.message } : { done: true, bytesWritten: written });
        socket.destroy();
      });
    });
  });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
`;

/** Runs the receiver; resolves its port, and `done` with the bytes it wrote and fsynced. */
function startReceiver(file: string, o: LoopbackDiskOptions): {
  port: Promise<number>; done: Promise<number>; worker: Worker;
} {
  const worker = new Worker(RECEIVER_SOURCE, {
    eval: true, name: 'loopback-disk-receiver',
    workerData: { file, totalBytes: o.totalBytes, inflightMax: WRITES_INFLIGHT_MAX },
  });
  let portOf!: (port: number) => void;
  let portFailed!: (err: Error) => void;
  let finish!: (bytes: number) => void;
  let doneFailed!: (err: Error) => void;
  const port = new Promise<number>((resolve, reject) => { portOf = resolve; portFailed = reject; });
  const done = new Promise<number>((resolve, reject) => { finish = resolve; doneFailed = reject; });
  done.catch(() => undefined); // a failure before the port is seen through `port`
  // Settled promises ignore later calls: the exit at terminate() after `done` changes nothing.
  const fail = (err: Error): void => {
    portFailed(err);
    doneFailed(err);
  };
  worker.on('message', (m: ReceiverMessage) => {
    if ('port' in m) portOf(m.port);
    else if ('received' in m) o.progress.update(m.received, o.totalBytes, 'MiB');
    else if ('done' in m) finish(m.bytesWritten);
    else fail(new Error(`loopback into disk: ${m.error}`));
  });
  worker.on('error', (err) => fail(err));
  worker.on('exit', (code) => fail(new Error(`loopback receiver exited (${code})`)));
  return { port, done, worker };
}

export async function measureLoopbackDisk(o: LoopbackDiskOptions): Promise<Figure> {
  assert(o.totalBytes > 0, 'moves some bytes');
  o.progress.begin('loopback tcp into a file (fsync at end)');
  const file = path.join(o.dir, 'loopback-disk.bin');
  const receiver = startReceiver(file, o);
  let timer: NodeJS.Timeout | undefined;
  try {
    const socket = await connect(await receiver.port);
    // A receiver's failure comes through `done`; its socket closing ends send().
    socket.on('error', () => undefined);
    try {
      const t0 = performance.now();
      await Promise.race([send(socket, o), receiver.done]);
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('loopback into disk timed out')),
          o.deadline.remainingMs());
      });
      const bytesWritten = await Promise.race([receiver.done, timeout]);
      const seconds = (performance.now() - t0) / 1000;
      const onDisk = fs.statSync(file).size;
      const t = throughput(o.totalBytes, seconds);
      o.progress.end(`${t.mbPerS.toFixed(0)} MB/s`);
      return { id: 'loopback-tcp.to-disk', kind: 'limit',
        label: 'loopback TCP into a file: a receiver thread writes what arrives, fsync at end',
        value: t.mbPerS, unit: 'MB/s', mibPerS: t.mibPerS, seconds, bytes: o.totalBytes,
        limitId: 'raw-disk.write',
        checks: [{ name: 'length', passed: bytesWritten === o.totalBytes && onDisk === o.totalBytes,
          detail: `${bytesWritten} bytes written, file of ${onDisk}, of ${o.totalBytes}` }] };
    } finally {
      socket.destroy();
    }
  } finally {
    clearTimeout(timer);
    await receiver.worker.terminate();
    fs.rmSync(file, { force: true });
  }
}
