// Goal: INIT asks for what the mount needs and only what the kernel offers: 1 MiB requests
// with max_pages, readdirplus, parallel dirops, atomic O_TRUNC, never the writeback cache; it
// answers a newer major with our major alone and refuses kernels older than 7.28.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InitFlag } from '../src/fuse/kernel-abi.ts';
import { negotiateInit, readBufferBytes, WANTED_FLAGS } from '../src/fuse/init-negotiation.ts';

/** What the 6.x kernel here offers (7.45, flags 0x73fffffb). */
const OFFER = { major: 7, minor: 45, maxReadahead: 131072, flags: 0x73fffffb };

test('a current kernel: our minor, 1 MiB, the wanted flags', () => {
  const a = negotiateInit(OFFER, { maxWriteBytes: 1024 * 1024 });
  assert.is(a.kind, 'accept');
  if (a.kind !== 'accept') return;
  assert.is(a.minor, 38);
  assert.is(a.maxWriteBytes, 1024 * 1024);
  assert.is(a.reply.maxPages, 256);
  assert.is(a.reply.maxReadahead, 131072);
  for (const flag of ['ASYNC_READ', 'ATOMIC_O_TRUNC', 'BIG_WRITES', 'DO_READDIRPLUS',
    'READDIRPLUS_AUTO', 'PARALLEL_DIROPS', 'MAX_PAGES', 'EXPORT_SUPPORT'] as const) {
    assert.ok((a.flags & InitFlag[flag]) !== 0, flag);
  }
  for (const flag of ['WRITEBACK_CACHE', 'POSIX_LOCKS', 'FLOCK_LOCKS', 'DONT_MASK',
    'HANDLE_KILLPRIV', 'SETXATTR_EXT', 'INIT_EXT'] as const) {
    assert.is(a.flags & InitFlag[flag], 0, `${flag} is not asked`);
  }
  assert.is(a.reply.flags, a.flags);
});

test('only offered flags are answered; sizes are whole pages within 4 KiB..1 MiB', () => {
  const a = negotiateInit({ ...OFFER, flags: InitFlag.ASYNC_READ }, { maxWriteBytes: 300_000 });
  assert.is(a.kind, 'accept');
  if (a.kind !== 'accept') return;
  assert.is(a.flags, InitFlag.ASYNC_READ);
  assert.is(a.maxWriteBytes, 299_008);
  assert.is(a.reply.maxPages, 0, 'no max_pages without the flag');
  const big = negotiateInit(OFFER, { maxWriteBytes: 64 * 1024 * 1024 });
  assert.ok(big.kind === 'accept' && big.maxWriteBytes === 1024 * 1024);
  const tiny = negotiateInit(OFFER, { maxWriteBytes: 10 });
  assert.ok(tiny.kind === 'accept' && tiny.maxWriteBytes === 4096);
  assert.ok((WANTED_FLAGS & InitFlag.WRITEBACK_CACHE) === 0);
  assert.ok(readBufferBytes(1024 * 1024) >= 1024 * 1024 + 80, 'room for the WRITE headers');
});

test('a newer major gets our major only; an old kernel is refused', () => {
  assert.equal(negotiateInit({ ...OFFER, major: 8 }, { maxWriteBytes: 4096 }),
    { kind: 'major-only', reply: { major: 7 } });
  assert.is(negotiateInit({ ...OFFER, minor: 27 }, { maxWriteBytes: 4096 }).kind, 'refuse');
  assert.is(negotiateInit({ ...OFFER, major: 6 }, { maxWriteBytes: 4096 }).kind, 'refuse');
  const older = negotiateInit({ ...OFFER, minor: 31 }, { maxWriteBytes: 4096 });
  assert.ok(older.kind === 'accept' && older.minor === 31, 'an older kernel keeps its minor');
});

test.run();
