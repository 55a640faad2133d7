// Goal: the real antler-master binary loses no acknowledged change to SIGKILL: creates are
// acknowledged over a real Link with 8 in flight, the process is killed mid-stream, and a
// restart on the same DATA_PATH finds every acknowledged entry. Also: a clean SIGTERM writes
// a final dump, after which a restart replays nothing; --help and --version work. Method: the
// bin as a child process on port 0 with a temporary DATA_PATH.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CLTOMA_CREATE, CLTOMA_LOOKUP, CLTOMA_MKDIR, CLTOMA_READDIR, CLTOMA_REGISTER, Logger,
  PAYLOAD_MAX_CLIENT_MASTER_BYTES, PROTOCOL_VERSION, Status, connectLink, setLogLevel, type Link,
} from '@antlerfs/protocol';
import { removeTempDirs, tempDir } from './helpers.ts';

setLogLevel('error');
const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/antler-master');
const log = new Logger('test');
const READY_TIMEOUT_MS = 30_000;

interface Running {
  child: ChildProcess;
  ready: Record<string, string>;
  output: string[];
  exited: Promise<number | null>;
}

function startBin(dataPath: string): Promise<Running> {
  const child = spawn(bin, [
    '--data-path', dataPath, '--listen-host', '127.0.0.1', '--matocl-listen-port', '0',
    '--matocs-listen-port', '0', '--monitor-listen-port', '0',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const fail = (why: string): void => reject(new Error(`${why}:\n${output.join('')}`));
    const timer = setTimeout(() => fail('no ready line'), READY_TIMEOUT_MS);
    let partial = '';
    child.stdout!.on('data', (d: Buffer) => {
      partial += d.toString();
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        output.push(line + '\n');
        const m = / info  master ready (.*)$/.exec(line);
        if (m) {
          clearTimeout(timer);
          const pairs = m[1]!.split(' ').map((kv) => kv.split('=') as [string, string]);
          const ready = Object.fromEntries(pairs);
          resolve({ child, ready, output, exited });
        }
      }
    });
    child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      fail(`exited ${code} before ready`);
    });
  });
}

async function client(port: string): Promise<Link> {
  const link = await connectLink('127.0.0.1', Number(port), {
    kind: 'client-master', payloadMaxBytes: PAYLOAD_MAX_CLIENT_MASTER_BYTES, log,
  });
  await link.call(CLTOMA_REGISTER, { clientName: 'kill-test', protocolVersion: PROTOCOL_VERSION });
  return link;
}

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
        const create = { parent: dir.inode, name, mode: 0o644, uid: 0, gid: 0, exclusive: 1 };
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

test.after(removeTempDirs);
test.run();
