// Goal: the replies of CLTOMA_UNLINK, CLTOMA_RMDIR and CLTOMA_RENAME carry the folders'
// attributes (whole ATTR structs) and decode back to the same values; a reply without them (the
// old empty layout) is refused with a reason. Method: fixed values, encode, decode, compare.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CLTOMA_RENAME, CLTOMA_RMDIR, CLTOMA_UNLINK, InodeType, decodeFrom, encodeInto, encodedSize,
  isInvalid, type Fields, type Struct,
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

test('UNLINK and RMDIR replies carry the folder after the change', () => {
  roundTrip(CLTOMA_UNLINK.reply.fields, { parentAttr: folder(7, 3) });
  roundTrip(CLTOMA_RMDIR.reply.fields, { parentAttr: folder(9, 2) });
  const unknown = { ...folder(0, 0), type: 0, mode: 0 };
  roundTrip(CLTOMA_UNLINK.reply.fields, { parentAttr: unknown });
});

test('RENAME replies carry both folders, the same one twice when equal', () => {
  const fields = CLTOMA_RENAME.reply.fields;
  roundTrip(fields, { srcParentAttr: folder(5, 2), dstParentAttr: folder(6, 4) });
  roundTrip(fields, { srcParentAttr: folder(5, 2), dstParentAttr: folder(5, 2) });
});

test.run();
