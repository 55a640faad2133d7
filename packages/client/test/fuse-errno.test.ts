// Goal: every status of the cluster maps to an errno that exists on this platform (by name,
// through os.constants.errno), agreeing with the errno the status table itself names; anything
// that is not an FsError is EIO and flagged as a bug.
import os from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FsError, Status, STATUS_INFO, type StatusName } from '@antlerfs/protocol';
import { ERRNO_BY_STATUS, errnoOf, errnoOfStatus } from '../src/fuse/errno.ts';

test('every status but OK has an errno, the one the status table names', () => {
  const names = Object.keys(Status).filter((n) => n !== 'OK') as Exclude<StatusName, 'OK'>[];
  assert.equal(Object.keys(ERRNO_BY_STATUS).sort(), [...names].sort());
  for (const name of names) {
    assert.is(ERRNO_BY_STATUS[name], STATUS_INFO[name].errno, name);
    assert.is(errnoOfStatus(name), os.constants.errno[ERRNO_BY_STATUS[name]], name);
    assert.ok(errnoOfStatus(name) > 0);
  }
});

test('errors become errno numbers', () => {
  assert.equal(errnoOf(new FsError('ENOTEMPTY', 'x')), {
    errno: os.constants.errno.ENOTEMPTY, bug: false,
  });
  assert.equal(errnoOf(new FsError('CHUNK_BUSY')), {
    errno: os.constants.errno.EAGAIN, bug: false,
  });
  assert.equal(errnoOf(new FsError('NO_CHUNKSERVERS')), {
    errno: os.constants.errno.ENOSPC, bug: false,
  });
  assert.equal(errnoOf(new TypeError('oops')), { errno: os.constants.errno.EIO, bug: true });
});

test.run();
