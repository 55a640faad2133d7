// Goal: the chunk folder list: the hdd file's lines with comments and per-folder reserves,
// HDD_PATHS beside it, DATA_PATH/chunks when both are empty, and errors naming file:line.
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadHddFolders, parseHddConfig } from '../src/hdd-config.ts';
import { removeDir, tempDir, testConfig } from './fixtures.ts';

test('lines, comments and reserves', () => {
  const text = '# disks\n/srv/d1\n\n  /srv/d2   reserve=2G  # big\n/srv/d3 reserve=512M\n';
  assert.equal(parseHddConfig(text, 'hdd.cfg', 1000), [
    { path: '/srv/d1', reserveBytes: 1000 },
    { path: '/srv/d2', reserveBytes: 2 * 1024 ** 3 },
    { path: '/srv/d3', reserveBytes: 512 * 1024 ** 2 },
  ]);
  assert.throws(() => parseHddConfig('/a\nrelative/path\n', 'hdd.cfg', 0), /hdd\.cfg:2/);
  assert.throws(() => parseHddConfig('/a size=3\n', 'hdd.cfg', 0), /hdd\.cfg:1.*reserve=SIZE/);
  assert.throws(() => parseHddConfig('/a reserve=lots\n', 'hdd.cfg', 0), /hdd\.cfg:1/);
});

test('file plus HDD_PATHS; default folder; duplicates refused', async () => {
  const dir = await tempDir('hdd');
  const file = path.join(dir, 'antler-hdd.cfg');
  await fs.writeFile(file, '/srv/x reserve=1k\n');
  const both = loadHddFolders(
    testConfig({ hddConfFilename: file, hddPaths: ['/srv/y'], hddReserveBytes: 5 }));
  assert.equal(both, [{ path: '/srv/x', reserveBytes: 1024 }, { path: '/srv/y', reserveBytes: 5 }]);
  const none = loadHddFolders(
    testConfig({ dataPath: '/var/lib/cs', hddPaths: [], hddConfFilename: '' }));
  assert.equal(none, [{ path: '/var/lib/cs/chunks', reserveBytes: 0 }]);
  assert.throws(
    () => loadHddFolders(testConfig({ hddConfFilename: file, hddPaths: ['/srv/x'] })), /twice/);
  const missing = testConfig({ hddConfFilename: path.join(dir, 'missing') });
  assert.throws(() => loadHddFolders(missing), /HDD_CONF_FILENAME/);
  await removeDir(dir);
});

test.run();
