// Goal: the CLI's argument parsing, exit statuses and error lines, and its commands end to end
// against fake daemons (in process, with captured stdout/stderr and temporary local files).
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseArgs, parseInteger, UsageError } from '../src/cli/args.ts';
import { runCli } from '../src/cli/main.ts';
import { formatMode } from '../src/cli/output.ts';
import { startFakeCluster, type FakeCluster } from './fake-cluster.ts';

let cluster: FakeCluster;
let tmp: string;

test.before(async () => {
  cluster = await startFakeCluster(3);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'antler-cli-'));
});

test.after(async () => {
  await cluster.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface Run { code: number; out: string; err: string; outBytes: Buffer }

async function antler(
  argv: string[], stdin: Buffer = Buffer.alloc(0),
  env: Record<string, string> = { ANTLER_MASTER: cluster.master.address },
): Promise<Run> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const outChunks: Buffer[] = [];
  const errChunks: Buffer[] = [];
  stdout.on('data', (c: Buffer) => outChunks.push(c));
  stderr.on('data', (c: Buffer) => errChunks.push(c));
  const code = await runCli(argv, {
    stdin: Readable.from([stdin]), stdout, stderr, env,
    stderrIsTty: false,
  });
  const outBytes = Buffer.concat(outChunks);
  return { code, out: outBytes.toString(), err: Buffer.concat(errChunks).toString(), outBytes };
}

test('parseArgs: long, short, grouped, values, "--" and "-"', () => {
  const specs = [
    { long: 'recursive', short: 'r', doc: '' }, { long: 'parents', short: 'p', doc: '' },
    { long: 'goal', short: 'g', value: 'N', doc: '' },
  ];
  const a = parseArgs(['-rp', 'x', '--goal=3', '-', '--', '-r'], specs);
  assert.equal([...a.flags], [['recursive', true], ['parents', true], ['goal', '3']]);
  assert.equal(a.positionals, ['x', '-', '-r']);
  assert.equal([...parseArgs(['-g5'], specs).flags], [['goal', '5']]);
  assert.equal([...parseArgs(['-g', '7'], specs).flags], [['goal', '7']]);
  assert.throws(() => parseArgs(['--nope'], specs), (e: unknown) => e instanceof UsageError);
  assert.throws(() => parseArgs(['-x'], specs), (e: unknown) => e instanceof UsageError);
  assert.throws(() => parseArgs(['--goal'], specs), (e: unknown) => e instanceof UsageError);
  assert.throws(() => parseArgs(['--recursive=1'], specs), (e: unknown) => e instanceof UsageError);
  assert.is(parseInteger('3', 'goal', 1, 9), 3);
  assert.throws(() => parseInteger('0', 'goal', 1, 9), (e: unknown) => e instanceof UsageError);
  assert.throws(() => parseInteger('2x', 'goal', 1, 9), (e: unknown) => e instanceof UsageError);
  assert.is(formatMode(2, 0o755), 'drwxr-xr-x');
  assert.is(formatMode(1, 0o4644), '-rwSr--r--');
});

test('usage errors exit 2, failures 1 with one error line, help and version 0', async () => {
  assert.is((await antler([])).code, 2);
  assert.is((await antler(['frob'])).code, 2);
  const missing = await antler(['put', 'only-one']);
  assert.is(missing.code, 2);
  assert.match(missing.err, /^antler: put: missing arguments/);
  assert.is((await antler(['setgoal', 'ten', '/x'])).code, 2);
  const help = await antler(['get', '--help']);
  assert.is(help.code, 0);
  assert.match(help.out, /usage: antler get REMOTE LOCAL/);
  assert.is((await antler(['help', 'ls'])).code, 0);
  assert.is((await antler(['--version'])).out, 'antler 0.1.0\n');
  const enoent = await antler(['stat', '/a/b']);
  assert.is(enoent.code, 1);
  assert.is(enoent.err, 'antler: ENOENT: No such file or directory: /a/b\n');
  const noMaster = await runCli(['-H', '127.0.0.1:1', 'ls'], {
    stdin: Readable.from([]), stdout: new PassThrough(),
    stderr: new PassThrough().on('data', () => undefined),
    env: {}, stderrIsTty: false,
  });
  assert.is(noMaster, 1);
});

test('put, get, cat, ls, stat, mkdir, mv, ln, rm -r, fileinfo, goals, df, servers', async () => {
  const local = path.join(tmp, 'data.bin');
  const data = crypto.randomBytes(3 * 1024 * 1024 + 5);
  fs.writeFileSync(local, data);
  assert.is((await antler(['mkdir', '-p', '/x/y'])).code, 0);
  assert.is((await antler(['put', local, '/x/y', '--goal', '2'])).code, 0); // into the directory
  assert.is((await antler(['put', '-', '/x/stdin.txt'], Buffer.from('from stdin'))).code, 0);
  const back = path.join(tmp, 'back.bin');
  assert.is((await antler(['get', '/x/y/data.bin', back])).code, 0);
  assert.ok(fs.readFileSync(back).equals(data));
  assert.ok((await antler(['get', '/x/y/data.bin', '-'])).outBytes.equals(data));
  assert.is((await antler(['cat', '/x/stdin.txt', '/x/stdin.txt'])).out, 'from stdinfrom stdin');
  assert.is((await antler(['ls', '/x'])).out, 'stdin.txt\ny\n');
  const long = (await antler(['ls', '-l', '/x/y'])).out;
  assert.match(long, /^-rw-r--r-- +1 .* 3145733 .* data\.bin\n$/);
  type Listed = { name: string; length: number }[];
  const listed = JSON.parse((await antler(['--json', 'ls', '/x/y'])).out) as Listed;
  assert.equal(listed.map((e) => [e.name, e.length]), [['data.bin', data.length]]);
  assert.is((await antler(['getgoal', '/x/y/data.bin'])).out, '/x/y/data.bin: 2\n');
  assert.match((await antler(['getgoal', '-r', '/x'])).out, /files with goal 2: 1/);
  assert.is((await antler(['setgoal', '3', '/x/stdin.txt'])).code, 0);
  assert.is(JSON.parse((await antler(['stat', '/x/stdin.txt', '--json'])).out).goal, 3);
  assert.is((await antler(['settrashtime', '0', '/x'])).code, 0);
  const info = await antler(['fileinfo', '/x/y/data.bin']);
  assert.match(info.out, /chunk 0: .*\n\t\tcopy 1: 127\.0\.0\.1:\d+ \(chunkserver \d\)\n/);
  assert.match(info.out, /\n\t\tcopy 2: /);
  assert.is((await antler(['mv', '/x/stdin.txt', '/x/y'])).code, 0);
  assert.is((await antler(['ln', '-s', 'y/stdin.txt', '/x/s'])).code, 0);
  assert.match((await antler(['stat', '/x/s'])).out, /path: \/x\/s -> y\/stdin\.txt/);
  assert.is((await antler(['cat', '/x/s'])).out, 'from stdin');
  assert.is((await antler(['ln', '/x/y/stdin.txt', '/x/hard'])).code, 0);
  const rmDir = await antler(['rm', '/x']);
  assert.is(rmDir.code, 1);
  assert.match(rmDir.err, /^antler: EISDIR: /);
  assert.is((await antler(['rmdir', '/x'])).code, 1);
  assert.is((await antler(['rm', '-r', '/x'])).code, 0);
  assert.is((await antler(['ls', '/'])).out, '');
  assert.match((await antler(['df'])).out, /chunkservers\n/);
  assert.is(JSON.parse((await antler(['df', '--json'])).out).chunkservers, 3);
  assert.is(JSON.parse((await antler(['chunkservers', '--json'])).out).length, 3);
});

test('put to a full cluster: a clear ENOSPC, nothing left in the namespace', async () => {
  const local = path.join(tmp, 'small.bin');
  fs.writeFileSync(local, crypto.randomBytes(1000));
  for (const s of cluster.servers) s.full = true;
  const r = await antler(['put', local, '/full.bin']);
  for (const s of cluster.servers) s.full = false;
  assert.is(r.code, 1);
  assert.match(r.err, /^antler: ENOSPC: No space left on device: \/full\.bin/);
  assert.is((await antler(['ls', '/'])).out, '');
  const missingLocal = await antler(['put', path.join(tmp, 'nope'), '/nope']);
  assert.is(missingLocal.code, 1);
  assert.match(missingLocal.err, /^antler: ENOENT: No such file or directory: local /);
});

test('metaloggers (table and JSON); a master list in -H and in ANTLER_MASTER', async () => {
  cluster.master.metaloggers = [
    { name: 'ml1', host: '10.0.0.5', ackedVersion: 40, lagVersions: 2, lagMs: 15, sync: 1 },
    { name: 'ml2', host: '10.0.0.6', ackedVersion: 42, lagVersions: 0, lagMs: 0, sync: 0 },
  ];
  const table = await antler(['metaloggers']);
  assert.is(table.code, 0);
  assert.match(table.out, /^master metadata version 42\nname +host +acked version +lag versions/);
  assert.match(table.out, /\nml1 +10\.0\.0\.5 +40 +2 +15 +yes\n/);
  assert.match(table.out, /\nml2 +10\.0\.0\.6 +42 +0 +0 +no\n$/);
  const json = JSON.parse((await antler(['--json', 'metaloggers'])).out) as unknown;
  assert.equal(json, {
    metaVersion: 42,
    metaloggers: [
      { name: 'ml1', host: '10.0.0.5', ackedVersion: 40, lagVersions: 2, lagMs: 15, sync: true },
      { name: 'ml2', host: '10.0.0.6', ackedVersion: 42, lagVersions: 0, lagMs: 0, sync: false },
    ],
  });
  cluster.master.metaloggers = [];
  assert.match((await antler(['metaloggers'])).out, /\nno metaloggers connected\n$/);
  // Nothing listens on port 1: the next master in the list is used.
  const list = `127.0.0.1:1,${cluster.master.address}`;
  const viaFlag = await antler(['-H', list, 'df', '--json'], Buffer.alloc(0), {});
  assert.is(viaFlag.code, 0, viaFlag.err);
  assert.is(JSON.parse(viaFlag.out).chunkservers, 3);
  const viaEnv = await antler(['df', '--json'], Buffer.alloc(0), { ANTLER_MASTER: list });
  assert.is(viaEnv.code, 0, viaEnv.err);
  assert.match((await antler(['--help'])).out, /-H, --host host:port\[,\.\.\.\]/);
});

test.run();
