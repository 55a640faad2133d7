// Shared by the FUSE unit tests: builds requests as the kernel writes them to /dev/fuse
// (fuse_in_header, the opcode's struct, NUL-terminated names, data), from the same struct
// definitions the decoder uses, so a layout change shows up on both sides.
import { IN_HEADER } from '../src/fuse/kernel-abi.ts';
import { writeStruct, type StructDef } from '../src/fuse/struct-codec.ts';

export interface RequestSpec {
  opcode: number;
  unique?: number;
  nodeid?: number;
  uid?: number;
  gid?: number;
  pid?: number;
  struct?: StructDef;
  arg?: Record<string, number>;
  names?: (string | Buffer)[];
  data?: Buffer;
}

/** One request's bytes; `extra` grows the buffer past the request (as a read buffer is). */
export function buildRequest(spec: RequestSpec, extra = 0): Buffer {
  const names = (spec.names ?? []).map((n) => Buffer.concat([Buffer.from(n), Buffer.alloc(1)]));
  const structBytes = spec.struct?.sizeBytes ?? 0;
  const len = IN_HEADER.sizeBytes + structBytes +
    names.reduce((n, b) => n + b.length, 0) + (spec.data?.length ?? 0);
  const buf = Buffer.alloc(len + extra, 0xee);
  writeStruct(IN_HEADER, {
    len, opcode: spec.opcode, unique: spec.unique ?? 2, nodeid: spec.nodeid ?? 1,
    uid: spec.uid ?? 0, gid: spec.gid ?? 0, pid: spec.pid ?? 1,
  }, buf, 0);
  let at = IN_HEADER.sizeBytes;
  if (spec.struct !== undefined) at = writeStruct(spec.struct, spec.arg ?? {}, buf, at);
  for (const n of names) at += n.copy(buf, at);
  if (spec.data !== undefined) spec.data.copy(buf, at);
  return buf;
}
