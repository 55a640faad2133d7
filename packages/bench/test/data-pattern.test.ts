// Goal: the bytes the bench writes can be checked exactly. Method: build files from the pattern
// and check that matches() accepts the true bytes at any offset (also across ios, as after a
// short read) and rejects a flipped byte, that ios differ, and that sha256() hashes the file.
import crypto from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DataPattern } from '../src/data-pattern.ts';

const IO = 64 * 1024;
const SIZE = 10 * IO + 1234; // the last io is short

function wholeFile(p: DataPattern): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < p.ioCount(SIZE); i++) parts.push(p.io(i, SIZE));
  return Buffer.concat(parts);
}

test('a file is ioCount ios, the last one short, each different', () => {
  const p = new DataPattern(IO);
  assert.is(p.ioCount(SIZE), 11);
  assert.is(p.io(10, SIZE).length, 1234);
  assert.is(wholeFile(p).length, SIZE);
  assert.not.ok(p.io(0, SIZE).equals(p.io(1, SIZE)));
  assert.throws(() => p.io(11, SIZE), /inside the file/);
});

test('the same seed gives the same bytes, another seed other bytes', () => {
  assert.ok(wholeFile(new DataPattern(IO)).equals(wholeFile(new DataPattern(IO))));
  assert.not.ok(wholeFile(new DataPattern(IO)).equals(wholeFile(new DataPattern(IO, 'x'))));
});

test('matches() accepts true bytes anywhere and rejects a flipped byte', () => {
  const p = new DataPattern(IO);
  const file = wholeFile(p);
  for (const [from, to] of [[0, IO], [100, 3 * IO + 7], [IO - 1, IO + 1], [9 * IO, SIZE]]) {
    assert.ok(p.matches(from!, file.subarray(from, to), SIZE), `bytes ${from}..${to}`);
  }
  const bad = Buffer.from(file.subarray(IO - 10, 2 * IO));
  bad[bad.length - 1]! ^= 1;
  assert.not.ok(p.matches(IO - 10, bad, SIZE));
  assert.not.ok(p.matches(1, file.subarray(0, IO), SIZE), 'shifted by one byte');
  assert.not.ok(p.matches(SIZE - 10, file.subarray(0, 20), SIZE), 'past the end');
});

test('sha256() is the sha256 of the whole file', () => {
  const p = new DataPattern(IO);
  const expected = crypto.createHash('sha256').update(wholeFile(p)).digest('hex');
  assert.is(p.sha256(SIZE), expected);
});

test.run();
