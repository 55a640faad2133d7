// Goal: the FUSE operations turn kernel requests into the right master calls: SETATTR bits into
// SetAttr fields (writes pushed first), RENAME2 flags, MKNOD of regular files only, read-only
// refusals, negative lookups, a file unlinked while open kept under a hidden name until its last
// release, OPEN with O_TRUNC and the page-cache decision, and READDIRPLUS lookup counting.
// Method: the handlers with an in-memory stand-in for the master and fake file handles.
import fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FsError, InodeType, Logger, SetAttr } from '@antlerfs/protocol';
import type { Attr, FileHandle } from '../src/index.ts';
import { DirCache } from '../src/fuse/dir-cache.ts';
import { FileAttrs } from '../src/fuse/file-attrs.ts';
import { ERRNO } from '../src/fuse/errno.ts';
import { DirHandles } from '../src/fuse/dir-handle.ts';
import { DIR_HANDLERS } from '../src/fuse/dir-operations.ts';
import { ENTRY_HANDLERS, permits } from '../src/fuse/entry-operations.ts';
import { FILE_HANDLERS } from '../src/fuse/file-operations.ts';
import type { InodeApi, SetattrFields } from '../src/index.ts';
import {
  ENTRY_OUT_HEAD, MKNOD_IN, Opcode, OPEN_IN, OPEN_OUT, OpenOut, READ_IN, RELEASE_IN, RENAME2_IN,
  SETATTR_IN,
} from '../src/fuse/kernel-abi.ts';
import type { MountContext, Reply } from '../src/fuse/mount-context.ts';
import { NodeTable } from '../src/fuse/node-table.ts';
import { ReadBuffers } from '../src/fuse/read-buffers.ts';
import { OpenFiles } from '../src/fuse/open-file.ts';
import { decodeBody, decodeHeader, type FuseRequest } from '../src/fuse/request.ts';
import { readStruct, type StructDef } from '../src/fuse/struct-codec.ts';
import { buildRequest } from './fuse-fixtures.ts';

class QuietLogger extends Logger {
  override log(): void {}
}

function attr(inode: number, type: number, extra: Partial<Attr> = {}): Attr {
  return {
    inode, type, mode: 0o644, uid: 0, gid: 0, atimeMs: 0, mtimeMs: 0, ctimeMs: 0, nlink: 1,
    length: 0, goal: 1, trashtimeS: 0, ...extra,
  };
}

interface Named {
  parent: number;
  name: string;
}

/** A tiny master: a root with named children, every call recorded. */
function fakeMaster() {
  const calls: string[] = [];
  const nodes = new Map<number, Attr>([[1, attr(1, InodeType.DIR)]]);
  const names = new Map<string, number>(); // `${parent}/${name}` -> inode
  let next = 100;
  const find = (parent: number, name: string): Attr => {
    const inode = names.get(`${parent}/${name}`);
    if (inode === undefined) throw new FsError('ENOENT', name);
    return nodes.get(inode)!;
  };
  const add = (parent: number, name: string, a: Attr): Attr => {
    nodes.set(a.inode, a);
    names.set(`${parent}/${name}`, a.inode);
    return a;
  };
  const api = {
    lookup: async (p: number, n: string) => { calls.push(`lookup ${n}`); return find(p, n); },
    getattr: async (i: number) => nodes.get(i) ?? Promise.reject(new FsError('ENOENT')),
    getattrWithChunks: async (i: number, count: number) => {
      calls.push(`getattrWithChunks ${i}`);
      const a = nodes.get(i);
      if (a === undefined) throw new FsError('ENOENT');
      return { attr: a, located: { count, chunks: [] } };
    },
    setattr: async (i: number, f: SetattrFields) => {
      calls.push(`setattr ${i} ${JSON.stringify(f)}`);
      const a = { ...nodes.get(i)!, length: f.length ?? nodes.get(i)!.length };
      nodes.set(i, a);
      return a;
    },
    create: async (p: number, n: string, mode: number, _o: unknown, exclusive: boolean) => {
      calls.push(`create ${n} ${mode.toString(8)} ${exclusive}`);
      return { attr: add(p, n, attr(next++, InodeType.FILE, { mode })), folder: null };
    },
    mkdir: async (p: number, n: string) =>
      ({ attr: add(p, n, attr(next++, InodeType.DIR)), folder: null }),
    unlink: async (p: number, n: string) => {
      calls.push(`unlink ${n}`);
      find(p, n);
      names.delete(`${p}/${n}`);
      return { parentAttr: nodes.get(p)!, folder: null };
    },
    rename: async (from: Named, to: Named, flags = 0) => {
      calls.push(`rename ${from.name} ${to.name}${flags === 0 ? '' : ` flags ${flags}`}`);
      const a = find(from.parent, from.name);
      if (flags === 1 && names.has(`${to.parent}/${to.name}`)) throw new FsError('EEXIST');
      // EXCHANGE (2): the source name takes the target's inode; otherwise it goes.
      if (flags === 2) names.set(`${from.parent}/${from.name}`, find(to.parent, to.name).inode);
      else names.delete(`${from.parent}/${from.name}`);
      names.set(`${to.parent}/${to.name}`, a.inode);
      return {
        srcParentAttr: nodes.get(from.parent)!, dstParentAttr: nodes.get(to.parent)!,
        src: null, dst: null,
      };
    },
    readdir: async () => ({
      entries: [...names].filter(([k]) => !k.endsWith('/..'))
        .map(([k, i]) => ({ name: k.split('/')[1]!, attr: nodes.get(i)! })),
      nextCursor: '', end: true,
    }),
  };
  return { calls, nodes, names, add, api };
}

function context(master: ReturnType<typeof fakeMaster>, opts: { readOnly?: boolean;
  negativeTimeoutMs?: number } = {}) {
  const closed: number[] = [];
  const opener = async (inode: number): Promise<FileHandle> => ({
    close: async () => { closed.push(inode); },
    read: async (buf: Buffer, off: number, len: number) => {
      buf.fill(0x61, off, off + len);
      return len;
    },
  }) as unknown as FileHandle;
  const invalidated: number[] = [];
  const ctx: MountContext = {
    calls: master.api as unknown as InodeApi, client: {} as MountContext['client'],
    nodes: new NodeTable(), files: new OpenFiles(opener), dirs: new DirHandles(),
    readBuffers: new ReadBuffers(64 * 1024),
    dirCache: new DirCache({ attrMs: 1000, namesMs: 1000, nowMs: () => 0 }),
    fileAttrs: new FileAttrs({ attrMs: 1000, nowMs: () => 0 }),
    log: new QuietLogger('test'), hidden: new Map(), invalidateAttrs: (i) => invalidated.push(i),
    settings: {
      timeouts: { entryMs: 1000, attrMs: 1000 }, readOnly: opts.readOnly ?? false,
      negativeTimeoutMs: opts.negativeTimeoutMs ?? 0,
    },
  };
  return { ctx, closed, invalidated };
}

function req(opcode: number, o: { nodeid?: number; struct?: StructDef;
  arg?: Record<string, number>; names?: string[] } = {}): FuseRequest {
  const buf = buildRequest({ opcode, ...o });
  const header = decodeHeader(buf, buf.length);
  assert.ok(!('invalid' in header));
  const r = decodeBody(header as Exclude<typeof header, { invalid: string }>, buf);
  assert.ok(!('invalid' in r));
  return r as FuseRequest;
}

async function failsWith(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(() => null, (e: unknown) => e);
  assert.ok(err instanceof FsError && err.code === code, `expected ${code}, got ${String(err)}`);
}

const body = (r: Reply | null): Buffer => Buffer.concat(r!.parts);

test('SETATTR bits become SetAttr fields; a size change pushes open files first', async () => {
  const m = fakeMaster();
  const { ctx, closed } = context(m);
  const f = m.add(1, 'f', attr(5, InodeType.FILE, { length: 10 }));
  const open = ctx.files.add(f.inode, 'r+');
  await open.use(async () => open.noteWrite(0, 50));
  await ENTRY_HANDLERS.SETATTR(req(Opcode.SETATTR, {
    nodeid: 5, struct: SETATTR_IN,
    arg: { valid: 1 | 2 | 8 | 16 | 256, mode: 0o100640, uid: 7, size: 3, atime: 2, atimensec: 5e6 },
  }), ctx);
  assert.equal(closed, [5], 'the open file was pushed and closed before the truncate');
  const mask = SetAttr.MODE | SetAttr.UID | SetAttr.ATIME | SetAttr.MTIME_NOW | SetAttr.LENGTH;
  assert.equal(m.calls.at(-1), `setattr 5 ${JSON.stringify({
    setMask: mask, mode: 0o640, uid: 7, atimeMs: 2005, length: 3,
  })}`);
});

test('RENAME2 flags, MKNOD types, read-only mounts, negative lookups', async () => {
  const m = fakeMaster();
  const { ctx } = context(m);
  m.add(1, 'a', attr(6, InodeType.FILE));
  m.add(1, 'b', attr(7, InodeType.FILE));
  const rename2 = (to: string, flags: number) => ENTRY_HANDLERS.RENAME2(req(Opcode.RENAME2, {
    struct: RENAME2_IN, arg: { newdir: 1, flags }, names: ['a', to],
  }), ctx);
  await failsWith(rename2('b', 1), 'EEXIST');
  assert.is(m.calls.at(-1), 'rename a b flags 1', 'NOREPLACE goes to the master');
  await failsWith(rename2('b', 3), 'EINVAL');
  await failsWith(rename2('b', 4), 'EINVAL');
  await rename2('b', 2);
  assert.equal([m.names.get('1/a'), m.names.get('1/b')], [7, 6], 'EXCHANGE swapped them');
  assert.is(m.calls.at(-1), 'rename a b flags 2');
  await rename2('b', 2);
  await rename2('c', 1);
  assert.is(m.names.get('1/c'), 6);
  await failsWith(ENTRY_HANDLERS.MKNOD(req(Opcode.MKNOD, {
    struct: MKNOD_IN, arg: { mode: 0o010644 }, names: ['fifo'],
  }), ctx), 'EPERM');
  await ENTRY_HANDLERS.MKNOD(req(Opcode.MKNOD, {
    struct: MKNOD_IN, arg: { mode: 0o100600 }, names: ['reg'],
  }), ctx);
  assert.equal(m.calls.at(-1), 'create reg 600 true');
  const ro = context(m, { readOnly: true }).ctx;
  await failsWith(ENTRY_HANDLERS.UNLINK(req(Opcode.UNLINK, { names: ['b'] }), ro), 'EROFS');
  const missing = await ENTRY_HANDLERS.LOOKUP(req(Opcode.LOOKUP, { names: ['nope'] }), ctx);
  assert.is(missing!.errno, ERRNO.ENOENT, 'answered ENOENT');
  const neg = context(m, { negativeTimeoutMs: 2000 }).ctx;
  const r = await ENTRY_HANDLERS.LOOKUP(req(Opcode.LOOKUP, { names: ['nope'] }), neg);
  assert.equal(readStruct(ENTRY_OUT_HEAD, body(r), 0).nodeid, 0);
  assert.ok(permits(attr(1, InodeType.FILE, { mode: 0o640, uid: 5, gid: 6 }), 7, 6, 4));
  assert.not.ok(permits(attr(1, InodeType.FILE, { mode: 0o640, uid: 5, gid: 6 }), 7, 6, 2));
  assert.not.ok(permits(attr(1, InodeType.FILE, { mode: 0o644 }), 0, 0, 1), 'root needs an x bit');
});

test('a file unlinked while open lives under a hidden name until its last release', async () => {
  const m = fakeMaster();
  const { ctx } = context(m);
  m.add(1, 'held', attr(8, InodeType.FILE, { length: 4 }));
  const opened = await FILE_HANDLERS.OPEN(req(Opcode.OPEN, {
    nodeid: 8, struct: OPEN_IN, arg: { flags: fs.constants.O_RDONLY },
  }), ctx);
  const fh = readStruct(OPEN_OUT, body(opened), 0).fh;
  await ENTRY_HANDLERS.UNLINK(req(Opcode.UNLINK, { names: ['held'] }), ctx);
  assert.not.ok(m.names.has('1/held'), 'the name is gone');
  const hidden = [...m.names.keys()].find((k) => k.includes('.antler-unlinked-8-'));
  assert.ok(hidden !== undefined, 'kept under a hidden name');
  const data = await FILE_HANDLERS.READ(req(Opcode.READ, {
    nodeid: 8, struct: READ_IN, arg: { fh, size: 4 },
  }), ctx);
  assert.is(body(data).toString(), 'aaaa', 'still readable');
  await FILE_HANDLERS.RELEASE(req(Opcode.RELEASE, {
    nodeid: 8, struct: RELEASE_IN, arg: { fh },
  }), ctx);
  assert.not.ok(m.names.has(hidden), 'removed at the last release');
  assert.is(ctx.files.size, 0);
});

test('OPEN: O_TRUNC truncates, unchanged data keeps the cache, a read gets locations', async () => {
  const m = fakeMaster();
  const { ctx, invalidated } = context(m);
  m.add(1, 'f', attr(9, InodeType.FILE, { length: 100, mtimeMs: 5 }));
  ctx.nodes.remember(9);
  const open = async (flags: number) => readStruct(OPEN_OUT, body(await FILE_HANDLERS.OPEN(
    req(Opcode.OPEN, { nodeid: 9, struct: OPEN_IN, arg: { flags } }), ctx)), 0);
  const first = await open(fs.constants.O_RDONLY);
  assert.is(first.openFlags, OpenOut.NOFLUSH, 'first open: no cached pages to keep, no FLUSH');
  assert.equal(invalidated, [9], 'the kernel asks for fresh attributes');
  assert.is((await open(fs.constants.O_RDONLY)).openFlags, OpenOut.KEEP_CACHE | OpenOut.NOFLUSH,
    'KEEP_CACHE');
  assert.equal(m.calls.filter((c) => c.startsWith('getattrWithChunks')),
    ['getattrWithChunks 9', 'getattrWithChunks 9'], 'a read-only open gets the locations too');
  const written = await open(fs.constants.O_WRONLY | fs.constants.O_TRUNC);
  assert.is(written.openFlags & OpenOut.NOFLUSH, 0, 'an open for writing is flushed at close');
  assert.match(m.calls.at(-1)!, /^setattr 9 .*"length":0/);
  assert.is(m.calls.filter((c) => c.startsWith('getattrWithChunks')).length, 2,
    'an open for writing does not');
  assert.is(ctx.files.size, 3);
});

test('READDIRPLUS counts one lookup per entry it hands over, none for the dots', async () => {
  const m = fakeMaster();
  const { ctx } = context(m);
  m.add(1, 'x', attr(11, InodeType.FILE));
  m.add(1, 'y', attr(12, InodeType.DIR));
  m.nodes.set(1, attr(1, InodeType.DIR));
  m.names.set('1/..', 1);
  const opened = await DIR_HANDLERS.OPENDIR(req(Opcode.OPENDIR, { struct: OPEN_IN }), ctx);
  const fh = readStruct(OPEN_OUT, body(opened), 0).fh;
  const listed = await DIR_HANDLERS.READDIRPLUS(req(Opcode.READDIRPLUS, {
    struct: READ_IN, arg: { fh, offset: 0, size: 4096 },
  }), ctx);
  listed!.delivered?.();
  assert.equal([ctx.nodes.lookups(11), ctx.nodes.lookups(12), ctx.nodes.lookups(1)], [1, 1, 1]);
  assert.is(body(listed).length > 0, true);
});

test.run();
