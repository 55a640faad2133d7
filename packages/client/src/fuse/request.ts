// Decodes one request read from /dev/fuse: the fuse_in_header, then the opcode's struct, names
// (NUL-terminated) and write data. The kernel is trusted more than a network peer, but lengths are
// still checked before every read: a short or odd request gives a reason, never an exception.
// Names are UTF-8 strings (the master's names are); bytes that are not UTF-8 are flagged.
import type { Invalid } from '@antlerfs/protocol';
import {
  ACCESS_IN, BATCH_FORGET_IN, CREATE_IN, FLUSH_IN, FORGET_IN, FORGET_ONE, FSYNC_IN, GETATTR_IN,
  GETXATTR_IN, IN_HEADER, INIT_IN, INTERRUPT_IN, LINK_IN, MKDIR_IN, MKNOD_IN, Opcode, OPEN_IN,
  READ_IN, RELEASE_IN, RENAME2_IN, RENAME_IN, SETATTR_IN, WRITE_IN,
} from './kernel-abi.ts';
import {
  assertLayout, readStruct, readU64LE, type StructDef, type StructValue,
} from './struct-codec.ts';

export type InHeader = StructValue<(typeof IN_HEADER.fields)[number]['key']>;

/** A decoded request: the header, the opcode's struct (if any), names and data. */
export interface FuseRequest {
  header: InHeader;
  /** Fields of the opcode's struct; empty for opcodes without one. */
  arg: Record<string, number>;
  /** NUL-terminated strings after the struct (LOOKUP: 1, RENAME/SYMLINK: 2). */
  names: string[];
  /** A name that was not valid UTF-8 (antlerfs names are UTF-8 strings). */
  badName: boolean;
  /** WRITE data: a view into the read buffer, valid until the buffer is reused. */
  data: Buffer;
  /**
   * Gives WRITE data's buffer back once nothing reads the data any more: the request buffer a
   * large WRITE kept (to the device), or the copy of a small one (for the next copies).
   */
  giveBack?: () => void;
  /** BATCH_FORGET entries. */
  forgets: { nodeid: number; nlookup: number }[];
}

interface BodyLayout {
  struct: StructDef | null;
  names: number;
  data?: boolean;
  batch?: boolean;
}

/** What follows the header for each opcode this file system decodes. */
const LAYOUTS = new Map<number, BodyLayout>([
  [Opcode.LOOKUP, { struct: null, names: 1 }],
  [Opcode.FORGET, { struct: FORGET_IN, names: 0 }],
  [Opcode.GETATTR, { struct: GETATTR_IN, names: 0 }],
  [Opcode.SETATTR, { struct: SETATTR_IN, names: 0 }],
  [Opcode.READLINK, { struct: null, names: 0 }],
  [Opcode.SYMLINK, { struct: null, names: 2 }],
  [Opcode.MKNOD, { struct: MKNOD_IN, names: 1 }],
  [Opcode.MKDIR, { struct: MKDIR_IN, names: 1 }],
  [Opcode.UNLINK, { struct: null, names: 1 }],
  [Opcode.RMDIR, { struct: null, names: 1 }],
  [Opcode.RENAME, { struct: RENAME_IN, names: 2 }],
  [Opcode.RENAME2, { struct: RENAME2_IN, names: 2 }],
  [Opcode.LINK, { struct: LINK_IN, names: 1 }],
  [Opcode.OPEN, { struct: OPEN_IN, names: 0 }],
  [Opcode.OPENDIR, { struct: OPEN_IN, names: 0 }],
  [Opcode.READ, { struct: READ_IN, names: 0 }],
  [Opcode.READDIR, { struct: READ_IN, names: 0 }],
  [Opcode.READDIRPLUS, { struct: READ_IN, names: 0 }],
  [Opcode.WRITE, { struct: WRITE_IN, names: 0, data: true }],
  [Opcode.STATFS, { struct: null, names: 0 }],
  [Opcode.RELEASE, { struct: RELEASE_IN, names: 0 }],
  [Opcode.RELEASEDIR, { struct: RELEASE_IN, names: 0 }],
  [Opcode.FSYNC, { struct: FSYNC_IN, names: 0 }],
  [Opcode.FSYNCDIR, { struct: FSYNC_IN, names: 0 }],
  [Opcode.FLUSH, { struct: FLUSH_IN, names: 0 }],
  [Opcode.GETXATTR, { struct: GETXATTR_IN, names: 1 }],
  [Opcode.LISTXATTR, { struct: GETXATTR_IN, names: 0 }],
  [Opcode.REMOVEXATTR, { struct: null, names: 1 }],
  [Opcode.ACCESS, { struct: ACCESS_IN, names: 0 }],
  [Opcode.CREATE, { struct: CREATE_IN, names: 1 }],
  [Opcode.INIT, { struct: INIT_IN, names: 0 }],
  [Opcode.INTERRUPT, { struct: INTERRUPT_IN, names: 0 }],
  [Opcode.DESTROY, { struct: null, names: 0 }],
  [Opcode.BATCH_FORGET, { struct: BATCH_FORGET_IN, names: 0, batch: true }],
]);

/** Forgets one BATCH_FORGET may carry: the kernel sends at most a page of them. */
export const BATCH_FORGET_MAX = 4096;

/** Reads the header of the `length` bytes in `buf`, or says why it cannot. */
export function decodeHeader(buf: Buffer, length: number): InHeader | Invalid {
  if (length < IN_HEADER.sizeBytes) {
    return { invalid: `request of ${length} bytes, header needs ${IN_HEADER.sizeBytes}` };
  }
  const len = buf.readUInt32LE(0);
  if (len !== length) return { invalid: `header says ${len} bytes, read ${length}` };
  // fuse_in_header read field by field (IN_HEADER's layout): the one struct of every request.
  return {
    len, opcode: buf.readUInt32LE(4), unique: readU64LE(buf, 8), nodeid: readU64LE(buf, 16),
    uid: buf.readUInt32LE(24), gid: buf.readUInt32LE(28), pid: buf.readUInt32LE(32),
    totalExtlen: buf.readUInt16LE(36), padding: buf.readUInt16LE(38),
  };
}

// Where decodeHeader() reads each field.
assertLayout(IN_HEADER, {
  len: 0, opcode: 4, unique: 8, nodeid: 16, uid: 24, gid: 28, pid: 32, totalExtlen: 36,
  padding: 38,
});

/**
 * Decodes the body of a request whose header is `header`. Opcodes without a layout (those this
 * file system answers ENOSYS) decode to an empty body.
 */
export function decodeBody(header: InHeader, buf: Buffer): FuseRequest | Invalid {
  const req: FuseRequest = {
    header, arg: {}, names: [], badName: false, data: EMPTY, forgets: [],
  };
  const layout = LAYOUTS.get(header.opcode);
  if (layout === undefined) return req;
  const end = header.len;
  let at = IN_HEADER.sizeBytes;
  if (layout.struct !== null) {
    if (at + layout.struct.sizeBytes > end) {
      const { name, sizeBytes } = layout.struct;
      return { invalid: `${name}: ${end - at} bytes, needs ${sizeBytes}` };
    }
    req.arg = readStruct(layout.struct, buf, at);
    at += layout.struct.sizeBytes;
  }
  for (let i = 0; i < layout.names; i++) {
    const nul = buf.indexOf(0, at);
    if (nul < 0 || nul >= end) return { invalid: `name ${i + 1} of ${layout.names} lacks its NUL` };
    const name = buf.toString('utf8', at, nul);
    if (Buffer.byteLength(name) !== nul - at) req.badName = true;
    req.names.push(name);
    at = nul + 1;
  }
  if (layout.data === true) {
    const size = req.arg.size ?? 0;
    if (at + size > end) return { invalid: `WRITE of ${size} bytes carries ${end - at}` };
    req.data = buf.subarray(at, at + size);
  }
  if (layout.batch === true) return decodeForgets(req, buf, at, end);
  return req;
}

function decodeForgets(
  req: FuseRequest, buf: Buffer, at: number, end: number,
): FuseRequest | Invalid {
  const count = req.arg.count ?? 0;
  if (count > BATCH_FORGET_MAX) return { invalid: `BATCH_FORGET of ${count} entries` };
  if (at + count * FORGET_ONE.sizeBytes > end) {
    return { invalid: `BATCH_FORGET of ${count} entries in ${end - at} bytes` };
  }
  for (let i = 0; i < count; i++) {
    req.forgets.push(readStruct(FORGET_ONE, buf, at + i * FORGET_ONE.sizeBytes));
  }
  return req;
}

const EMPTY = Buffer.alloc(0);
