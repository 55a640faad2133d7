// Goal: random, truncated and lying frames on every port of every daemon (master client,
// chunkserver and monitor ports, each chunkserver's data port) never take a daemon down: each
// one is still running afterwards, the chunkservers are still registered, the monitor answers,
// data written before is intact, and a proper client still writes and reads a file with the
// right sha256.
// Method: 3000 short connections from a seeded generator (random bytes, oversized lengths,
// garbage payloads under valid types, header-then-close, cut frames, other links' messages,
// lists claiming billions of entries, byte-at-a-time frames, well-formed messages with hostile
// values), 24 at a time.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  PAYLOAD_MAX_CLIENT_MASTER_BYTES, PAYLOAD_MAX_DATA_BYTES, PAYLOAD_MAX_MASTER_CHUNKSERVER_BYTES,
} from '@antlerfs/protocol';
import { HOST, startCluster } from '../harness/cluster.ts';
import { MIB, contentSha256 } from '../harness/data.ts';
import { isAlive, sendHostileTraffic, type HostileTarget } from '../harness/faults.ts';
import { readSha256, writeContent } from '../harness/files.ts';

const CONNECTIONS = 3000;
const PARALLEL = 24;

test('3000 hostile connections: every daemon survives and still serves', async () => {
  await using cluster = await startCluster({ chunkservers: 3 });
  const client = await cluster.client('before');
  const beforeBytes = 3 * MIB + 7;
  await writeContent(client, '/before', { seed: 81, sizeBytes: beforeBytes, goal: 3 });

  const m = cluster.master.ready;
  const targets: HostileTarget[] = [
    { name: 'master client port', host: HOST, port: Number(m.clientPort), link: 'client-master',
      payloadMaxBytes: PAYLOAD_MAX_CLIENT_MASTER_BYTES },
    { name: 'master chunkserver port', host: HOST, port: Number(m.chunkserverPort),
      link: 'master-chunkserver', payloadMaxBytes: PAYLOAD_MAX_MASTER_CHUNKSERVER_BYTES },
    { name: 'master monitor port', host: HOST, port: Number(m.monitorPort), link: 'client-master',
      payloadMaxBytes: PAYLOAD_MAX_CLIENT_MASTER_BYTES },
    ...cluster.chunkservers.map((cs): HostileTarget => ({
      name: `${cs.name} data port`, host: HOST, port: Number(cs.ready.dataPort), link: 'data',
      payloadMaxBytes: PAYLOAD_MAX_DATA_BYTES,
    })),
  ];
  const report = await sendHostileTraffic(targets, {
    seed: 82, connections: CONNECTIONS, parallel: PARALLEL,
  });
  assert.is(report.connections, CONNECTIONS);
  assert.ok(report.frames >= CONNECTIONS, `at least one frame per connection (${report.frames})`);

  for (const d of [cluster.master, ...cluster.chunkservers]) {
    assert.ok(isAlive(d.child), `${d.name} is still running (exit ${d.child.exitCode}, ` +
      `signal ${d.child.signalCode})`);
  }
  await cluster.waitForChunkservers();
  const monitor = await fetch(`http://${HOST}:${m.monitorPort}/api/status`);
  assert.is(monitor.status, 200, 'the monitor still answers');
  await monitor.arrayBuffer();
  const after = await cluster.client('after');
  const back = await readSha256(after, '/before');
  assert.is(back.sha256, contentSha256(81, beforeBytes), 'data written before is intact');
  const sizeBytes = 5 * MIB + 3;
  await writeContent(after, '/after', { seed: 83, sizeBytes, goal: 3 });
  const again = await readSha256(after, '/after');
  assert.is(again.sizeBytes, sizeBytes);
  assert.is(again.sha256, contentSha256(83, sizeBytes), 'a new write reads back');
});

test.run();
