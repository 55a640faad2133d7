// Goal: body digests are computed and checked as S3 does: CRC-32C and CRC-32 known answers,
// chunked updates equal to one update, the announced digests parsed from headers (malformed
// ones refused), and each kind of mismatch reported with its S3 code. Method: pure functions.
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BodyDigest, checkDigests, crc32c, expectedDigests, type ExpectedDigests,
} from '../src/s3/body-digest.ts';
import { S3Error } from '../src/s3/errors.ts';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof S3Error ? err.code : String(err);
  }
  return 'no error';
}

test('CRC-32C and CRC-32 known answers; pieces give the same value as the whole', () => {
  assert.is(crc32c(Buffer.from('123456789')).toString(16), 'e3069283');
  assert.is(zlib.crc32(Buffer.from('123456789')).toString(16), 'cbf43926');
  assert.is(crc32c(Buffer.alloc(32, 0)).toString(16), '8a9136aa');
  const data = crypto.randomBytes(10_007);
  let c = 0;
  for (let at = 0; at < data.length; at += 333) c = crc32c(data.subarray(at, at + 333), c);
  assert.is(c, crc32c(data));
});

const none: ExpectedDigests = { contentMd5Base64: null, sha256Hex: null, checksum: null };

function digestOf(data: Buffer, expected: ExpectedDigests): ReturnType<BodyDigest['finish']> {
  const d = new BodyDigest(expected);
  for (let at = 0; at < data.length; at += 1000) d.update(data.subarray(at, at + 1000));
  return d.finish();
}

test('announced digests: headers, a trailer, and what is refused', () => {
  const h = (m: Record<string, string>) => (n: string): string | undefined => m[n];
  const md5 = crypto.createHash('md5').update('x').digest('base64');
  assert.equal(expectedDigests(h({ 'content-md5': md5 }), null), { ...none,
    contentMd5Base64: md5 });
  assert.is(codeOf(() => expectedDigests(h({ 'content-md5': 'abc' }), null)), 'InvalidDigest');
  const sha1 = crypto.createHash('sha1').update('x').digest('base64');
  assert.equal(expectedDigests(h({ 'x-amz-checksum-sha1': sha1 }), null).checksum,
    { algorithm: 'sha1', base64: sha1 });
  assert.equal(expectedDigests(h({ 'x-amz-trailer': 'x-amz-checksum-crc32c' }), null).checksum,
    { algorithm: 'crc32c', base64: null });
  assert.is(codeOf(() => expectedDigests(h({ 'x-amz-checksum-crc32': 'AAAAAA==',
    'x-amz-checksum-sha1': sha1 }),
    null)), 'InvalidRequest');
  assert.is(codeOf(() => expectedDigests(h({ 'x-amz-checksum-crc32': 'AAA' }), null)),
    'InvalidRequest');
  assert.is(codeOf(() => expectedDigests(h({ 'x-amz-trailer': 'x-amz-checksum-md7' }), null)),
    'InvalidRequest');
});

test('each digest that differs is reported with its code', () => {
  const data = crypto.randomBytes(5000);
  const md5 = crypto.createHash('md5').update(data).digest('base64');
  const sha256 = crypto.createHash('sha256').update(data).digest('hex');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32c(data));
  const all: ExpectedDigests = { contentMd5Base64: md5, sha256Hex: sha256,
    checksum: { algorithm: 'crc32c', base64: crc.toString('base64') } };
  const got = digestOf(data, all);
  checkDigests(got, all);
  assert.is(got.md5.toString('base64'), md5);
  const other = crypto.createHash('md5').update('y').digest('base64');
  assert.is(codeOf(() => checkDigests(got, { ...all, contentMd5Base64: other })), 'BadDigest');
  assert.is(codeOf(() => checkDigests(got, { ...all, sha256Hex: '0'.repeat(64) })),
    'XAmzContentSHA256Mismatch');
  assert.is(codeOf(() => checkDigests(got, { ...all, checksum: { algorithm: 'crc32c',
    base64: 'AAAAAA==' } })),
    'BadDigest');
  assert.is(codeOf(() => checkDigests(got, { ...all, checksum: { algorithm: 'crc32c',
    base64: null } })),
    'InvalidRequest', 'a trailer that never came');
});

test.run();
