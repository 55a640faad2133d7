// Goal: every library status has an S3 error with a real HTTP status, S3Errors carry S3's
// statuses, error documents and listings are well-formed XML, and request bodies parse with
// their text kept exactly (entities decoded, numbers and spaces left alone). Method: the
// tables themselves and round trips through fast-xml-parser.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FsError, Status, type StatusName } from '@antlerfs/protocol';
import { S3_ERROR_OF_STATUS, S3_ERRORS, S3Error, toS3Error } from '../src/s3/errors.ts';
import { children, childText, errorDocument, escapeXml, parseXmlBody,
  xmlDocument } from '../src/s3/xml.ts';

test('every status maps to an S3 error with an HTTP status', () => {
  for (const name of Object.keys(Status) as StatusName[]) {
    const code = S3_ERROR_OF_STATUS[name];
    assert.ok(code in S3_ERRORS, `${name} -> ${code}`);
    const e = toS3Error(new FsError(name, '/s3/b/k'));
    assert.is(e.code, code);
    assert.ok(e.httpStatus >= 300 && e.httpStatus < 600, name);
  }
  assert.is(toS3Error(new FsError('ENOENT')).httpStatus, 404);
  assert.is(toS3Error(new FsError('ENOTEMPTY')).code, 'BucketNotEmpty');
  assert.is(toS3Error(new Error('boom')).code, 'InternalError');
});

test('S3 codes carry S3 statuses', () => {
  const expected: [keyof typeof S3_ERRORS, number][] = [
    ['NoSuchBucket', 404], ['NoSuchKey', 404], ['BucketNotEmpty', 409], ['BucketAlreadyOwnedByYou',
      409],
    ['InvalidRange', 416], ['SignatureDoesNotMatch', 403], ['AccessDenied',
      403], ['InvalidAccessKeyId', 403],
    ['RequestTimeTooSkewed', 403], ['InvalidPart', 400], ['InvalidPartOrder',
      400], ['EntityTooSmall', 400],
    ['NoSuchUpload', 404], ['BadDigest', 400], ['InvalidDigest', 400], ['MethodNotAllowed', 405],
    ['NotImplemented', 501], ['PreconditionFailed', 412], ['NotModified', 304],
  ];
  for (const [code, status] of expected) assert.is(new S3Error(code).httpStatus, status, code);
});

test('documents escape what XML cannot hold as text', () => {
  assert.is(escapeXml(`a<b>&"c'\u0001`), 'a&lt;b&gt;&amp;&quot;c&apos;&#x1;');
  const doc = errorDocument({ Code: 'NoSuchKey', Key: 'a&b<c>' });
  assert.match(doc,
    /^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error><Code>NoSuchKey<\/Code>/);
  assert.match(doc, /<Key>a&amp;b&lt;c&gt;<\/Key><\/Error>$/);
  const parsed = parseXmlBody(Buffer.from(xmlDocument('Delete',
    '<Object><Key>x&amp;y</Key></Object>')), 'Delete');
  assert.is(childText(children(parsed, 'Object')[0], 'Key'), 'x&y');
});

test('request bodies keep their text; anything else is MalformedXML', () => {
  const body = Buffer.from(`<?xml version="1.0"?>
  <Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
    <Quiet>true</Quiet>
    <Object><Key>007</Key></Object>
    <Object><Key> spaced key </Key><VersionId></VersionId></Object>
    <Object><Key>&lt;&#x41;&gt;</Key></Object>
  </Delete>`);
  const doc = parseXmlBody(body, 'Delete');
  assert.is(childText(doc, 'Quiet'), 'true');
  assert.equal(children(doc, 'Object').map((o) => childText(o, 'Key')), ['007', ' spaced key ',
    '<A>']);
  const code = (text: string): string => {
    try {
      parseXmlBody(Buffer.from(text), 'Delete');
    } catch (err) {
      return (err as S3Error).code;
    }
    return 'no error';
  };
  assert.is(code('<Delete><Object>'), 'MalformedXML');
  assert.is(code('<Other/>'), 'MalformedXML');
  assert.is(code('not xml at all'), 'MalformedXML');
});

test.run();
