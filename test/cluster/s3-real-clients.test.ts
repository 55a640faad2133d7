// Goal: the S3 clients people use work against antler-s3 unchanged: awscli (`aws s3`, `aws
// s3api`), s3cmd and rclone each make a bucket, upload and download a 100 MiB file (sha256
// equal), sync a folder of 200 small files, list by prefix, delete everything and remove the
// bucket; and an object written through S3 is the same file for the library, both ways.
// Method: the Debian programs as child processes with temporary configs (path style, the
// gateway's test key, no AWS_CA_BUNDLE) against a real gateway in front of a real cluster.
import { spawn } from 'node:child_process';
import fs, { createReadStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@antlerfs/client';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLI_TIMEOUT_MS, startCluster, type Cluster } from '../harness/cluster.ts';
import { MIB, contentPieces, contentSha256, streamSha256 } from '../harness/data.ts';
import { readSha256 } from '../harness/files.ts';
import { ACCESS_KEY, REGION, SECRET_KEY, startGateway,
  type Gateway } from './s3-gateway-harness.ts';

const BIG_BYTES = 100 * MIB;
const BIG_SEED = 31;
const SMALL_FILES = 200;

let cluster: Cluster;
let gateway: Gateway;
let fsClient: Client;
let work = '';
let bigFile = '';
let syncDir = '';
let bigSha = '';

interface Run { code: number; stdout: string; stderr: string }

/** Runs a program to its end (bounded by CLI_TIMEOUT_MS); its environment without AWS_* noise. */
function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('AWS_') && !k.startsWith('RCLONE_')) base[k] = v;
  }
  const child = spawn(cmd, args, { cwd: work, env: { ...base, HOME: work, ...env },
    stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const timer = setTimeout(() => child.kill('SIGKILL'), CLI_TIMEOUT_MS);
  return new Promise((resolve) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout,
        stderr: `cannot run ${cmd} (is it installed? scripts/test-deps.sh): ${err.message}` });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, stdout, stderr });
    });
  });
}

/** Runs and requires success; a failure shows the program's output and the gateway's log. */
async function ok(cmd: string, args: string[], env?: Record<string, string>): Promise<string> {
  const r = await run(cmd, args, env);
  if (r.code !== 0) {
    assert.unreachable(`${cmd} ${args.join(' ')} exited ${r.code}\n` +
      `stdout: ${r.stdout.slice(-2000)}\n` +
      `stderr: ${r.stderr.slice(-3000)}\n--- gateway log:\n${gateway.logTail()}`);
  }
  return r.stdout;
}

async function fileSha(file: string): Promise<string> {
  return (await streamSha256(createReadStream(file))).sha256;
}

test.before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'antler-s3-clients-'));
  bigFile = path.join(work, 'big.bin');
  const out = fs.createWriteStream(bigFile);
  for (const piece of contentPieces(BIG_SEED, BIG_BYTES)) {
    if (!out.write(piece)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve,
    reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  bigSha = contentSha256(BIG_SEED, BIG_BYTES);
  syncDir = path.join(work, 'sync');
  for (let i = 0; i < SMALL_FILES; i++) {
    const dir = path.join(syncDir, `sub${i % 2}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `f${String(i).padStart(3, '0')}.txt`),
      `file ${i}\n`.repeat(1 + (i % 50)));
  }
  cluster = await startCluster({ chunkservers: 1, masterArgs: ['--matoml-listen-port', '0'] });
  gateway = await startGateway(cluster);
  fsClient = await cluster.client('s3-real-clients');
});

test.after(async () => {
  await gateway?.stop();
  await cluster?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

/** Names of the files under the bucket's folder, as the library sees them. */
async function filesIn(dir: string): Promise<string[]> {
  return (await fsClient.readdir(dir)).map((e) => e.name).sort();
}

test('awscli: aws s3 and aws s3api', async () => {
  const conf = path.join(work, 'aws-config');
  const creds = path.join(work, 'aws-credentials');
  fs.writeFileSync(conf, `[default]\nregion = ${REGION}\n`);
  fs.writeFileSync(creds,
    `[default]\naws_access_key_id = ${ACCESS_KEY}\naws_secret_access_key = ${SECRET_KEY}\n`);
  const env = { AWS_CONFIG_FILE: conf, AWS_SHARED_CREDENTIALS_FILE: creds,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '' };
  const aws = (...args: string[]): Promise<string> =>
    ok('/usr/bin/aws', ['--endpoint-url', gateway.endpoint, '--no-cli-pager', ...args], env);
  await aws('s3', 'mb', 's3://awscli-bucket');
  await aws('s3', 'cp', '--only-show-errors', bigFile, 's3://awscli-bucket/big/file.bin');
  assert.is((await readSha256(fsClient, '/s3/awscli-bucket/big/file.bin')).sha256, bigSha,
    'library reads it');
  const down = path.join(work, 'aws-down.bin');
  await aws('s3', 'cp', '--only-show-errors', 's3://awscli-bucket/big/file.bin', down);
  assert.is(await fileSha(down), bigSha);
  fs.rmSync(down);
  await aws('s3', 'sync', '--only-show-errors', syncDir, 's3://awscli-bucket/sync/');
  const top = await aws('s3', 'ls', 's3://awscli-bucket/sync/');
  assert.match(top, /PRE sub0\//);
  assert.match(top, /PRE sub1\//);
  const listed = JSON.parse(await aws('s3api', 'list-objects-v2', '--bucket', 'awscli-bucket',
    '--prefix', 'sync/sub1/', '--output', 'json')) as { Contents: { Key: string }[] };
  assert.is(listed.Contents.length, SMALL_FILES / 2);
  assert.equal((await filesIn('/s3/awscli-bucket/sync/sub0')).length, SMALL_FILES / 2);
  // A file written by the library downloads through S3.
  await fsClient.writeFile('/s3/awscli-bucket/from-library.txt',
    Buffer.from('written by the library\n'));
  assert.is(await aws('s3', 'cp', 's3://awscli-bucket/from-library.txt', '-'),
    'written by the library\n');
  const head = JSON.parse(await aws('s3api', 'head-object', '--bucket', 'awscli-bucket', '--key',
    'big/file.bin', '--output', 'json')) as { ContentLength: number };
  assert.is(head.ContentLength, BIG_BYTES);
  await aws('s3', 'rm', '--only-show-errors', '--recursive', 's3://awscli-bucket');
  await aws('s3', 'rb', 's3://awscli-bucket');
  assert.not.ok((await filesIn('/s3')).includes('awscli-bucket'), 'the bucket folder is gone');
});

test('s3cmd: path style', async () => {
  const cfg = path.join(work, 's3cfg');
  fs.writeFileSync(cfg, [
    '[default]', `access_key = ${ACCESS_KEY}`, `secret_key = ${SECRET_KEY}`,
    `host_base = 127.0.0.1:${gateway.port}`, `host_bucket = 127.0.0.1:${gateway.port}`,
    'use_https = False', 'signature_v2 = False', `bucket_location = ${REGION}`,
      'progress_meter = False',
    '',
  ].join('\n'));
  const s3cmd = (...args: string[]): Promise<string> => ok('s3cmd', ['-c', cfg, ...args]);
  await s3cmd('mb', 's3://s3cmd-bucket');
  await s3cmd('put', bigFile, 's3://s3cmd-bucket/big.bin');
  const down = path.join(work, 's3cmd-down.bin');
  await s3cmd('get', 's3://s3cmd-bucket/big.bin', down);
  assert.is(await fileSha(down), bigSha);
  fs.rmSync(down);
  await s3cmd('sync', `${syncDir}/`, 's3://s3cmd-bucket/sync/');
  const sub0 = await s3cmd('ls', 's3://s3cmd-bucket/sync/sub0/');
  assert.is(sub0.trim().split('\n').length, SMALL_FILES / 2);
  const top = await s3cmd('ls', 's3://s3cmd-bucket/sync/');
  assert.match(top, /DIR\s+s3:\/\/s3cmd-bucket\/sync\/sub1\//);
  await s3cmd('del', '--recursive', '--force', 's3://s3cmd-bucket');
  await s3cmd('rb', 's3://s3cmd-bucket');
  assert.not.ok((await filesIn('/s3')).includes('s3cmd-bucket'));
});

test('rclone: path style, list version 2', async () => {
  const env = {
    RCLONE_CONFIG_GW_TYPE: 's3', RCLONE_CONFIG_GW_PROVIDER: 'Other',
    RCLONE_CONFIG_GW_ENDPOINT: gateway.endpoint, RCLONE_CONFIG_GW_FORCE_PATH_STYLE: 'true',
    RCLONE_CONFIG_GW_ACCESS_KEY_ID: ACCESS_KEY, RCLONE_CONFIG_GW_SECRET_ACCESS_KEY: SECRET_KEY,
    RCLONE_CONFIG_GW_REGION: REGION, RCLONE_CONFIG_GW_LIST_VERSION: '2',
  };
  const rclone = (...args: string[]): Promise<string> =>
    ok('rclone', ['--config', path.join(work, 'rclone.conf'), '--retries', '1', ...args], env);
  await rclone('mkdir', 'gw:rclone-bucket');
  await rclone('copyto', bigFile, 'gw:rclone-bucket/big.bin');
  const down = path.join(work, 'rclone-down.bin');
  await rclone('copyto', 'gw:rclone-bucket/big.bin', down);
  assert.is(await fileSha(down), bigSha);
  fs.rmSync(down);
  await rclone('sync', syncDir, 'gw:rclone-bucket/sync');
  await rclone('check', syncDir, 'gw:rclone-bucket/sync');
  const sub1 = (await rclone('lsf', 'gw:rclone-bucket/sync/sub1')).trim().split('\n');
  assert.is(sub1.length, SMALL_FILES / 2);
  assert.equal((await rclone('lsf', '--dirs-only', 'gw:rclone-bucket/sync')).trim().split('\n'),
    ['sub0/', 'sub1/']);
  await rclone('delete', 'gw:rclone-bucket');
  await rclone('rmdir', 'gw:rclone-bucket');
  assert.not.ok((await filesIn('/s3')).includes('rclone-bucket'));
});

test.run();
