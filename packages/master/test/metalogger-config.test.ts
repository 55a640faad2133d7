// Goal: the metalogger's config schema and etc/antler-metalogger.cfg agree in both directions
// (every key, its default, its reload section), the uncommented file parses to the defaults,
// MASTER_HOST lists parse with their ports and bad entries are refused with the reason.
// Method: read the real example file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, PORT_MATOML, parseConfigText, exampleFileProblems } from '@antlerfs/protocol';
import {
  MASTER_HOSTS_MAX, METALOGGER_CONFIG_SCHEMA, defaultMetaloggerConfig, metaloggerConfigChanges,
  metaloggerConfigFrom, parseMasterHosts,
} from '../src/metalogger/config.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const cfgFile = path.resolve(here, '../../../etc/antler-metalogger.cfg');
const text = fs.readFileSync(cfgFile, 'utf8');

test('every schema key is in the example file, commented out, with its default', () => {
  assert.equal(exampleFileProblems(METALOGGER_CONFIG_SCHEMA, text), []);
  assert.ok(text.split('\n').every((l) => l.length <= 100), 'lines fit 100 columns');
});

test('the uncommented file parses to the defaults', () => {
  const uncommented = text.replace(/^# ([A-Z0-9_]+ =.*)$/gm, '$1');
  const values = parseConfigText(METALOGGER_CONFIG_SCHEMA, uncommented, cfgFile);
  const config = metaloggerConfigFrom(values);
  assert.equal(config, defaultMetaloggerConfig());
  assert.equal(config.masters, [{ host: '127.0.0.1', port: PORT_MATOML }]);
  assert.is(config.name, os.hostname(), 'an empty METALOGGER_NAME is the host name');
  assert.is(config.dataPath, '/var/lib/antlerfs/metalogger');
});

test('MASTER_HOST: a list of host[:port], the port defaulting to MASTER_PORT', () => {
  assert.equal(parseMasterHosts('m1, m2:9500 ,[::1]:9419,10.0.0.5', 9419), [
    { host: 'm1', port: 9419 }, { host: 'm2', port: 9500 }, { host: '::1', port: 9419 },
    { host: '10.0.0.5', port: 9419 },
  ]);
  const reason = (hosts: string): string =>
    (parseMasterHosts(hosts, 1) as { invalid: string }).invalid;
  assert.is(reason('a:b:c'), 'MASTER_HOST entry "a:b:c" is not host[:port]');
  assert.match(reason('m:70000'), /outside 1\.\.65535/);
  assert.match(reason(' , '), /names no master/);
  assert.match(reason(Array.from({ length: MASTER_HOSTS_MAX + 1 }, (_, i) => `m${i}`).join(',')),
    /at most/);
  const values = Object.fromEntries(METALOGGER_CONFIG_SCHEMA.map((k) => [k.key, k.default]));
  assert.throws(() => metaloggerConfigFrom({ ...values, MASTER_HOST: 'x y' }), /not host/);
});

test('bad values are refused with file:line; a reload splits the changed keys', () => {
  assert.throws(() => parseConfigText(METALOGGER_CONFIG_SCHEMA, 'BACK_LOGS = 0\n', 'l.cfg'),
    (e: unknown) => e instanceof ConfigError &&
      /l\.cfg:1: BACK_LOGS = 0 is outside 1\.\./.test(e.message));
  const before = Object.fromEntries(METALOGGER_CONFIG_SCHEMA.map((k) => [k.key, k.default]));
  const after = { ...before, BACK_LOGS: 5, MASTER_HOST: 'elsewhere' };
  assert.equal(metaloggerConfigChanges(before, after), {
    reloadable: ['BACK_LOGS'], needRestart: ['MASTER_HOST'],
  });
});

test.run();
