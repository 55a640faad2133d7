// Goal: the config schema and the example etc/antler-chunkserver.cfg agree in both directions
// (every key listed with its default, nothing extra), the example parses once uncommented, and
// derived values (advertise host, folders) and bad values behave as documented.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ConfigError, Logger, parseBytes, parseConfigText, setLogLevel, type ConfigValues,
} from '@antlerfs/protocol';
import { openFilesLimit, openFilesWithin } from '../src/chunkserver.ts';
import {
  CHUNKSERVER_SCHEMA, chunkserverConfig, defaultChunkserverConfig, parseMasters,
} from '../src/config.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const exampleFile = path.resolve(here, '../../../etc/antler-chunkserver.cfg');

test('the example file lists every key with its default, and only those', () => {
  const text = fs.readFileSync(exampleFile, 'utf8');
  const listed = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^# ([A-Z0-9_]+) =\s*(.*)$/.exec(line);
    if (m) listed.set(m[1]!, m[2]!.trim());
  }
  assert.equal([...listed.keys()].sort(), CHUNKSERVER_SCHEMA.map((k) => k.key).sort());
  for (const k of CHUNKSERVER_SCHEMA) {
    const shown = listed.get(k.key)!;
    const value = k.type === 'bytes' ? parseBytes(shown) : k.type === 'int' ? Number(shown)
      : k.type === 'bool' ? shown === 'yes' : shown;
    assert.is(value, k.default, `${k.key} default`);
  }
  const uncomment = (l: string): string => (/^# [A-Z0-9_]+ =/.test(l) ? l.slice(2) : l);
  const uncommented = text.split('\n').map(uncomment).join('\n');
  const values = parseConfigText(CHUNKSERVER_SCHEMA, uncommented, exampleFile);
  assert.is(Object.keys(values).length, CHUNKSERVER_SCHEMA.length);
});

test('defaults and derived values', () => {
  const c = defaultChunkserverConfig();
  assert.is(c.listenPort, 9422);
  assert.equal(c.masters, [{ host: '127.0.0.1', port: 9420 }]);
  assert.is(c.replicationsMax, 2);
  assert.is(c.replicationBytesPerSecond, 0);
  assert.is(c.scrubBytesPerSecond, 8 * 1024 * 1024);
  assert.is(c.hddReserveBytes, 1024 ** 3);
  assert.is(c.advertiseHost, '127.0.0.1', 'listening on 0.0.0.0 advertises loopback');
  assert.equal(c.hddPaths, []);
  assert.is(c.hddDropWrittenCache, true);
  const values: ConfigValues = {};
  for (const k of CHUNKSERVER_SCHEMA) values[k.key] = k.default;
  values.CSSERV_LISTEN_HOST = '10.1.2.3';
  values.HDD_PATHS = ' /a , /b,,';
  const d = chunkserverConfig(values);
  assert.is(d.advertiseHost, '10.1.2.3');
  assert.equal(d.hddPaths, ['/a', '/b']);
  values.ADVERTISE_HOST = 'cs1.example';
  assert.is(chunkserverConfig(values).advertiseHost, 'cs1.example');
  values.LOG_LEVEL = 'loud';
  assert.throws(() => chunkserverConfig(values),
    (e: Error) => e instanceof ConfigError && /LOG_LEVEL/.test(e.message));
});

test('out-of-range and unknown keys name the file and line', () => {
  assert.throws(() => parseConfigText(CHUNKSERVER_SCHEMA, 'OPEN_FILES_MAX = 1\n', 'x.cfg'),
    (e: Error) => /x\.cfg:1/.test(e.message) && /OPEN_FILES_MAX/.test(e.message));
  assert.throws(() => parseConfigText(CHUNKSERVER_SCHEMA, '\nNO_SUCH_KEY = 1\n', 'x.cfg'),
    (e: Error) => /x\.cfg:2/.test(e.message));
});

test('MASTER_HOST: one master or a list, ports defaulting to MASTER_PORT', () => {
  assert.equal(parseMasters('m1', 9420), [{ host: 'm1', port: 9420 }]);
  assert.equal(parseMasters(' m1 , m2:9430,[fd00::3]:7, [::1], fe80::1 ,', 9420), [
    { host: 'm1', port: 9420 }, { host: 'm2', port: 9430 }, { host: 'fd00::3', port: 7 },
    { host: '::1', port: 9420 }, { host: 'fe80::1', port: 9420 },
  ]);
  for (const bad of ['', ' , ', 'm1:0', 'm1:70000', 'm1:x', 'm1:']) {
    assert.throws(() => parseMasters(bad, 9420), (e: Error) => e instanceof ConfigError, bad);
  }
  const values: ConfigValues = {};
  for (const k of CHUNKSERVER_SCHEMA) values[k.key] = k.default;
  values.MASTER_HOST = 'a,b:1';
  values.MASTER_PORT = 5;
  assert.equal(chunkserverConfig(values).masters, [{ host: 'a', port: 5 }, { host: 'b', port: 1 }]);
});

test('OPEN_FILES_MAX stays within half the open descriptor limit', () => {
  setLogLevel('error');
  const log = new Logger('test');
  assert.is(openFilesWithin(4096, 20_000, log), 4096);
  assert.is(openFilesWithin(4096, null, log), 4096, 'limit unknown: as configured');
  assert.is(openFilesWithin(4096, 1024, log), 512);
  assert.is(openFilesWithin(4096, 6, log), 4, 'never below the schema minimum');
  const limit = openFilesLimit();
  assert.ok(limit !== null && limit > 0, `this process's limit read: ${limit}`);
});

test.run();
