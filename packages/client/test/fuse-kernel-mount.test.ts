// Goal: the mount table is read as the kernel writes it (escaped spaces, optional fields),
// and the checks before mounting say clearly what is wrong with a mount point: missing, not a
// directory, not empty (unless asked), already mounted on. No mounting here: only folders.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  checkMountPoint, MountError, parseMountInfo, rootRequiredMessage, unescapeMountField,
} from '../src/fuse/kernel-mount.ts';

test('mountinfo lines', () => {
  const text = [
    '22 1 0:21 / /proc rw,nosuid shared:13 - proc proc rw',
    '97 30 0:45 / /tmp/with\\040space rw,relatime shared:50 master:3 - fuse.antlerfs ' +
      'antlerfs:127.0.0.1:9421 rw,user_id=0,group_id=0',
    'garbage',
  ].join('\n');
  const table = parseMountInfo(text);
  assert.is(table.length, 2);
  assert.equal(table[1], {
    device: '0:45', mountPoint: '/tmp/with space', fsType: 'fuse.antlerfs',
    source: 'antlerfs:127.0.0.1:9421',
  });
  assert.is(unescapeMountField('a\\011b\\134c'), 'a\tb\\c');
});

test('mount point checks', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'antler-mp-'));
  try {
    const file = path.join(root, 'file');
    fs.writeFileSync(file, 'x');
    const full = path.join(root, 'full');
    fs.mkdirSync(full);
    fs.writeFileSync(path.join(full, 'x'), 'x');
    const empty = path.join(root, 'empty');
    fs.mkdirSync(empty);
    const fails = (p: string, re: RegExp): void => {
      assert.throws(() => checkMountPoint(p, { nonempty: false }),
        (e: Error) => e instanceof MountError && re.test(e.message), p);
    };
    fails(path.join(root, 'missing'), /does not exist/);
    fails(file, /is not a directory/);
    fails(full, /is not empty/);
    assert.is(checkMountPoint(full, { nonempty: true }), fs.realpathSync(full));
    assert.is(checkMountPoint(`${empty}/.`, { nonempty: false }), fs.realpathSync(empty));
    fails('/proc', /is busy: .* is already mounted there/);
    assert.match(rootRequiredMessage(), /SCM_RIGHTS/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test.run();
