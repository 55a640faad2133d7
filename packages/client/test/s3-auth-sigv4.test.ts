// Goal: the gateway's SigV4 verification agrees with AWS's published examples (header form,
// presigned form, aws-chunked chunk signatures), and refuses what S3 refuses: another secret,
// an unknown key, another region, a stale clock, an expired URL. Method: the request examples
// of the S3 SigV4 documentation (key AKIAIOSFODNN7EXAMPLE, 24 May 2013) as known answers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  authenticate, canonicalQuery, canonicalUris, queryPairs, uriEncode, type AuthOptions,
  type SignedRequestView,
} from '../src/s3/auth-sigv4.ts';
import { decodeAwsChunked, type ChunkedResult } from '../src/s3/aws-chunked.ts';
import { S3Error } from '../src/s3/errors.ts';

const AKID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const NOW = Date.UTC(2013, 4, 24, 0, 0, 0);
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const CRED = `Credential=${AKID}/20130524/us-east-1/s3/aws4_request`;

const opts = (o: Partial<AuthOptions> = {}): AuthOptions => ({
  region: 'us-east-1', secretOf: (k) => (k === AKID ? SECRET : undefined), nowMs: NOW, ...o,
});

function view(method: string, url: string, headers: Record<string, string>): SignedRequestView {
  const q = url.indexOf('?');
  const h: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(headers)) h[k.toLowerCase()] = [v];
  return { method, rawPath: q < 0 ? url : url.slice(0, q), rawQuery: q < 0 ? '' : url.slice(q + 1),
    headers: h };
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof S3Error ? err.code : `not an S3Error: ${String(err)}`;
  }
  return 'no error';
}

const getObject = (signature: string, o: { date?: string } = {}): SignedRequestView =>
  view('GET', '/test.txt', {
    host: 'examplebucket.s3.amazonaws.com', range: 'bytes=0-9', 'x-amz-content-sha256': EMPTY,
    'x-amz-date': o.date ?? '20130524T000000Z',
    authorization: `AWS4-HMAC-SHA256 ${CRED},` +
      `SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=${signature}`,
  });
const GET_SIG = 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41';

test('the documented GetObject, PutObject, lifecycle and listing requests verify', () => {
  const r = authenticate(getObject(GET_SIG), opts());
  assert.is(r.kind, 'signed');
  const put = view('PUT', '/test$file.text', {
    host: 'examplebucket.s3.amazonaws.com', date: 'Fri, 24 May 2013 00:00:00 GMT',
    'x-amz-date': '20130524T000000Z', 'x-amz-storage-class': 'REDUCED_REDUNDANCY',
    'x-amz-content-sha256': '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
    authorization: `AWS4-HMAC-SHA256 ${CRED},SignedHeaders=date;host;x-amz-content-sha256;` +
      'x-amz-date;x-amz-storage-class,' +
      'Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd',
  });
  const p = authenticate(put, opts());
  assert.equal(p.payload, { kind: 'sha256',
    hex: '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072' });
  const bucketGet = (url: string, signature: string): SignedRequestView => view('GET', url, {
    host: 'examplebucket.s3.amazonaws.com', 'x-amz-date': '20130524T000000Z',
      'x-amz-content-sha256': EMPTY,
    authorization: `AWS4-HMAC-SHA256 ${CRED},SignedHeaders=host;x-amz-content-sha256;x-amz-date,` +
      `Signature=${signature}`,
  });
  authenticate(bucketGet('/?lifecycle',
    'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543'), opts());
  authenticate(bucketGet('/?max-keys=2&prefix=J',
    '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7'),
    opts());
});

test('refusals: another secret, unknown key, region, skew, malformed header, SigV2', () => {
  assert.is(codeOf(() => authenticate(getObject('0'.repeat(64)), opts())), 'SignatureDoesNotMatch');
  assert.is(codeOf(() => authenticate(getObject(GET_SIG),
    opts({ secretOf: (k) => (k === AKID ? 'other' : undefined) }))),
    'SignatureDoesNotMatch');
  assert.is(codeOf(() => authenticate(getObject(GET_SIG), opts({ secretOf: () => undefined }))),
    'InvalidAccessKeyId');
  assert.is(codeOf(() => authenticate(getObject(GET_SIG), opts({ region: 'eu-west-1' }))),
    'AuthorizationHeaderMalformed');
  assert.is(codeOf(() => authenticate(getObject(GET_SIG), opts({ nowMs: NOW + 16 * 60_000 }))),
    'RequestTimeTooSkewed');
  assert.is(codeOf(() => authenticate(getObject(GET_SIG, { date: '20130525T000000Z' }), opts())),
    'AuthorizationHeaderMalformed', 'the credential day is not the request day');
  const v2 = view('GET', '/x', { host: 'h', authorization: 'AWS AKID:c2lnbmF0dXJl' });
  assert.is(codeOf(() => authenticate(v2, opts())), 'InvalidRequest');
  const broken = view('GET', '/x', { host: 'h', authorization: 'AWS4-HMAC-SHA256 Credential=x' });
  assert.is(codeOf(() => authenticate(broken, opts())), 'AuthorizationHeaderMalformed');
});

const PRESIGNED = '/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256' +
  '&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request' +
  '&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host' +
  '&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404';

test('the documented presigned URL verifies within its day and not after', () => {
  const v = view('GET', PRESIGNED, { host: 'examplebucket.s3.amazonaws.com' });
  const r = authenticate(v, opts({ nowMs: NOW + 3600_000 }));
  assert.equal([r.kind, r.payload.kind], ['signed', 'unsigned']);
  assert.is(codeOf(() => authenticate(v, opts({ nowMs: NOW + 86_401_000 }))), 'AccessDenied');
  const forged = view('GET', PRESIGNED.replace('test.txt', 'test2.txt'),
    { host: 'examplebucket.s3.amazonaws.com' });
  assert.is(codeOf(() => authenticate(forged, opts())), 'SignatureDoesNotMatch');
  const tooLong = view('GET', PRESIGNED.replace('X-Amz-Expires=86400', 'X-Amz-Expires=604801'),
    { host: 'examplebucket.s3.amazonaws.com' });
  assert.is(codeOf(() => authenticate(tooLong, opts())), 'AuthorizationQueryParametersError');
});

const CHUNKED_SEED = '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9';
const CHUNK_SIGS = [
  'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648',
  '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497',
  'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9',
];

function chunkedExample(): { v: SignedRequestView; body: Buffer } {
  const v = view('PUT', '/examplebucket/chunkObject.txt', {
    host: 's3.amazonaws.com', 'x-amz-date': '20130524T000000Z',
    'x-amz-storage-class': 'REDUCED_REDUNDANCY',
    'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'content-encoding': 'aws-chunked',
    'x-amz-decoded-content-length': '66560', 'content-length': '66824',
    authorization: `AWS4-HMAC-SHA256 ${CRED},SignedHeaders=content-encoding;content-length;host;` +
      'x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,' +
      `Signature=${CHUNKED_SEED}`,
  });
  const body = Buffer.concat([
    Buffer.from(`10000;chunk-signature=${CHUNK_SIGS[0]}\r\n`), Buffer.alloc(65536,
      'a'), Buffer.from('\r\n'),
    Buffer.from(`400;chunk-signature=${CHUNK_SIGS[1]}\r\n`), Buffer.alloc(1024,
      'a'), Buffer.from('\r\n'),
    Buffer.from(`0;chunk-signature=${CHUNK_SIGS[2]}\r\n\r\n`),
  ]);
  return { v, body };
}

async function decode(v: SignedRequestView, pieces: Buffer[]): Promise<Buffer> {
  const auth = authenticate(v, opts());
  assert.ok(auth.kind === 'signed');
  const result: ChunkedResult = { trailers: new Map(), decodedBytes: 0 };
  const out: Buffer[] = [];
  const source = (async function* () { yield* pieces; })();
  for await (const b of decodeAwsChunked(source, { signing: auth.signing, signedTrailer: false,
    decodedLengthBytes: 66560 }, result)) out.push(Buffer.from(b));
  return Buffer.concat(out);
}

test('the documented aws-chunked upload: every chunk signature verifies, at any split',
  async () => {
  const { v, body } = chunkedExample();
  assert.is(body.length, 66824, 'the example body has its documented length');
  const splits = [1, 2, 85, 86, 87, 88, 1000, 65621, 65622, 65623, 65624, 65700, 66740,
    body.length - 1];
  for (const at of [0, ...splits]) {
    const pieces = at === 0 ? [body] : [body.subarray(0, at), body.subarray(at)];
    const data = await decode(v, pieces);
    assert.is(data.length, 66560, `split at ${at}`);
    assert.ok(data.every((c) => c === 0x61), `split at ${at}`);
  }
  const bytewise = Array.from({ length: 600 }, (_, i) => body.subarray(i, i + 1));
  assert.is((await decode(v, [...bytewise, body.subarray(600)])).length, 66560, 'byte by byte');
});

test('a changed byte, a missing final chunk or a swapped signature is refused', async () => {
  const { v, body } = chunkedExample();
  const flipped = Buffer.from(body);
  flipped[500] = 0x62;
  const fails = async (pieces: Buffer[]): Promise<string> => {
    try {
      await decode(v, pieces);
    } catch (err) {
      return err instanceof S3Error ? err.code : String(err);
    }
    return 'no error';
  };
  assert.is(await fails([flipped]), 'SignatureDoesNotMatch');
  assert.is(await fails([body.subarray(0, body.length - 90)]), 'IncompleteBody');
  const swapped = Buffer.from(body.toString('latin1').replace(CHUNK_SIGS[1]!, CHUNK_SIGS[2]!),
    'latin1');
  assert.is(await fails([swapped]), 'SignatureDoesNotMatch');
  assert.is(await fails([body, Buffer.from('x')]), 'IncompleteBody');
});

test('canonical URIs and queries follow the SigV4 encoding', () => {
  assert.is(uriEncode('a b/c~d*', false), 'a%20b/c~d%2A');
  assert.is(uriEncode('ü/', true), '%C3%BC%2F');
  assert.equal(canonicalUris('/b/a%20b'), ['/b/a%20b']);
  assert.equal(canonicalUris('/b/a+b'), ['/b/a%2Bb', '/b/a+b']);
  assert.is(canonicalQuery(queryPairs('prefix=J&max-keys=2&acl')), 'acl=&max-keys=2&prefix=J');
  assert.is(canonicalQuery(queryPairs('a=%2F&X-Amz-Signature=s'), 'X-Amz-Signature'), 'a=%2F');
});

test.run();
