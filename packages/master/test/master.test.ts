// Goal: the real antler-master binary loses no acknowledged change to SIGKILL: creates are
// acknowledged over a real Link with 8 in flight, the process is killed mid-stream, and a
// restart on the same DATA_PATH finds every acknowledged entry. Also: a clean SIGTERM writes
// a final dump, after which a restart replays nothing; --help and --version work. Method: the
// bin as a child process on port 0 with a temporary DATA_PATH.
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CLTOMA_CREATE, CLTOMA_LOOKUP, CLTOMA_MKDIR, CLTOMA_READDIR, Status, setLogLevel,
} from '@antlerfs/protocol';
import { removeTempDirs, tempDir } from './helpers.ts';
import {
  MASTER_BIN as bin, killAllMasters, registeredClient as client, startMaster as startBin,
} from './master-process.ts';

setLogLevel('error');

test('--help and --version', () => {
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  assert.is(version.status, 0);
  assert.is(version.stdout.trim(), 'antler-master 0.1.0');
  const help = spawnSync(bin, ['--help'], { encoding: 'utf8' });
  assert.is(help.status, 0);
  assert.match(help.stdout, /--data-path <string>.*DATA_PATH/);
  const bad = spawnSync(bin, ['--default-goal', '42'], { encoding: 'utf8' });
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /DEFAULT_GOAL = 42 is outside 1\.\.9/);
});

test('SIGKILL mid-stream loses no acknowledged create', async () => {
  const dataPath = tempDir();
  const first = await startBin(dataPath);
  assert.is(first.ready.metaVersion, '0', 'a new file system');
  const c = await client(first.ready.clientPort!);
  const mkdir = { parent: 1, name: 'd', mode: 0o755, uid: 0, gid: 0 };
  const dir = (await c.call(CLTOMA_MKDIR, mkdir)).body.attr;
  const acked: string[] = [];
  let next = 0;
  let killed = false;
  const worker = async (): Promise<void> => {
    for (let i = 0; i < 100_000 && !killed; i++) {
      const name = `f${next++}`;
      try {
        const create = {
          parent: dir.inode, name, mode: 0o644, uid: 0, gid: 0, exclusive: 1, promise: 0,
        };
        const r = await c.request(CLTOMA_CREATE, create);
        if (r.status === Status.OK) acked.push(name);
      } catch {
        return; // the link died with the process: this one was never acknowledged
      }
      if (acked.length === 400 && !killed) {
        killed = true;
        first.child.kill('SIGKILL');
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  assert.is(await first.exited, null, 'killed by a signal');
  c.close('done');
  assert.ok(acked.length >= 400);

  const second = await startBin(dataPath);
  assert.ok(Number(second.ready.metaVersion) >= acked.length + 1, 'the changelog was replayed');
  assert.ok(second.output.some((l) => /changelog replayed records=\d+/.test(l)));
  const c2 = await client(second.ready.clientPort!);
  for (const name of acked) {
    const r = await c2.request(CLTOMA_LOOKUP, { parent: dir.inode, name });
    assert.is(r.status, Status.OK, `${name} was acknowledged`);
  }
  const listed = await c2.call(CLTOMA_READDIR, { inode: dir.inode, cursor: '', entriesMax: 4096 });
  assert.ok(listed.body.entries.length >= acked.length);
  c2.close('done');

  second.child.kill('SIGTERM');
  assert.is(await second.exited, 0, 'a clean stop');
  assert.ok(second.output.some((l) => /metadata dump written why=stop/.test(l)));
  const third = await startBin(dataPath);
  const nothing = third.output.some((l) => /changelog replayed records=0 /.test(l));
  assert.ok(nothing, 'the dump held it all');
  assert.is(third.ready.metaVersion, second.ready.metaVersion);
  const stillConnected = await client(third.ready.clientPort!);
  third.child.kill('SIGTERM');
  assert.is(await third.exited, 0, 'a connected client does not hold up the stop');
  assert.ok(third.output.some((l) => /client session closed .*reason="master stopping"/.test(l)));
  stillConnected.close('done');
});

test.after(() => {
  killAllMasters();
  removeTempDirs();
});
test.run();
