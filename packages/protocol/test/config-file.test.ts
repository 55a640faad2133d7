// Goal: the config parser accepts the documented format and names file:line for every mistake.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, parseBytes, parseConfigText, type ConfigKey } from '../src/index.ts';

const schema: ConfigKey[] = [
  { key: 'DATA_PATH', type: 'string', default: '/d', doc: 'data' },
  { key: 'PORT', type: 'int', default: 1, min: 0, max: 65535, doc: 'port' },
  { key: 'RESERVE_BYTES', type: 'bytes', default: 0, doc: 'reserve' },
  { key: 'SYNC', type: 'bool', default: false, doc: 'sync' },
];

test('parses values, comments and sizes', () => {
  const v = parseConfigText(schema, '# c\nDATA_PATH = /x y # tail\nPORT=80\nRESERVE_BYTES = 2G\nSYNC = yes\n', 'f.cfg');
  assert.equal(v, { DATA_PATH: '/x y', PORT: 80, RESERVE_BYTES: 2 * 1024 ** 3, SYNC: true });
  assert.is(parseBytes('512MiB'), 512 * 1024 ** 2);
  assert.is(parseBytes('nope'), null);
});

test('errors name the file, line and key', () => {
  const cases: [string, RegExp][] = [
    ['NOPE = 1', /f\.cfg:1: unknown key NOPE/],
    ['\nPORT = 70000', /f\.cfg:2: PORT = 70000 is outside 0\.\.65535/],
    ['PORT = x', /f\.cfg:1: PORT must be an integer/],
    ['SYNC = maybe', /f\.cfg:1: SYNC must be a boolean/],
    ['garbage', /f\.cfg:1: expected KEY = VALUE/],
  ];
  for (const [text, re] of cases) {
    assert.throws(() => parseConfigText(schema, text, 'f.cfg'), (e: Error) => e instanceof ConfigError && re.test(e.message));
  }
});

test.run();
