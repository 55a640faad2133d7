// Goal: S3 names map to paths as documented (buckets under the root, hidden folders beside
// them, records spread by hash), keys and bucket names that cannot be held are refused, keys
// sort in UTF-8 byte order, and metadata records survive encoding and describe only the data
// they were written for. Method: pure functions.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InodeType } from '@antlerfs/protocol';
import type { Attr } from '../src/index.ts';
import { S3Error } from '../src/s3/errors.ts';
import { compareKeys } from '../src/s3/key-walk.ts';
import { checkBucketName, checkKey, ObjectLayout } from '../src/s3/object-layout.ts';
import {
  decodeMeta, effectiveMeta, encodeMeta, metaFromHeaders, metaMatches, type ObjectMeta,
} from '../src/s3/object-meta.ts';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof S3Error ? err.code : String(err);
  }
  return 'ok';
}

test('paths of buckets, objects, records, uploads and temporary files', () => {
  const l = new ObjectLayout('/s3');
  assert.is(l.bucketPath('b'), '/s3/b');
  assert.is(l.objectPath('b', 'a/b.txt'), '/s3/b/a/b.txt');
  assert.is(l.objectPath('b', 'dir/'), '/s3/b/dir');
  assert.match(l.metaPath('b', 'a/b.txt'), /^\/s3\/\.meta\/b\/([0-9a-f]{2})\/\1[0-9a-f]{62}$/);
  assert.is.not(l.metaPath('b', 'k'), l.metaPath('b', 'k/'), 'a key and its folder marker differ');
  assert.match(l.tmpPath(), /^\/s3\/\.tmp\/[0-9a-f]{24}$/);
  assert.is(new ObjectLayout('/').objectPath('b', 'k'), '/b/k');
});

test('keys and bucket names that a path cannot hold are refused', () => {
  for (const k of ['a', 'a/b', 'dir/', 'sp ace', 'ü/€', '.hidden',
    'a.b/c..d']) assert.is(codeOf(() => checkKey(k)), 'ok', k);
  for (const k of ['', 'a//b', '/a', 'a/./b', 'a/../b', '..', 'a\0b']) {
    assert.is(codeOf(() => checkKey(k)), 'InvalidArgument', JSON.stringify(k));
  }
  assert.is(codeOf(() => checkKey('x'.repeat(1025))), 'KeyTooLongError');
  assert.is(codeOf(() => checkKey(`${'x'.repeat(256)}/y`)), 'KeyTooLongError');
  for (const b of ['abc', 'my-bucket.2',
    'a'.repeat(63)]) assert.is(codeOf(() => checkBucketName(b)), 'ok', b);
  for (const b of ['ab', 'Upper', '-x-', '.meta', 'a..b', '192.168.1.1', 'a_b', 'a'.repeat(64)]) {
    assert.is(codeOf(() => checkBucketName(b)), 'InvalidBucketName', b);
  }
});

test('keys sort by UTF-8 bytes', () => {
  const keys = ['a/', 'a-c', 'a0', 'b', '\u{1F600}', '\uFFFD', 'A'];
  const sorted = [...keys].sort(compareKeys);
  assert.equal(sorted, ['A', 'a-c', 'a/', 'a0', 'b', '\uFFFD', '\u{1F600}']);
});

const attr = (o: Partial<Attr>): Attr => ({
  inode: 7, type: InodeType.FILE, mode: 0o644, uid: 0, gid: 0, atimeMs: 0, mtimeMs: 1000,
    ctimeMs: 1000,
  nlink: 1, length: 10, goal: 1, trashtimeS: 0, ...o,
});

test('records: round trip, matching data only, defaults and limits', () => {
  const user = metaFromHeaders((n) => ({ 'x-amz-meta-a': '1',
    'content-type': 'text/x' } as Record<string, string>)[n],
    ['x-amz-meta-a', 'content-type', 'host']);
  assert.equal(user, { headers: { 'content-type': 'text/x' }, user: { a: '1' } });
  const meta: ObjectMeta = { inode: 7, lengthBytes: 10, mtimeMs: 1000, etag: 'abc', ...user,
    checksum: { algorithm: 'crc32', base64: 'AAAAAA==' } };
  assert.equal(decodeMeta(encodeMeta(meta)), meta);
  assert.is(decodeMeta('some/other/symlink'), null);
  assert.ok(metaMatches(meta, attr({})));
  assert.not.ok(metaMatches(meta, attr({ mtimeMs: 2000 })), 'rewritten in place');
  assert.not.ok(metaMatches(meta, attr({ inode: 8 })), 'replaced');
  const fallback = effectiveMeta(attr({ length: 11 }), meta);
  assert.match(fallback.etag, /^[0-9a-f]{32}-1$/);
  assert.equal([fallback.headers, fallback.user], [{}, {}]);
  assert.is(effectiveMeta(attr({ length: 11 }), null).etag, fallback.etag, 'stable');
  const big = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`x-amz-meta-k${i}`,
    'v'.repeat(80)]));
  assert.is(codeOf(() => metaFromHeaders((n) => big[n], Object.keys(big))), 'MetadataTooLarge');
});

test.run();
