// Goal: ranges and conditional headers follow S3: one range (suffix, open end, clipped end),
// unsatisfiable ones are InvalidRange, malformed or multiple ranges mean the whole object, and
// the conditionals apply with S3's precedence at one-second resolution. Method: a table.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { S3Error } from '../src/s3/errors.ts';
import { checkConditions, etagMatches, parseRange } from '../src/s3/http-conditions.ts';

function outcome(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (err) {
    return err instanceof S3Error ? err.code : String(err);
  }
}

test('ranges', () => {
  const cases: [string | undefined, number, unknown][] = [
    [undefined, 100, null], ['bytes=0-9', 100, { start: 0, end: 9 }], ['bytes=90-', 100,
      { start: 90, end: 99 }],
    ['bytes=-10', 100, { start: 90, end: 99 }], ['bytes=-500', 100, { start: 0, end: 99 }],
    ['bytes=50-5000', 100, { start: 50, end: 99 }], ['bytes=100-', 100, 'InvalidRange'],
    ['bytes=-0', 100, 'InvalidRange'], ['bytes=0-', 0, 'InvalidRange'], ['bytes=9-3', 100, null],
    ['bytes=0-1,5-6', 100, null], ['items=0-1', 100, null], ['bytes=-', 100, null],
  ];
  for (const [header, size, want] of cases) {
    assert.equal(outcome(() => parseRange(header, size)), want, `${header} of ${size}`);
  }
});

test('conditionals with S3 precedence', () => {
  const mtime = Date.parse('2024-05-01T10:00:00.700Z');
  const before = 'Wed, 01 May 2024 09:00:00 GMT';
  const same = 'Wed, 01 May 2024 10:00:00 GMT';
  const after = 'Wed, 01 May 2024 11:00:00 GMT';
  const run = (c: Parameters<typeof checkConditions>[0]): unknown =>
    outcome(() => checkConditions(c, 'abc', mtime, 'NotModified') ?? 'ok');
  assert.is(run({}), 'ok');
  assert.is(run({ ifMatch: '"abc"' }), 'ok');
  assert.is(run({ ifMatch: '"x", "abc"' }), 'ok');
  assert.is(run({ ifMatch: '*' }), 'ok');
  assert.is(run({ ifMatch: '"x"' }), 'PreconditionFailed');
  assert.is(run({ ifUnmodifiedSince: before }), 'PreconditionFailed');
  assert.is(run({ ifUnmodifiedSince: same }), 'ok', 'same second is not modified');
  assert.is(run({ ifMatch: '"abc"', ifUnmodifiedSince: before }), 'ok', 'If-Match wins');
  assert.is(run({ ifNoneMatch: '"abc"' }), 'NotModified');
  assert.is(run({ ifNoneMatch: 'W/"abc"' }), 'NotModified');
  assert.is(run({ ifNoneMatch: '"x"', ifModifiedSince: after }), 'ok', 'If-None-Match wins');
  assert.is(run({ ifModifiedSince: same }), 'NotModified');
  assert.is(run({ ifModifiedSince: before }), 'ok');
  assert.is(run({ ifModifiedSince: 'not a date' }), 'ok');
  assert.is(outcome(() => checkConditions({ ifNoneMatch: '*' }, 'abc', mtime,
    'PreconditionFailed')),
    'PreconditionFailed', 'copy sources answer 412 instead of 304');
  assert.ok(etagMatches('"a-3"', 'a-3'));
});

test.run();
