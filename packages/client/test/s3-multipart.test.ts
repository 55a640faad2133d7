// Goal: multipart uploads behave as in S3: parts listed, completed into one object whose ETag
// is the MD5 of the part MD5s with "-N", checked for order, presence, ETags and minimum size,
// aborted without a trace, and copied from existing objects by range. Method: the SDK against a
// real gateway and cluster; the parts' hidden folder is looked at through the library.
import crypto from 'node:crypto';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateBucketCommand,
  CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand,
  ListPartsCommand, PutObjectCommand, UploadPartCommand, UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bodyBytes, failure, startS3, type S3Fixture } from './s3-fixture.ts';

const MIB = 1024 * 1024;
let f: S3Fixture;
const md5 = (b: Buffer): Buffer => crypto.createHash('md5').update(b).digest();
const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

test.before(async () => {
  f = await startS3();
  await f.s3.send(new CreateBucketCommand({ Bucket: 'mpu' }));
});
test.after(async () => {
  await f?.stop();
});

async function create(Key: string, extra: object = {}): Promise<string> {
  const r = await f.s3.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key, ...extra }));
  return r.UploadId!;
}

async function part(Key: string, UploadId: string, PartNumber: number,
  Body: Buffer): Promise<string> {
  const r = await f.s3.send(new UploadPartCommand({ Bucket: 'mpu', Key, UploadId, PartNumber,
    Body }));
  return r.ETag!;
}

test('three parts complete into one object with the multipart ETag', async () => {
  const key = 'big/object.bin';
  const id = await create(key, { ContentType: 'application/x-test', Metadata: { origin: 'mp' } });
  const bodies = [crypto.randomBytes(5 * MIB), crypto.randomBytes(5 * MIB),
    crypto.randomBytes(MIB + 7)];
  // Parts arrive out of order and concurrently; part 2 is sent twice (the second one counts).
  const [e3, e1] = await Promise.all([part(key, id, 3, bodies[2]!), part(key, id, 1, bodies[0]!)]);
  await part(key, id, 2, crypto.randomBytes(5 * MIB));
  const e2 = await part(key, id, 2, bodies[1]!);
  const listed = await f.s3.send(new ListPartsCommand({ Bucket: 'mpu', Key: key, UploadId: id }));
  assert.equal(listed.Parts?.map((p) => [p.PartNumber, p.ETag, p.Size]),
    [[1, e1, 5 * MIB], [2, e2, 5 * MIB], [3, e3, MIB + 7]]);
  const uploads = await f.s3.send(new ListMultipartUploadsCommand({ Bucket: 'mpu' }));
  assert.ok(uploads.Uploads?.some((u) => u.UploadId === id && u.Key === key));
  const Parts = [{ PartNumber: 1, ETag: e1 }, { PartNumber: 2, ETag: e2 }, { PartNumber: 3,
    ETag: e3 }];
  assert.equal(await failure(f.s3.send(new CompleteMultipartUploadCommand({
    Bucket: 'mpu', Key: key, UploadId: id, MultipartUpload: { Parts: [Parts[1]!, Parts[0]!,
      Parts[2]!] },
  }))), { code: 'InvalidPartOrder', status: 400 });
  assert.equal(await failure(f.s3.send(new CompleteMultipartUploadCommand({
    Bucket: 'mpu', Key: key, UploadId: id,
    MultipartUpload: { Parts: [Parts[0]!, { PartNumber: 2, ETag: e1 }, Parts[2]!] },
  }))), { code: 'InvalidPart', status: 400 });
  const done = await f.s3.send(new CompleteMultipartUploadCommand({
    Bucket: 'mpu', Key: key, UploadId: id, MultipartUpload: { Parts },
  }));
  const partMd5s = Buffer.concat(bodies.map(md5));
  const expectedEtag = crypto.createHash('md5').update(partMd5s).digest('hex');
  assert.is(done.ETag, `"${expectedEtag}-3"`);
  const whole = Buffer.concat(bodies);
  const got = await f.s3.send(new GetObjectCommand({ Bucket: 'mpu', Key: key }));
  assert.is(got.ETag, done.ETag);
  assert.is(got.ContentType, 'application/x-test');
  assert.equal(got.Metadata, { origin: 'mp' });
  assert.is(sha(await bodyBytes(got.Body)), sha(whole));
  assert.is(sha(await f.fs.readFile('/s3/mpu/big/object.bin')), sha(whole), 'the library reads it');
  assert.equal(await f.fs.readdir('/s3/.multipart'), [], 'the upload folder is gone');
  assert.equal(await failure(f.s3.send(new ListPartsCommand({ Bucket: 'mpu', Key: key,
    UploadId: id }))),
    { code: 'NoSuchUpload', status: 404 });
});

test('parts below the minimum size but the last are EntityTooSmall', async () => {
  const id = await create('small');
  const e1 = await part('small', id, 1, crypto.randomBytes(MIB));
  const e2 = await part('small', id, 2, crypto.randomBytes(MIB));
  assert.equal(await failure(f.s3.send(new CompleteMultipartUploadCommand({
    Bucket: 'mpu', Key: 'small', UploadId: id,
    MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e1 }, { PartNumber: 2, ETag: e2 }] },
  }))), { code: 'EntityTooSmall', status: 400 });
  // One small part alone is the last part: fine.
  const done = await f.s3.send(new CompleteMultipartUploadCommand({
    Bucket: 'mpu', Key: 'small', UploadId: id, MultipartUpload: { Parts: [{ PartNumber: 1,
      ETag: e1 }] },
  }));
  assert.match(done.ETag ?? '', /-1"$/);
  assert.is((await f.s3.send(new HeadObjectCommand({ Bucket: 'mpu',
    Key: 'small' }))).ContentLength, MIB);
});

test('an aborted upload leaves nothing; its id is then unknown', async () => {
  const id = await create('aborted');
  await part('aborted', id, 1, crypto.randomBytes(100_000));
  await f.s3.send(new AbortMultipartUploadCommand({ Bucket: 'mpu', Key: 'aborted', UploadId: id }));
  assert.equal(await f.fs.readdir('/s3/.multipart'), []);
  assert.equal(await failure(f.s3.send(new UploadPartCommand({
    Bucket: 'mpu', Key: 'aborted', UploadId: id, PartNumber: 1, Body: 'x',
  }))), { code: 'NoSuchUpload', status: 404 });
  assert.is((await failure(f.s3.send(new HeadObjectCommand({ Bucket: 'mpu',
    Key: 'aborted' })))).status, 404);
  assert.equal(await failure(f.s3.send(new UploadPartCommand({
    Bucket: 'mpu', Key: 'aborted', UploadId: 'f'.repeat(32), PartNumber: 1, Body: 'x',
  }))), { code: 'NoSuchUpload', status: 404 });
});

test('UploadPartCopy copies ranges of an existing object into parts', async () => {
  const source = crypto.randomBytes(7 * MIB + 3);
  await f.s3.send(new PutObjectCommand({ Bucket: 'mpu', Key: 'source', Body: source }));
  const id = await create('copied');
  const p1 = await f.s3.send(new UploadPartCopyCommand({
    Bucket: 'mpu', Key: 'copied', UploadId: id, PartNumber: 1, CopySource: 'mpu/source',
    CopySourceRange: `bytes=0-${5 * MIB - 1}`,
  }));
  const p2 = await f.s3.send(new UploadPartCopyCommand({
    Bucket: 'mpu', Key: 'copied', UploadId: id, PartNumber: 2, CopySource: 'mpu/source',
    CopySourceRange: `bytes=${5 * MIB}-${source.length - 1}`,
  }));
  assert.is(p1.CopyPartResult?.ETag, `"${md5(source.subarray(0, 5 * MIB)).toString('hex')}"`);
  await f.s3.send(new CompleteMultipartUploadCommand({
    Bucket: 'mpu', Key: 'copied', UploadId: id, MultipartUpload: { Parts: [
      { PartNumber: 1, ETag: p1.CopyPartResult!.ETag! }, { PartNumber: 2,
        ETag: p2.CopyPartResult!.ETag! },
    ] },
  }));
  assert.is(sha(await f.fs.readFile('/s3/mpu/copied')), sha(source));
});

test.run();
