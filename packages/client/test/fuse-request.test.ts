// Goal: requests from /dev/fuse decode into their header, struct fields, names and data for
// every opcode the mount serves; a read buffer larger than the request is fine; short or lying
// requests give a reason instead of throwing; names that are not UTF-8 are flagged.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isInvalid } from '@antlerfs/protocol';
import {
  BATCH_FORGET_IN, CREATE_IN, FORGET_ONE, GETATTR_IN, INIT_IN, Opcode, RENAME2_IN, SETATTR_IN,
  WRITE_IN,
} from '../src/fuse/kernel-abi.ts';
import { decodeBody, decodeHeader, type FuseRequest } from '../src/fuse/request.ts';
import { writeStruct } from '../src/fuse/struct-codec.ts';
import { buildRequest, type RequestSpec } from './fuse-fixtures.ts';

function decode(spec: RequestSpec, extra = 64): FuseRequest {
  const buf = buildRequest(spec, extra);
  const length = buf.length - extra;
  const header = decodeHeader(buf, length);
  if (isInvalid(header)) throw new Error(header.invalid);
  const req = decodeBody(header, buf);
  if (isInvalid(req)) throw new Error(req.invalid);
  return req;
}

test('header fields, with 64-bit unique and node ids', () => {
  const req = decode({
    opcode: Opcode.GETATTR, unique: 2 ** 40 + 2, nodeid: 2 ** 33, uid: 1000, gid: 100, pid: 77,
    struct: GETATTR_IN, arg: { getattrFlags: 1, fh: 2 ** 34 + 1 },
  });
  assert.is(req.header.opcode, Opcode.GETATTR);
  assert.is(req.header.unique, 2 ** 40 + 2);
  assert.is(req.header.nodeid, 2 ** 33);
  assert.equal([req.header.uid, req.header.gid, req.header.pid], [1000, 100, 77]);
  assert.is(req.arg.getattrFlags, 1);
  assert.is(req.arg.fh, 2 ** 34 + 1);
});

test('names: one, two, and the struct before them', () => {
  assert.equal(decode({ opcode: Opcode.LOOKUP, names: ['héllo'] }).names, ['héllo']);
  const sym = decode({ opcode: Opcode.SYMLINK, names: ['link', '../some/target'] });
  assert.equal(sym.names, ['link', '../some/target']);
  const ren = decode({
    opcode: Opcode.RENAME2, struct: RENAME2_IN, arg: { newdir: 9, flags: 1 }, names: ['a', 'b'],
  });
  assert.is(ren.arg.newdir, 9);
  assert.is(ren.arg.flags, 1);
  assert.equal(ren.names, ['a', 'b']);
  const create = decode({
    opcode: Opcode.CREATE, struct: CREATE_IN, arg: { flags: 0o101, mode: 0o100644, umask: 0o22 },
    names: ['new'],
  });
  assert.equal([create.arg.flags, create.arg.mode, create.arg.umask], [0o101, 0o100644, 0o22]);
  assert.is(create.badName, false);
});

test('a name that is not UTF-8 is flagged', () => {
  const req = decode({ opcode: Opcode.LOOKUP, names: [Buffer.from([0x61, 0xff, 0x62])] });
  assert.is(req.badName, true);
});

test('WRITE data is a view of exactly `size` bytes', () => {
  const data = Buffer.from('0123456789');
  const req = decode({
    opcode: Opcode.WRITE, struct: WRITE_IN, arg: { fh: 3, offset: 5 * 2 ** 32, size: 10 }, data,
  });
  assert.is(req.arg.offset, 5 * 2 ** 32, 'offsets past 4 GiB');
  assert.is(req.data.toString(), '0123456789');
});

test('SETATTR, INIT and BATCH_FORGET', () => {
  const set = decode({
    opcode: Opcode.SETATTR, struct: SETATTR_IN,
    arg: { valid: 0x38, size: 2 ** 35, atime: 1_600_000_000, atimensec: 5, mode: 0o644 },
  });
  assert.equal([set.arg.valid, set.arg.size, set.arg.atime, set.arg.atimensec],
    [0x38, 2 ** 35, 1_600_000_000, 5]);
  const init = decode({
    opcode: Opcode.INIT, struct: INIT_IN, arg: { major: 7, minor: 45, flags: 0x73fffffb },
  });
  assert.equal([init.arg.major, init.arg.minor, init.arg.flags], [7, 45, 0x73fffffb]);
  const forgets = Buffer.alloc(2 * FORGET_ONE.sizeBytes);
  writeStruct(FORGET_ONE, { nodeid: 5, nlookup: 2 }, forgets, 0);
  writeStruct(FORGET_ONE, { nodeid: 6, nlookup: 1 }, forgets, FORGET_ONE.sizeBytes);
  const batch = decode({
    opcode: Opcode.BATCH_FORGET, struct: BATCH_FORGET_IN, arg: { count: 2 }, data: forgets,
  });
  assert.equal(batch.forgets, [{ nodeid: 5, nlookup: 2 }, { nodeid: 6, nlookup: 1 }]);
});

test('an opcode the mount does not serve decodes to an empty body', () => {
  const req = decode({ opcode: Opcode.FALLOCATE, data: Buffer.alloc(32) });
  assert.equal(req.arg, {});
  assert.equal(req.names, []);
});

test('short and lying requests give reasons', () => {
  const buf = buildRequest({ opcode: Opcode.LOOKUP, names: ['x'] });
  assert.ok(isInvalid(decodeHeader(buf, 20)), 'shorter than a header');
  assert.ok(isInvalid(decodeHeader(buf, buf.length + 1)), 'length disagrees with the header');
  // A name without its NUL.
  const noNul = buildRequest({ opcode: Opcode.LOOKUP, data: Buffer.from('abc') });
  const h1 = decodeHeader(noNul, noNul.length);
  assert.ok(!isInvalid(h1) && isInvalid(decodeBody(h1, noNul)));
  // A struct cut short.
  const cut = buildRequest({ opcode: Opcode.SETATTR, data: Buffer.alloc(10) });
  const h2 = decodeHeader(cut, cut.length);
  assert.ok(!isInvalid(h2) && isInvalid(decodeBody(h2, cut)));
  // WRITE claiming more data than it carries.
  const lie = buildRequest({
    opcode: Opcode.WRITE, struct: WRITE_IN, arg: { size: 100 }, data: Buffer.alloc(10),
  });
  const h3 = decodeHeader(lie, lie.length);
  assert.ok(!isInvalid(h3) && isInvalid(decodeBody(h3, lie)));
  // BATCH_FORGET claiming more entries than it carries.
  const many = buildRequest({
    opcode: Opcode.BATCH_FORGET, struct: BATCH_FORGET_IN, arg: { count: 3 }, data: Buffer.alloc(16),
  });
  const h4 = decodeHeader(many, many.length);
  assert.ok(!isInvalid(h4) && isInvalid(decodeBody(h4, many)));
});

test.run();
