// Goal: the antler-s3 config schema and etc/antler-s3.cfg agree in both directions (every key
// with its default, in its reload section), the uncommented file parses to the defaults, bad
// values are refused with file:line, and the credentials file format is checked the same way.
// Method: read the real example file; parse texts.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, parseConfigText, exampleFileProblems } from '@antlerfs/protocol';
import { defaultS3Config, S3_CONFIG_SCHEMA, s3ConfigFrom } from '../src/s3/config.ts';
import { CredentialsError, parseCredentials } from '../src/s3/credentials.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const cfgFile = path.resolve(here, '../../../etc/antler-s3.cfg');
const text = fs.readFileSync(cfgFile, 'utf8');

test('every schema key is in the example file, commented out, with its default', () => {
  assert.equal(exampleFileProblems(S3_CONFIG_SCHEMA, text), []);
});

test('the uncommented file parses to the defaults', () => {
  const uncommented = text.replace(/^# ([A-Z0-9_]+ = .*)$/gm, '$1');
  const values = parseConfigText(S3_CONFIG_SCHEMA, uncommented, cfgFile);
  const full = Object.fromEntries(S3_CONFIG_SCHEMA.map((k) => [k.key, values[k.key] ?? k.default]));
  assert.equal(s3ConfigFrom(full), defaultS3Config());
  assert.equal([defaultS3Config().listenPort, defaultS3Config().root], [9000, '/s3']);
});

test('bad values are refused with file:line; the root is normalised', () => {
  assert.throws(() => parseConfigText(S3_CONFIG_SCHEMA, 'S3_PARTS_MAX = 10001\n', 's.cfg'),
    (e: unknown) => e instanceof ConfigError &&
      /s\.cfg:1: S3_PARTS_MAX = 10001 is outside/.test(e.message));
  assert.throws(() => parseConfigText(S3_CONFIG_SCHEMA, '\nS3_NOPE = 1\n', 's.cfg'),
    (e: unknown) => e instanceof ConfigError && /s\.cfg:2: unknown key/.test(e.message));
  const d = Object.fromEntries(S3_CONFIG_SCHEMA.map((k) => [k.key, k.default]));
  assert.is(s3ConfigFrom({ ...d, S3_ROOT: '//data/s3/' }).root, '/data/s3');
  assert.equal(s3ConfigFrom({ ...d, S3_ANONYMOUS_READ: ' a, b ,,' }).anonymousReadBuckets, ['a',
    'b']);
});

test('credentials: one key pair per line, comments, duplicates and junk refused', () => {
  const keys = parseCredentials('# keys\nAKID1 secret/one\n\n  AKID2\tsecret+two  # note\n', 'c');
  assert.equal([...keys], [['AKID1', 'secret/one'], ['AKID2', 'secret+two']]);
  assert.throws(() => parseCredentials('AKID1 a b\n', 'c'),
    (e: unknown) => e instanceof CredentialsError && /c:1:/.test(e.message));
  assert.throws(() => parseCredentials('AKID1 a\nAKID1 b\n', 'c'),
    (e: unknown) => e instanceof CredentialsError &&
      /c:2: access key AKID1 repeats/.test(e.message));
  assert.throws(() => parseCredentials('a b\n', 'c'),
    (e: unknown) => e instanceof CredentialsError);
});

test('the binary answers --version and --help, and refuses a bad credentials file', () => {
  const bin = path.resolve(here, '../bin/antler-s3');
  const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  const version = run('--version');
  assert.equal([version.status, version.stdout], [0, 'antler-s3 0.1.0\n']);
  const help = run('--help');
  assert.is(help.status, 0);
  for (const k of S3_CONFIG_SCHEMA) assert.match(help.stdout, k.key);
  const bad = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'antler-s3-config-')), 'creds');
  fs.writeFileSync(bad, 'only-one-field\n');
  const refused = run('--s3-credentials-file', bad);
  assert.is(refused.status, 2);
  assert.match(refused.stderr, `${bad}:1: expected`);
  fs.rmSync(path.dirname(bad), { recursive: true, force: true });
});

test.run();
