// Goal: the S3 API of antler-s3 behaves as S3 does for the calls clients make: buckets,
// objects with metadata and standard headers, ranges, conditionals, listings with pagination,
// copies, batch deletes, folder markers, checksums; and an object is the file of the same
// path for the library, both ways. Method: @aws-sdk/client-s3 against a real gateway in front
// of a real cluster, looking at the files behind the objects with the library.
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CopyObjectCommand, CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand,
  DeleteObjectsCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand,
  ListBucketsCommand, ListObjectsCommand, ListObjectsV2Command, PutObjectCommand,
} from '@aws-sdk/client-s3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bodyBytes, failure, startS3, type S3Fixture } from './s3-fixture.ts';

let f: S3Fixture;
const md5 = (b: Buffer | string): string => crypto.createHash('md5').update(b).digest('hex');

test.before(async () => {
  f = await startS3();
});
test.after(async () => {
  await f?.stop();
});

test('buckets: create, head, list, duplicates, bad names, delete only when empty', async () => {
  await f.s3.send(new CreateBucketCommand({ Bucket: 'alpha' }));
  assert.equal(await failure(f.s3.send(new CreateBucketCommand({ Bucket: 'alpha' }))),
    { code: 'BucketAlreadyOwnedByYou', status: 409 });
  assert.equal(await failure(f.s3.send(new CreateBucketCommand({ Bucket: 'No_Good' }))),
    { code: 'InvalidBucketName', status: 400 });
  await f.s3.send(new HeadBucketCommand({ Bucket: 'alpha' }));
  assert.is((await failure(f.s3.send(new HeadBucketCommand({ Bucket: 'nope' })))).status, 404);
  const list = await f.s3.send(new ListBucketsCommand({}));
  assert.ok(list.Buckets?.some((b) => b.Name === 'alpha'));
  assert.ok((await f.fs.stat('/s3/alpha')).type === 2, 'a bucket is a folder of /s3');
  await f.s3.send(new PutObjectCommand({ Bucket: 'alpha', Key: 'k', Body: 'x' }));
  assert.equal(await failure(f.s3.send(new DeleteBucketCommand({ Bucket: 'alpha' }))),
    { code: 'BucketNotEmpty', status: 409 });
  await f.s3.send(new DeleteObjectCommand({ Bucket: 'alpha', Key: 'k' }));
  await f.s3.send(new DeleteBucketCommand({ Bucket: 'alpha' }));
  assert.equal(await failure(f.s3.send(new GetObjectCommand({ Bucket: 'alpha', Key: 'k' }))),
    { code: 'NoSuchBucket', status: 404 });
});

test('objects keep their metadata and headers; the library sees the same file', async () => {
  await f.s3.send(new CreateBucketCommand({ Bucket: 'meta' }));
  const body = Buffer.from('hello antler '.repeat(1000));
  const put = await f.s3.send(new PutObjectCommand({
    Bucket: 'meta', Key: 'docs/a b+c.txt', Body: body, ContentType: 'text/plain',
    ContentDisposition: 'attachment; filename="x.txt"', ContentEncoding: 'identity',
    CacheControl: 'max-age=60', Expires: new Date('2030-01-01T00:00:00Z'),
    Metadata: { colour: 'blue', 'two-words': 'a value' },
  }));
  assert.is(put.ETag, `"${md5(body)}"`);
  const head = await f.s3.send(new HeadObjectCommand({ Bucket: 'meta', Key: 'docs/a b+c.txt' }));
  assert.is(head.ContentLength, body.length);
  assert.is(head.ContentType, 'text/plain');
  assert.is(head.ContentDisposition, 'attachment; filename="x.txt"');
  assert.is(head.CacheControl, 'max-age=60');
  assert.is(head.ContentEncoding, 'identity');
  assert.equal(head.Metadata, { colour: 'blue', 'two-words': 'a value' });
  assert.equal(await f.fs.readFile('/s3/meta/docs/a b+c.txt'), body, 'the file holds the body');

  // The other way: a file written by the library is an object, with a stable ETag.
  const data = crypto.randomBytes(3000);
  await f.fs.writeFile('/s3/meta/from-lib.bin', data);
  const got = await f.s3.send(new GetObjectCommand({ Bucket: 'meta', Key: 'from-lib.bin' }));
  assert.equal(await bodyBytes(got.Body), data);
  assert.is(got.ContentType, 'binary/octet-stream');
  const again = await f.s3.send(new HeadObjectCommand({ Bucket: 'meta', Key: 'from-lib.bin' }));
  assert.is(again.ETag, got.ETag);
  assert.match(got.ETag ?? '', /-1"$/, 'not taken for an MD5');
  // Rewritten through the library: the old record no longer applies.
  await f.fs.writeFile('/s3/meta/docs/a b+c.txt', Buffer.from('changed'));
  const changed = await f.s3.send(new HeadObjectCommand({ Bucket: 'meta', Key: 'docs/a b+c.txt' }));
  assert.is.not(changed.ETag, put.ETag);
  assert.is(changed.ContentLength, 7);
  assert.equal(changed.Metadata, {});
});

test('ranges: first bytes, suffix, open end; past the end is InvalidRange', async () => {
  await f.s3.send(new CreateBucketCommand({ Bucket: 'ranges' }));
  const body = crypto.randomBytes(100_000);
  await f.s3.send(new PutObjectCommand({ Bucket: 'ranges', Key: 'r', Body: body }));
  const cases: [string, number, number][] = [
    ['bytes=10-19', 10, 20], ['bytes=-5', 99_995, 100_000], ['bytes=99990-', 99_990, 100_000],
    ['bytes=50000-200000', 50_000, 100_000],
  ];
  for (const [range, from, to] of cases) {
    const r = await f.s3.send(new GetObjectCommand({ Bucket: 'ranges', Key: 'r', Range: range }));
    assert.is(r.$metadata.httpStatusCode, 206, range);
    assert.is(r.ContentRange, `bytes ${from}-${to - 1}/100000`, range);
    assert.equal(await bodyBytes(r.Body), body.subarray(from, to), range);
  }
  assert.equal(await failure(f.s3.send(new GetObjectCommand({
    Bucket: 'ranges', Key: 'r', Range: 'bytes=100000-',
  }))), { code: 'InvalidRange', status: 416 });
});

test('conditionals: If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since', async () => {
  await f.s3.send(new CreateBucketCommand({ Bucket: 'cond' }));
  const put = await f.s3.send(new PutObjectCommand({ Bucket: 'cond', Key: 'c', Body: 'abc' }));
  const etag = put.ETag!;
  const get = (extra: object): Promise<unknown> =>
    f.s3.send(new GetObjectCommand({ Bucket: 'cond', Key: 'c', ...extra }));
  const past = new Date(Date.now() - 3600_000);
  const future = new Date(Date.now() + 3600_000);
  await get({ IfMatch: etag });
  assert.equal(await failure(get({ IfMatch: '"0000"' })), { code: 'PreconditionFailed',
    status: 412 });
  assert.is((await failure(get({ IfNoneMatch: etag }))).status, 304);
  await get({ IfNoneMatch: '"0000"' });
  assert.is((await failure(get({ IfModifiedSince: future }))).status, 304);
  await get({ IfModifiedSince: past });
  assert.equal(await failure(get({ IfUnmodifiedSince: past })),
    { code: 'PreconditionFailed', status: 412 });
  // If-Match that holds wins over If-Unmodified-Since that does not (S3's precedence).
  await get({ IfMatch: etag, IfUnmodifiedSince: past });
});

test('listings: key order, prefixes, delimiter, pagination of v1 and v2', async () => {
  await f.s3.send(new CreateBucketCommand({ Bucket: 'list' }));
  const keys = ['a-c', 'a/1', 'a/2', 'a/b/3', 'a0', 'b', 'c/d/e/f', 'zz'];
  for (let i = 0; i < 17; i++) keys.push(`many/k${String(i).padStart(2, '0')}`);
  await Promise.all(keys.map((Key) => f.s3.send(new PutObjectCommand({ Bucket: 'list', Key,
    Body: Key }))));
  const sorted = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  // v2 in pages of 4.
  const seen: string[] = [];
  let token: string | undefined;
  for (let page = 0; page < 20; page++) {
    const r = await f.s3.send(new ListObjectsV2Command({
      Bucket: 'list', MaxKeys: 4, ContinuationToken: token,
    }));
    seen.push(...(r.Contents ?? []).map((c) => c.Key!));
    if (!r.IsTruncated) break;
    token = r.NextContinuationToken;
  }
  assert.equal(seen, sorted, 'v2 pages give every key once, in byte order');
  // v1 with a delimiter, in pages of 2: keys and common prefixes interleaved in order.
  const items: string[] = [];
  let marker: string | undefined;
  for (let page = 0; page < 20; page++) {
    const r = await f.s3.send(new ListObjectsCommand({
      Bucket: 'list', Delimiter: '/', MaxKeys: 2, Marker: marker,
    }));
    items.push(...(r.Contents ?? []).map((c) => c.Key!),
      ...(r.CommonPrefixes ?? []).map((p) => p.Prefix!));
    if (!r.IsTruncated) break;
    marker = r.NextMarker;
  }
  assert.equal(items.sort(), ['a-c', 'a/', 'a0', 'b', 'c/', 'many/', 'zz']);
  const inA = await f.s3.send(new ListObjectsV2Command({ Bucket: 'list', Prefix: 'a/',
    Delimiter: '/' }));
  assert.equal(inA.Contents?.map((c) => c.Key), ['a/1', 'a/2']);
  assert.equal(inA.CommonPrefixes?.map((p) => p.Prefix), ['a/b/']);
  const after = await f.s3.send(new ListObjectsV2Command({
    Bucket: 'list', Prefix: 'many/', StartAfter: 'many/k14',
  }));
  assert.equal(after.Contents?.map((c) => c.Key), ['many/k15', 'many/k16']);
  const partial = await f.s3.send(new ListObjectsV2Command({ Bucket: 'list', Prefix: 'a' }));
  assert.equal(partial.Contents?.map((c) => c.Key), ['a-c', 'a/1', 'a/2', 'a/b/3', 'a0']);
  assert.is(partial.Contents?.[0]?.ETag, `"${md5('a-c')}"`);
});

test('copy: metadata copied or replaced, onto itself only with REPLACE', async () => {
  await f.s3.send(new CreateBucketCommand({ Bucket: 'copy' }));
  const body = crypto.randomBytes(200_000);
  await f.s3.send(new PutObjectCommand({
    Bucket: 'copy', Key: 'src', Body: body, ContentType: 'image/png', Metadata: { m: '1' },
  }));
  const c1 = await f.s3.send(new CopyObjectCommand({ Bucket: 'copy', Key: 'dst/one',
    CopySource: 'copy/src' }));
  assert.is(c1.CopyObjectResult?.ETag, `"${md5(body)}"`);
  const h1 = await f.s3.send(new HeadObjectCommand({ Bucket: 'copy', Key: 'dst/one' }));
  assert.is(h1.ContentType, 'image/png');
  assert.equal(h1.Metadata, { m: '1' });
  await f.s3.send(new CopyObjectCommand({
    Bucket: 'copy', Key: 'two', CopySource: '/copy/src', MetadataDirective: 'REPLACE',
    ContentType: 'text/x', Metadata: { n: '2' },
  }));
  const h2 = await f.s3.send(new HeadObjectCommand({ Bucket: 'copy', Key: 'two' }));
  assert.equal([h2.ContentType, h2.Metadata], ['text/x', { n: '2' }]);
  assert.equal(await f.fs.readFile('/s3/copy/two'), body);
  assert.is((await failure(f.s3.send(new CopyObjectCommand({
    Bucket: 'copy', Key: 'src', CopySource: 'copy/src',
  })))).code, 'InvalidRequest');
  await f.s3.send(new CopyObjectCommand({
    Bucket: 'copy', Key: 'src', CopySource: 'copy/src', MetadataDirective: 'REPLACE',
    Metadata: { m: 'new' },
  }));
  const h3 = await f.s3.send(new HeadObjectCommand({ Bucket: 'copy', Key: 'src' }));
  assert.equal(h3.Metadata, { m: 'new' });
  assert.is(h3.ETag, `"${md5(body)}"`);
  assert.equal(await failure(f.s3.send(new CopyObjectCommand({
    Bucket: 'copy', Key: 'x', CopySource: 'copy/missing',
  }))), { code: 'NoSuchKey', status: 404 });
});

test('batch delete removes every key and the folders they leave empty', async () => {
  await f.s3.send(new CreateBucketCommand({ Bucket: 'batch' }));
  const keys = ['d/1', 'd/2', 'd/e/3', 'top', 'keep/me'];
  for (const Key of keys) await f.s3.send(new PutObjectCommand({ Bucket: 'batch', Key,
    Body: Key }));
  const r = await f.s3.send(new DeleteObjectsCommand({ Bucket: 'batch', Delete: {
    Objects: [...keys.slice(0, 4), 'never-was'].map((Key) => ({ Key })),
  } }));
  assert.equal(r.Deleted?.map((d) => d.Key).sort(), ['d/1', 'd/2', 'd/e/3', 'never-was', 'top']);
  assert.is(r.Errors, undefined);
  const names = (await f.fs.readdir('/s3/batch')).map((e) => e.name);
  assert.equal(names, ['keep'], 'emptied folders are gone');
  const quiet = await f.s3.send(new DeleteObjectsCommand({ Bucket: 'batch', Delete: {
    Objects: [{ Key: 'keep/me' }], Quiet: true,
  } }));
  assert.is(quiet.Deleted, undefined);
  assert.is((await f.s3.send(new ListObjectsV2Command({ Bucket: 'batch' }))).KeyCount, 0);
});

test('folder markers and keys that a path cannot hold', async () => {
  await f.s3.send(new CreateBucketCommand({ Bucket: 'folders' }));
  await f.s3.send(new PutObjectCommand({ Bucket: 'folders', Key: 'empty/dir/', Body: '' }));
  const head = await f.s3.send(new HeadObjectCommand({ Bucket: 'folders', Key: 'empty/dir/' }));
  assert.is(head.ContentLength, 0);
  const list = await f.s3.send(new ListObjectsV2Command({ Bucket: 'folders' }));
  assert.equal(list.Contents?.map((c) => c.Key), ['empty/dir/']);
  assert.is((await failure(f.s3.send(new HeadObjectCommand({ Bucket: 'folders',
    Key: 'empty/' })))).status,
    404, 'a folder without a marker is no object');
  await f.s3.send(new PutObjectCommand({ Bucket: 'folders', Key: 'file', Body: 'x' }));
  assert.equal(await failure(f.s3.send(new PutObjectCommand({ Bucket: 'folders', Key: 'file/in',
    Body: 'y' }))),
    { code: 'XAntlerKeyConflict', status: 409 });
  assert.is((await failure(f.s3.send(new PutObjectCommand({ Bucket: 'folders', Key: 'a//b',
    Body: 'y' })))).code,
    'InvalidArgument');
  await f.s3.send(new DeleteObjectCommand({ Bucket: 'folders', Key: 'empty/dir/' }));
  assert.equal((await f.fs.readdir('/s3/folders')).map((e) => e.name), ['file']);
});

test('checksums are checked when sent, kept, and returned; a bad digest writes nothing',
  async () => {
  await f.s3.send(new CreateBucketCommand({ Bucket: 'sums' }));
  const body = crypto.randomBytes(70_000);
  for (const alg of ['CRC32', 'CRC32C', 'SHA1', 'SHA256'] as const) {
    const put = await f.s3.send(new PutObjectCommand({
      Bucket: 'sums', Key: alg, Body: body, ChecksumAlgorithm: alg,
    }));
    const got = await f.s3.send(new GetObjectCommand({ Bucket: 'sums', Key: alg,
      ChecksumMode: 'ENABLED' }));
    assert.equal(await bodyBytes(got.Body), body, alg);
    const field = `Checksum${alg}` as const;
    assert.ok(put[field] !== undefined, `${alg} acknowledged`);
    assert.is(got[field], put[field], `${alg} returned`);
  }
  // A stream body: aws-chunked with the checksum in a trailer (the SDK's default for streams).
  const streamed = await f.s3.send(new PutObjectCommand({
    Bucket: 'sums', Key: 'streamed', Body: Readable.from([body.subarray(0, 30_000),
      body.subarray(30_000)]),
    ContentLength: body.length,
  }));
  assert.is(streamed.ETag, `"${md5(body)}"`);
  assert.equal(await f.fs.readFile('/s3/sums/streamed'), body);
  const wrongMd5 = crypto.createHash('md5').update('other').digest('base64');
  assert.equal(await failure(f.s3.send(new PutObjectCommand({
    Bucket: 'sums', Key: 'bad', Body: body, ContentMD5: wrongMd5,
  }))), { code: 'BadDigest', status: 400 });
  assert.is((await failure(f.s3.send(new HeadObjectCommand({ Bucket: 'sums',
    Key: 'bad' })))).status, 404);
  assert.equal(await f.fs.readdir('/s3/.tmp'), [], 'no temporary file is left');
});

test('many requests at once: distinct keys, and one key written by many', async () => {
  await f.s3.send(new CreateBucketCommand({ Bucket: 'busy' }));
  const bodies = Array.from({ length: 32 }, (_, i) => crypto.randomBytes(20_000 + i * 7_919));
  const same = Array.from({ length: 12 }, () => crypto.randomBytes(150_000));
  await Promise.all([
    ...bodies.map((Body, i) => f.s3.send(new PutObjectCommand({ Bucket: 'busy', Key: `k/${i}`,
      Body }))),
    ...same.map((Body) => f.s3.send(new PutObjectCommand({ Bucket: 'busy', Key: 'same', Body }))),
  ]);
  const got = await Promise.all(bodies.map(async (_, i) =>
    bodyBytes((await f.s3.send(new GetObjectCommand({ Bucket: 'busy', Key: `k/${i}` }))).Body)));
  got.forEach((b, i) => assert.equal(b, bodies[i], `k/${i}`));
  const last = await f.s3.send(new GetObjectCommand({ Bucket: 'busy', Key: 'same' }));
  const lastBody = await bodyBytes(last.Body);
  assert.ok(same.some((b) => b.equals(lastBody)), 'one of the bodies, whole');
  assert.is(last.ETag, `"${md5(lastBody)}"`, 'with its own ETag');
  assert.equal(await f.fs.readdir('/s3/.tmp'), []);
});

test.run();
