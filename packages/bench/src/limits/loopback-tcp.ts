// Loopback TCP limit: one node:net socket pair on 127.0.0.1 moving a fixed number of bytes in
// 1 MiB writes, honouring backpressure. Time runs from the first write until the receiver has
// every byte: the ceiling of any single client-to-chunkserver stream on this machine.
import net from 'node:net';
import { assert } from '@antlerfs/protocol';
import type { Deadline } from '../deadline.ts';
import type { Progress } from '../progress.ts';
import { throughput, type Figure } from '../report.ts';

const WRITE_SIZE_BYTES = 1024 * 1024;

export interface LoopbackOptions {
  totalBytes: number;
  deadline: Deadline;
  progress: Progress;
}

function listen(onData: (n: number) => void): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.on('data', (chunk: Buffer) => onData(chunk.length));
    socket.on('error', () => socket.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

export function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
  });
}

/** Sends `totalBytes` in 1 MiB writes, waiting for drain when the socket asks to. */
export async function send(
  socket: net.Socket, o: Pick<LoopbackOptions, 'totalBytes' | 'deadline'>,
): Promise<void> {
  const block = Buffer.alloc(WRITE_SIZE_BYTES, 0x5a);
  const count = Math.ceil(o.totalBytes / WRITE_SIZE_BYTES);
  for (let i = 0; i < count; i++) {
    o.deadline.check();
    const n = Math.min(WRITE_SIZE_BYTES, o.totalBytes - i * WRITE_SIZE_BYTES);
    if (!socket.write(n === WRITE_SIZE_BYTES ? block : block.subarray(0, n))) {
      await new Promise<void>((resolve, reject) => {
        const settle = (err?: Error): void => {
          clearTimeout(timer);
          socket.off('drain', onDrain).off('close', onClose);
          if (err) reject(err);
          else resolve();
        };
        const onDrain = (): void => settle();
        // The receiver went away (it failed): no drain comes.
        const onClose = (): void => settle(new Error('loopback socket closed while sending'));
        const timer = setTimeout(() => settle(new Error('loopback drain timed out')),
          o.deadline.remainingMs());
        socket.on('drain', onDrain).on('close', onClose);
      });
    }
  }
}

export async function measureLoopbackTcp(o: LoopbackOptions): Promise<Figure> {
  assert(o.totalBytes > 0, 'moves some bytes');
  o.progress.begin('loopback tcp');
  let received = 0;
  let finish: () => void = () => undefined;
  const allReceived = new Promise<void>((resolve) => { finish = resolve; });
  const server = await listen((n) => {
    received += n;
    o.progress.update(received, o.totalBytes, 'MiB');
    if (received >= o.totalBytes) finish();
  });
  const port = (server.address() as net.AddressInfo).port;
  const socket = await connect(port);
  try {
    const t0 = performance.now();
    await send(socket, o);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('loopback receive timed out')),
        o.deadline.remainingMs());
    });
    await Promise.race([allReceived, timeout]).finally(() => clearTimeout(timer));
    const seconds = (performance.now() - t0) / 1000;
    assert(received === o.totalBytes, `received ${received} of ${o.totalBytes} bytes`);
    const t = throughput(o.totalBytes, seconds);
    o.progress.end(`${t.mbPerS.toFixed(0)} MB/s`);
    return { id: 'loopback-tcp', kind: 'limit', label: 'loopback TCP, one socket, 1 MiB writes',
      value: t.mbPerS, unit: 'MB/s', mibPerS: t.mibPerS, seconds, bytes: o.totalBytes };
  } finally {
    socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
