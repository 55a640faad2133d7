// Goal: the replies of CLTOMA_UNLINK, CLTOMA_RMDIR and CLTOMA_RENAME carry the folders'
// attributes (whole ATTR structs), and every change in a folder its stamps (names versions
// before and after, 64-bit), and decode back to the same values; a reply without them (the old
// empty layout) is refused with a reason. Method: fixed values, encode, decode, compare.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CLTOMA_CREATE, CLTOMA_GETATTR_FOLDER, CLTOMA_LINK, CLTOMA_LIST_NAMES, CLTOMA_MKDIR,
  CLTOMA_RENAME, CLTOMA_RMDIR, CLTOMA_SYMLINK, CLTOMA_UNLINK, InodeType, decodeFrom, encodeInto,
  encodedSize, isInvalid, type Fields, type Struct,
} from '../../src/index.ts';

const folder = (inode: number, nlink: number) => ({
  inode, type: InodeType.DIR, mode: 0o755, uid: 1000, gid: 100, atimeMs: 1_700_000_000_001,
  mtimeMs: 1_700_000_000_002 + inode, ctimeMs: 1_700_000_000_003 + inode, nlink, length: 0,
  goal: 2, trashtimeS: 86_400,
});

function roundTrip<F extends Fields>(fields: F, value: Struct<F>): void {
  const size = encodedSize(fields, value);
  const buf = Buffer.alloc(size);
  assert.is(encodeInto(fields, value, buf, 0), size);
  const back = decodeFrom(fields, buf, 0);
  if (isInvalid(back)) throw new Error(back.invalid);
  assert.equal(back.value, value);
  assert.is(back.offset, size);
  const empty = decodeFrom(fields, Buffer.alloc(0), 0);
  assert.ok(isInvalid(empty), 'an empty reply body is refused');
}

test('UNLINK and RMDIR replies carry the folder after the change and its stamps', () => {
  const stamp = { parentBefore: 2 ** 40 + 3, parentAfter: 2 ** 40 + 9 };
  roundTrip(CLTOMA_UNLINK.reply.fields, { parentAttr: folder(7, 3), ...stamp });
  roundTrip(CLTOMA_RMDIR.reply.fields, { parentAttr: folder(9, 2), ...stamp });
  const unknown = { ...folder(0, 0), type: 0, mode: 0 };
  roundTrip(CLTOMA_UNLINK.reply.fields, { parentAttr: unknown, parentBefore: 0, parentAfter: 0 });
});

test('RENAME replies carry both folders, the same one twice when equal, and their stamps', () => {
  const fields = CLTOMA_RENAME.reply.fields;
  const stamps = { srcBefore: 4, srcAfter: 10, dstBefore: 7, dstAfter: 10 };
  roundTrip(fields, { srcParentAttr: folder(5, 2), dstParentAttr: folder(6, 4), ...stamps });
  roundTrip(fields, { srcParentAttr: folder(5, 2), dstParentAttr: folder(5, 2), ...stamps });
});

test('creations carry the folder\'s stamps; GETATTR_FOLDER its names version', () => {
  const stamp = { parentBefore: 11, parentAfter: 12 };
  for (const def of [CLTOMA_MKDIR, CLTOMA_SYMLINK, CLTOMA_LINK]) {
    roundTrip(def.reply.fields, { attr: folder(8, 2), ...stamp });
  }
  const none = { promisedChunkId: 0, promisedVersion: 0, promisedChain: [] };
  roundTrip(CLTOMA_CREATE.reply.fields, { attr: folder(8, 2), ...stamp, ...none });
  const chain = [{ csId: 3, host: '127.0.0.1', port: 9422 }, { csId: 9, host: 'b', port: 1 }];
  roundTrip(CLTOMA_CREATE.reply.fields, {
    attr: folder(8, 2), ...stamp, promisedChunkId: 2 ** 40 + 5, promisedVersion: 1,
    promisedChain: chain,
  });
  roundTrip(CLTOMA_GETATTR_FOLDER.reply.fields, { attr: folder(8, 2), namesVersion: 2 ** 50 });
  const names = [{ name: 'a' }, { name: 'ünïcödé' }, { name: 'x'.repeat(255) }];
  roundTrip(CLTOMA_LIST_NAMES.reply.fields, { names, namesVersion: 7, complete: 1 });
  roundTrip(CLTOMA_LIST_NAMES.reply.fields, { names: [], namesVersion: 7, complete: 0 });
});

test.run();
