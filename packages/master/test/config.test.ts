// Goal: the config schema and etc/antler-master.cfg agree in both directions (every key, its
// default, its reload section), the uncommented file parses to the defaults, and bad values
// are refused with file:line. Method: read the real example file.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, PORT_MATOCL, parseConfigText, exampleFileProblems } from '@antlerfs/protocol';
import {
  MASTER_CONFIG_SCHEMA, configChanges, defaultMasterConfig, masterConfigFrom,
} from '../src/config.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const cfgFile = path.resolve(here, '../../../etc/antler-master.cfg');
const text = fs.readFileSync(cfgFile, 'utf8');

test('every schema key is in the example file, commented out, with its default', () => {
  assert.equal(exampleFileProblems(MASTER_CONFIG_SCHEMA, text), []);
});

test('the uncommented file parses to the defaults', () => {
  const uncommented = text.replace(/^# ([A-Z0-9_]+ = .*)$/gm, '$1');
  const values = parseConfigText(MASTER_CONFIG_SCHEMA, uncommented, cfgFile);
  assert.equal(masterConfigFrom(values), defaultMasterConfig());
  assert.is(defaultMasterConfig().clientPort, PORT_MATOCL);
});

test('bad values are refused with file:line and the range', () => {
  assert.throws(() => parseConfigText(MASTER_CONFIG_SCHEMA, 'DEFAULT_GOAL = 10\n', 'm.cfg'),
    (e: unknown) => e instanceof ConfigError &&
      /m\.cfg:1: DEFAULT_GOAL = 10 is outside 1\.\.9/.test(e.message));
  assert.throws(() => parseConfigText(MASTER_CONFIG_SCHEMA, '\nNO_SUCH_KEY = 1\n', 'm.cfg'),
    (e: unknown) => e instanceof ConfigError && /m\.cfg:2: unknown key/.test(e.message));
});

test('a reload splits changed keys by whether they apply without a restart', () => {
  const before = Object.fromEntries(MASTER_CONFIG_SCHEMA.map((k) => [k.key, k.default]));
  const after = { ...before, DELETIONS_PER_SECOND: 5, DATA_PATH: '/elsewhere' };
  assert.equal(configChanges(before, after), {
    reloadable: ['DELETIONS_PER_SECOND'], needRestart: ['DATA_PATH'],
  });
});

test.run();
