// Goal: antler-mount's settings: the schema and etc/antler-mount.cfg agree in both directions;
// -H, -o (timeouts in seconds, aliases, booleans, fstab words), -u, -f and -d become what the
// config loader understands; master lists get their default port; bad input is a ConfigError.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ConfigError, loadConfig, parseBytes, parseConfigText, type ConfigValues,
} from '@antlerfs/protocol';
import {
  masterAddress, MOUNT_SCHEMA, mountConfig, mountOptionFlags, parseCommand,
} from '../src/fuse/mount-options.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const cfgFile = path.resolve(here, '../../../etc/antler-mount.cfg');
const info = { name: 'antler-mount', version: '0.1.0', summary: 's', usage: 'u' };

test('etc/antler-mount.cfg lists every key with its default, and only those', () => {
  const text = fs.readFileSync(cfgFile, 'utf8');
  const listed = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^# ([A-Z0-9_]+) =\s*(.*)$/.exec(line);
    if (m) listed.set(m[1]!, m[2]!.trim());
  }
  assert.equal([...listed.keys()].sort(), MOUNT_SCHEMA.map((k) => k.key).sort());
  for (const k of MOUNT_SCHEMA) {
    const shown = listed.get(k.key)!;
    const value = k.type === 'bytes' ? parseBytes(shown)
      : k.type === 'int' ? Number(shown)
        : k.type === 'bool' ? shown === 'yes' : shown;
    assert.is(value, k.default, `${k.key} default`);
  }
  const uncommented = text.split('\n')
    .map((l) => (/^# [A-Z0-9_]+ =/.test(l) ? l.slice(2) : l)).join('\n');
  const values = parseConfigText(MOUNT_SCHEMA, uncommented, cfgFile);
  assert.is(Object.keys(values).length, MOUNT_SCHEMA.length);
});

test('-H, -o, -u, -f and -d', () => {
  const c = parseCommand(['/mnt/a', '-H', 'm1:9500', '-o', 'attr_timeout=1.5,ro,debug', '-f',
    '-oentry_timeout=0,allow_other=no,nonempty,defaults,_netdev', '-d']);
  assert.is(c.unmount, null);
  const loaded = loadConfig(info, MOUNT_SCHEMA, c.configArgs);
  assert.equal(loaded.positionals, ['/mnt/a']);
  const config = mountConfig(loaded.values, loaded.positionals[0]!);
  assert.is(config.master, 'm1:9500');
  assert.is(config.attrTimeoutMs, 1500);
  assert.is(config.entryTimeoutMs, 0);
  assert.is(config.readOnly, true);
  assert.is(config.allowOther, false);
  assert.is(config.nonempty, true);
  assert.is(config.debug, true);
  assert.is(config.logLevel, 'debug');
  assert.is(loaded.source.ATTR_TIMEOUT_MS, 'flag');
  assert.is(parseCommand(['-u', '/mnt/a']).unmount, '/mnt/a');
});

test('defaults', () => {
  const loaded = loadConfig(info, MOUNT_SCHEMA, ['/m']);
  const c = mountConfig(loaded.values, '/m');
  assert.equal([c.master, c.attrTimeoutMs, c.entryTimeoutMs, c.negativeTimeoutMs],
    ['127.0.0.1:9421', 1000, 1000, 0]);
  assert.equal([c.allowOther, c.readOnly, c.devicePoll, c.readers, c.maxWriteBytes],
    [true, false, true, 4, 1024 * 1024]);
});

test('option spellings and master lists', () => {
  assert.equal(mountOptionFlags('readers=8,max_write=512K,read_ahead=0,rw,master=h:1'), [
    '--fuse-readers', '8', '--max-write-bytes', '512K', '--read-ahead-bytes', '0',
    '--read-only', 'no', '--master-host', 'h:1',
  ]);
  assert.equal(mountOptionFlags('log_level=warn'), ['--log-level', 'warn']);
  assert.equal(mountOptionFlags('poll=no'), ['--fuse-poll', 'no']);
  assert.equal(mountOptionFlags('poll'), ['--fuse-poll', 'yes']);
  assert.is(masterAddress('a, b:7,[::1],fe80::2', 9421), 'a:9421,b:7,[::1]:9421,[fe80::2]:9421');
});

test('bad input is a ConfigError naming what is wrong', () => {
  const bad: [() => unknown, RegExp][] = [
    [() => mountOptionFlags('frobnicate'), /unknown mount option frobnicate/],
    [() => mountOptionFlags('attr_timeout=soon'), /takes seconds/],
    [() => mountOptionFlags('attr_timeout'), /needs a value/],
    [() => parseCommand(['-H']), /-H needs a value/],
    [() => loadConfig(info, MOUNT_SCHEMA, ['--fuse-readers', '99']), /FUSE_READERS/],
  ];
  for (const [fn, message] of bad) {
    assert.throws(fn, (e: Error) => e instanceof ConfigError && message.test(e.message),
      String(message));
  }
  const values: ConfigValues = {};
  for (const k of MOUNT_SCHEMA) values[k.key] = k.default;
  values.LOG_LEVEL = 'loud';
  assert.throws(() => mountConfig(values, '/m'), (e: Error) => /LOG_LEVEL/.test(e.message));
});

test.run();
