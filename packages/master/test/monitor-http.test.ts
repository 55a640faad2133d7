// Goal: the monitor answers GET /api/status (JSON) and GET / (HTML) with the master's state,
// GET /api/health with the chunk matrix, replication counters and servers, 404/405 for
// anything else, and survives hostile requests. Method: an in-process master on
// port 0, plain fetch and raw sockets.
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Logger, setLogLevel } from '@antlerfs/protocol';
import { defaultMasterConfig } from '../src/config.ts';
import { Master } from '../src/master.ts';
import type { MasterStatus, ProcessMemory } from '../src/monitor-http.ts';
import { FakeChunkserver } from './fake-chunkserver.ts';
import { removeTempDirs, tempDir } from './helpers.ts';

setLogLevel('warn');

function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    socket.on('data', (d) => { reply += d.toString(); });
    const timer = setTimeout(() => socket.destroy(), 2000);
    socket.on('error', () => resolve(reply));
    socket.on('close', () => { clearTimeout(timer); resolve(reply); });
    socket.on('connect', () => socket.write(bytes));
  });
}

test('status JSON and HTML; 404, 405; hostile input does not hurt', async () => {
  const config = defaultMasterConfig({
    dataPath: tempDir(), listenHost: '127.0.0.1', clientPort: 0, chunkserverPort: 0, monitorPort: 0,
    metaloggerPort: 0,
  });
  const m = new Master(config, { log: new Logger('test') });
  await m.start();
  const cs = await FakeChunkserver.start(m.ports.chunkserverPort);
  const base = `http://127.0.0.1:${m.ports.monitorPort}`;
  const res = await fetch(`${base}/api/status`);
  assert.is(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /json/);
  const status = await res.json() as MasterStatus & { memory: ProcessMemory };
  assert.ok(status.memory.rssBytes > 0 && status.memory.heapUsedBytes > 0, 'memory is reported');
  assert.ok(status.memory.heapUsedBytes <= status.memory.heapTotalBytes, 'heap used fits');
  assert.is(status.metaVersion, m.store.version);
  assert.is(status.inodes, 1);
  assert.is(status.dirs, 1);
  assert.is(status.chunkservers.length, 1);
  assert.is(status.chunkservers[0]!.state, 'online');
  assert.is(status.chunkservers[0]!.freeBytes, cs.freeBytes);
  assert.is(typeof status.changelog.fsyncs, 'number');
  assert.is(status.deletionQueue.length, 0);
  assert.is(status.clusterId, m.store.clusterId);
  assert.is(status.active, true);
  assert.equal(status.metaloggers, []);
  assert.equal([status.sync.required, status.sync.streaming], [0, 0]);
  const health = await (await fetch(`${base}/api/health`)).json() as {
    healthy: boolean; replication: { queue: number; running: number };
    chunkservers: { state: string; draining: boolean }[]; drains: number[];
  };
  assert.is(health.healthy, true);
  assert.equal([health.replication.queue, health.replication.running], [0, 0]);
  assert.equal(health.chunkservers.map((s) => [s.state, s.draining]), [['online', false]]);
  assert.equal(health.drains, []);
  const html = await (await fetch(`${base}/`)).text();
  assert.match(html, /<h1>antlerfs master/);
  assert.match(html, /127\.0\.0\.1:\d+/);
  assert.match(html, /<h2>Metaloggers<\/h2><p>synchronous mode: off/);
  assert.is((await fetch(`${base}/nope`)).status, 404);
  assert.is((await fetch(`${base}/api/status`, { method: 'POST', body: 'x' })).status, 405);
  assert.match(await raw(m.ports.monitorPort, 'GARBAGE\r\n\r\n'), /^HTTP\/1\.1 400/);
  const huge = `GET / HTTP/1.1\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`;
  assert.match(await raw(m.ports.monitorPort, huge), /^HTTP\/1\.1 431/);
  const traversal = 'GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
  assert.match(await raw(m.ports.monitorPort, traversal), /^HTTP\/1\.1 404/);
  assert.match(await raw(m.ports.monitorPort, '\u0000\u0001\u0002\r\n\r\n'), /^HTTP\/1\.1 400/);
  assert.is((await fetch(`${base}/api/status`)).status, 200, 'still serving');
  cs.close();
  await m.stop();
});

test.after(removeTempDirs);
test.run();
