// Goal: path handling without a cluster: normalisation, parent/name splits, symlink targets,
// limits, and hidden temporary names that stay within the name limit.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FsError, NAME_MAX_BYTES } from '@antlerfs/protocol';
import { normalizePath, resolveSymlinkTarget, splitParent, temporaryName } from '../src/path.ts';

test('normalizePath', () => {
  assert.is(normalizePath(''), '/');
  assert.is(normalizePath('/'), '/');
  assert.is(normalizePath('a/b'), '/a/b');
  assert.is(normalizePath('//a///b/./c/'), '/a/b/c');
  assert.is(normalizePath('/a/../../b/..'), '/');
  assert.is(normalizePath('/a/b/../c'), '/a/c');
});

test('splitParent', () => {
  assert.equal(splitParent('/a/b/c', 'x'), { parentPath: '/a/b', name: 'c', path: '/a/b/c' });
  assert.equal(splitParent('top', 'x'), { parentPath: '/', name: 'top', path: '/top' });
  const einval = (e: unknown): boolean => e instanceof FsError && e.code === 'EINVAL';
  assert.throws(() => splitParent('/', 'rmdir'), einval);
  assert.throws(() => splitParent('/a/..', 'unlink'), einval);
});

test('limits: long names, NUL', () => {
  const tooLong = (e: unknown): boolean => (e as FsError).code === 'ENAMETOOLONG';
  assert.throws(() => normalizePath('/' + 'x'.repeat(NAME_MAX_BYTES + 1)), tooLong);
  assert.throws(() => normalizePath('/a\0b'), (e: unknown) => (e as FsError).code === 'EINVAL');
  assert.throws(() => normalizePath('/a'.repeat(3000)), tooLong);
});

test('resolveSymlinkTarget', () => {
  assert.is(resolveSymlinkTarget('/a/b/link', 'c'), '/a/b/c');
  assert.is(resolveSymlinkTarget('/a/b/link', '../c'), '/a/c');
  assert.is(resolveSymlinkTarget('/a/b/link', '/x/y'), '/x/y');
  assert.is(resolveSymlinkTarget('/link', '.'), '/');
});

test('temporaryName stays hidden and within the name limit', () => {
  assert.is(temporaryName('file.txt', 'abc'), '.file.txt.antler-abc');
  const long = temporaryName('y'.repeat(NAME_MAX_BYTES), 'abcdef');
  assert.ok(long.startsWith('.y'));
  assert.ok(Buffer.byteLength(long) <= NAME_MAX_BYTES);
});

test.run();
