// Goal: the kernel ABI table matches <linux/fuse.h>: struct sizes (checked again here against
// the numbers in the header, beside the load-time checks), the opcode numbers the kernel
// sends, and the 8-byte padding of directory records.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ATTR, ATTR_OUT_BYTES, CREATE_IN, DIRENT_HEAD, direntRecordBytes, ENTRY_OUT_BYTES, IN_HEADER,
  INIT_OUT, Opcode, opcodeName, OUT_HEADER, READ_IN, SETATTR_IN, STATFS_OUT, WRITE_IN,
} from '../src/fuse/kernel-abi.ts';

test('struct sizes are the header\'s', () => {
  const sizes: [string, number, number][] = [
    ['fuse_in_header', IN_HEADER.sizeBytes, 40], ['fuse_out_header', OUT_HEADER.sizeBytes, 16],
    ['fuse_attr', ATTR.sizeBytes, 88], ['fuse_entry_out', ENTRY_OUT_BYTES, 128],
    ['fuse_attr_out', ATTR_OUT_BYTES, 104], ['fuse_setattr_in', SETATTR_IN.sizeBytes, 88],
    ['fuse_read_in', READ_IN.sizeBytes, 40], ['fuse_write_in', WRITE_IN.sizeBytes, 40],
    ['fuse_create_in', CREATE_IN.sizeBytes, 16], ['fuse_init_out', INIT_OUT.sizeBytes, 64],
    ['fuse_statfs_out', STATFS_OUT.sizeBytes, 80], ['fuse_dirent', DIRENT_HEAD.sizeBytes, 24],
  ];
  for (const [name, actual, expected] of sizes) assert.is(actual, expected, name);
});

test('opcodes and their names', () => {
  assert.is(Opcode.LOOKUP, 1);
  assert.is(Opcode.INIT, 26);
  assert.is(Opcode.READDIRPLUS, 44);
  assert.is(Opcode.RENAME2, 45);
  assert.is(opcodeName(16), 'WRITE');
  assert.is(opcodeName(4242), 'opcode 4242');
});

test('directory records are padded to 8 bytes', () => {
  assert.is(direntRecordBytes(24, 1), 32);
  assert.is(direntRecordBytes(24, 8), 32);
  assert.is(direntRecordBytes(24, 9), 40);
  assert.is(direntRecordBytes(24 + 128, 3), 160);
});

test.run();
