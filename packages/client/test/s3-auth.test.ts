// Goal: antler-s3 lets in exactly the requests signed with its keys: SigV4 headers, presigned
// URLs within their validity, aws-chunked bodies whose chunk signatures chain correctly, and
// unsigned reads of the buckets configured for them. Every refusal is 403 (or 400 for a body
// that does not match its hash) with S3's error code, and writes nothing; neither does a client
// that goes away in the middle of an upload. Method: requests signed by @smithy/signature-v4
// (an implementation independent of the gateway's) and the SDK, sent with undici to a real
// gateway and cluster; what exists afterwards is checked through the library.
import crypto from 'node:crypto';
import net from 'node:net';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { GetObjectCommand, CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { request } from 'undici';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { waitUntil } from '../../../test/harness/wait.ts';
import {
  ACCESS_KEY, bodyBytes, failure, REGION, SECRET_KEY, startS3, type S3Fixture,
} from './s3-fixture.ts';

let f: S3Fixture;
let host = '';

type HashCtor = ConstructorParameters<typeof SignatureV4>[0]['sha256'];
type SignableRequest = Parameters<SignatureV4['presign']>[0];

class NodeSha256 {
  private h: crypto.Hash | crypto.Hmac;
  constructor(private readonly secret?: Uint8Array | string) {
    this.h = this.fresh();
  }
  private fresh(): crypto.Hash | crypto.Hmac {
    return this.secret === undefined ? crypto.createHash('sha256')
      : crypto.createHmac('sha256', Buffer.from(this.secret));
  }
  update(data: Uint8Array | string): void { this.h.update(data); }
  digest(): Promise<Uint8Array> { return Promise.resolve(new Uint8Array(this.h.digest())); }
  reset(): void { this.h = this.fresh(); }
}

function signer(secretAccessKey = SECRET_KEY, accessKeyId = ACCESS_KEY): SignatureV4 {
  return new SignatureV4({
    service: 's3', region: REGION, sha256: NodeSha256 as unknown as HashCtor, uriEscapePath: false,
      applyChecksum: false,
    credentials: { accessKeyId, secretAccessKey },
  });
}

interface Signed { url: string; headers: Record<string, string> }

async function signRequest(method: string, path: string, o: {
  headers?: Record<string,
    string>; payloadHash?: string; secret?: string; date?: Date; hostHeader?: string;
} = {}): Promise<Signed> {
  const headers: Record<string, string> = {
    host: o.hostHeader ?? host, 'x-amz-content-sha256': o.payloadHash ?? 'UNSIGNED-PAYLOAD',
      ...o.headers,
  };
  const [hostname, port] = host.split(':');
  const [pathOnly, search] = path.split('?') as [string, string | undefined];
  const query = Object.fromEntries((search ?? '').split('&').filter((p) => p !== '')
    .map((p) => [p.split('=')[0]!, p.split('=')[1] ?? '']));
  const req = await signer(o.secret).sign({
    method, protocol: 'http:', hostname: hostname!, port: Number(port), path: pathOnly, query,
      headers,
  } as SignableRequest, { signingDate: o.date ?? new Date() });
  return { url: `http://${host}${path}`, headers: req.headers as Record<string, string> };
}

async function presignedUrl(method: string, path: string, expiresIn: number,
  date = new Date()): Promise<string> {
  const [hostname, port] = host.split(':');
  const req = await signer().presign({
    method, protocol: 'http:', hostname: hostname!, port: Number(port), path, query: {},
    // As S3's presigner does: a presigned body is never hashed.
    headers: { host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
  } as SignableRequest, { expiresIn, signingDate: date });
  const q = Object.entries(req.query as Record<string, string>).map(([k,
    v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return `http://${host}${path}?${q.join('&')}`;
}

async function send(method: string, s: Signed | string, body?: Buffer | Readable,
  extra: Record<string, string> = {}): Promise<{ status: number; code: string; body: Buffer }> {
  const url = typeof s === 'string' ? s : s.url;
  const headers = typeof s === 'string' ? extra : { ...s.headers, ...extra };
  const r = await request(url, { method: method as 'GET', headers, body });
  const bytes = Buffer.from(await r.body.arrayBuffer());
  const code = /<Code>([^<]*)<\/Code>/.exec(bytes.toString('utf8'))?.[1] ?? '';
  return { status: r.statusCode, code, body: bytes };
}

async function absent(path: string): Promise<void> {
  assert.is((await failure(f.fs.stat(path))).code, 'FsError');
  assert.equal(await f.fs.readdir('/s3/.tmp'), [], 'no temporary file is left');
}

test.before(async () => {
  f = await startS3({
    anonymousRead: ['public-read'], args: ['--s3-domain', 's3.local', '--s3-body-max-bytes', '4M'],
  }).catch((err: unknown) => {
    console.error(err);
    throw err;
  });
  host = `127.0.0.1:${f.gateway.port}`;
  await f.s3.send(new CreateBucketCommand({ Bucket: 'auth' }));
  await f.s3.send(new CreateBucketCommand({ Bucket: 'public-read' }));
  await f.s3.send(new PutObjectCommand({ Bucket: 'auth', Key: 'doc', Body: 'secret words' }));
  await f.s3.send(new PutObjectCommand({ Bucket: 'public-read', Key: 'doc', Body: 'open words' }));
});
test.after(async () => {
  await f?.stop();
});

test('a presigned GET works with undici until it expires', async () => {
  const ok = await send('GET', await presignedUrl('GET', '/auth/doc', 300));
  assert.equal([ok.status, ok.body.toString()], [200, 'secret words']);
  const old = new Date(Date.now() - 120_000);
  const expired = await send('GET', await presignedUrl('GET', '/auth/doc', 60, old));
  assert.equal([expired.status, expired.code], [403, 'AccessDenied']);
  assert.match(expired.body.toString(), /Request has expired/);
  const url = await presignedUrl('GET', '/auth/doc', 300);
  const signature = new URL(url).searchParams.get('X-Amz-Signature')!;
  // One hex digit changed: always another signature.
  const flipped = (parseInt(signature[0]!, 16) ^ 1).toString(16) + signature.slice(1);
  const tampered = url.replace(signature, flipped);
  assert.equal((await send('GET', tampered)).code, 'SignatureDoesNotMatch');
});

test('a presigned PUT stores its body; a forged one writes nothing', async () => {
  const body = crypto.randomBytes(300_000);
  const ok = await send('PUT', await presignedUrl('PUT', '/auth/presigned', 300), body);
  assert.is(ok.status, 200);
  assert.equal(await f.fs.readFile('/s3/auth/presigned'), body);
  // The signature of another URL: valid hex, wrong for this one.
  const other = new URL(await presignedUrl('PUT', '/auth/other', 300)).searchParams;
  const url = (await presignedUrl('PUT', '/auth/forged', 300))
    .replace(/X-Amz-Signature=[0-9a-f]+/, `X-Amz-Signature=${other.get('X-Amz-Signature')}`);
  const forged = await send('PUT', url, body);
  assert.equal([forged.status, forged.code], [403, 'SignatureDoesNotMatch']);
  await absent('/s3/auth/forged');
});

test('wrong secret, unknown key, skewed clock: 403 with the code, nothing written', async () => {
  const wrong = f.s3With(ACCESS_KEY, 'not-the-secret');
  assert.equal(await failure(wrong.send(new PutObjectCommand({ Bucket: 'auth', Key: 'w',
    Body: 'x' }))),
    { code: 'SignatureDoesNotMatch', status: 403 });
  await absent('/s3/auth/w');
  const unknown = f.s3With('AKIDNOBODY', SECRET_KEY);
  assert.equal(await failure(unknown.send(new PutObjectCommand({ Bucket: 'auth', Key: 'u',
    Body: 'x' }))),
    { code: 'InvalidAccessKeyId', status: 403 });
  await absent('/s3/auth/u');
  const skewed = await signRequest('PUT', '/auth/s', { date: new Date(Date.now() - 20 * 60_000) });
  const r = await send('PUT', skewed, Buffer.from('x'));
  assert.equal([r.status, r.code], [403, 'RequestTimeTooSkewed']);
  await absent('/s3/auth/s');
});

test('a body that does not match its signed hash is refused and not stored', async () => {
  const claimed = crypto.createHash('sha256').update('something else').digest('hex');
  const s = await signRequest('PUT', '/auth/h', { payloadHash: claimed });
  const r = await send('PUT', s, Buffer.from('the real body'));
  assert.equal([r.status, r.code], [400, 'XAmzContentSHA256Mismatch']);
  await absent('/s3/auth/h');
});

test('anonymous requests read only the buckets configured for it', async () => {
  const open = await send('GET', `http://${host}/public-read/doc`);
  assert.equal([open.status, open.body.toString()], [200, 'open words']);
  assert.is((await send('GET', `http://${host}/public-read?list-type=2`)).status, 200);
  const closed = await send('GET', `http://${host}/auth/doc`);
  assert.equal([closed.status, closed.code], [403, 'AccessDenied']);
  const write = await send('PUT', `http://${host}/public-read/new`, Buffer.from('x'));
  assert.equal([write.status, write.code], [403, 'AccessDenied']);
  await absent('/s3/public-read/new');
  assert.equal((await send('GET', `http://${host}/`)).status, 403, 'no anonymous bucket list');
});

const CHUNK_BYTES = 64 * 1024;

/** A STREAMING-AWS4-HMAC-SHA256-PAYLOAD body: chunk signatures chained from `seed`. */
function signedChunks(data: Buffer, seed: string, amzDate: string, tamper: boolean): Buffer {
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${REGION}/s3/aws4_request`;
  let key: Buffer = crypto.createHmac('sha256', `AWS4${SECRET_KEY}`).update(day).digest();
  for (const part of [REGION, 's3', 'aws4_request']) key = crypto.createHmac('sha256',
    key).update(part).digest();
  const empty = crypto.createHash('sha256').update('').digest('hex');
  const out: Buffer[] = [];
  let previous = seed;
  for (let at = 0; at <= data.length; at += CHUNK_BYTES) {
    const chunk = data.subarray(at, Math.min(at + CHUNK_BYTES, data.length));
    const toSign = ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, previous, empty,
      crypto.createHash('sha256').update(chunk).digest('hex')].join('\n');
    previous = crypto.createHmac('sha256', key).update(toSign).digest('hex');
    const sent = Buffer.from(chunk);
    if (tamper && at === CHUNK_BYTES && sent.length > 0) sent[0] = sent[0]! ^ 1;
    out.push(Buffer.from(`${chunk.length.toString(16)};chunk-signature=${previous}\r\n`), sent,
      Buffer.from('\r\n'));
    if (chunk.length === 0) break;
    if (at + CHUNK_BYTES >= data.length) {
      // The final, empty chunk follows the last data chunk.
      const last = ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, previous, empty, empty].join('\n');
      previous = crypto.createHmac('sha256', key).update(last).digest('hex');
      out.push(Buffer.from(`0;chunk-signature=${previous}\r\n\r\n`));
      break;
    }
  }
  return Buffer.concat(out);
}

async function streamingPut(path: string, data: Buffer,
  tamper: boolean): Promise<{ status: number; code: string }> {
  const date = new Date();
  const s = await signRequest('PUT', path, {
    payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', date,
    headers: { 'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': String(data.length) },
  });
  const seed = /Signature=([0-9a-f]{64})/.exec(s.headers.authorization!)![1]!;
  const body = signedChunks(data, seed, s.headers['x-amz-date']!, tamper);
  return send('PUT', s, body);
}

test('aws-chunked bodies with chunk signatures: stored when they chain, refused when not',
  async () => {
  const data = crypto.randomBytes(5 * CHUNK_BYTES + 1234);
  assert.equal((await streamingPut('/auth/chunked', data, false)).status, 200);
  assert.equal(await f.fs.readFile('/s3/auth/chunked'), data);
  const bad = await streamingPut('/auth/chunked-bad', data, true);
  assert.equal([bad.status, bad.code], [403, 'SignatureDoesNotMatch']);
  await absent('/s3/auth/chunked-bad');
});

test('an unsigned aws-chunked body with a trailer checksum is checked against it', async () => {
  const data = crypto.randomBytes(100_000);
  const crc = (d: Buffer): string => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(zlib.crc32(d));
    return b.toString('base64');
  };
  const encode = (checksum: string): Buffer => Buffer.concat([
    Buffer.from(`${(60_000).toString(16)}\r\n`), data.subarray(0, 60_000), Buffer.from('\r\n'),
    Buffer.from(`${(40_000).toString(16)}\r\n`), data.subarray(60_000), Buffer.from('\r\n'),
    Buffer.from(`0\r\nx-amz-checksum-crc32:${checksum}\r\n\r\n`),
  ]);
  const headers = {
    'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(data.length),
    'x-amz-trailer': 'x-amz-checksum-crc32',
  };
  const ok = await signRequest('PUT', '/auth/trailer',
    { payloadHash: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', headers });
  assert.is((await send('PUT', ok, encode(crc(data)))).status, 200);
  const got = await f.s3.send(new GetObjectCommand({ Bucket: 'auth', Key: 'trailer' }));
  assert.equal(await bodyBytes(got.Body), data);
  const bad = await signRequest('PUT', '/auth/trailer-bad', {
    payloadHash: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', headers,
  });
  const r = await send('PUT', bad, encode(crc(Buffer.from('other'))));
  assert.equal([r.status, r.code], [400, 'BadDigest']);
  await absent('/s3/auth/trailer-bad');
});

test('a client that goes away mid-upload leaves no object and no temporary file', async () => {
  const s = await signRequest('PUT', '/auth/gone',
    { headers: { 'content-length': String(3 * 1024 * 1024) } });
  async function* halfThenFail(): AsyncGenerator<Buffer> {
    yield crypto.randomBytes(1024 * 1024);
    yield crypto.randomBytes(1024 * 1024);
    throw new Error('the client gives up');
  }
  await request(s.url, { method: 'PUT', headers: s.headers,
    body: Readable.from(halfThenFail()) }).then(
    () => assert.unreachable('the request should fail'), () => undefined);
  await waitUntil('the gateway to drop the temporary file', async () =>
    (await f.fs.readdir('/s3/.tmp')).length === 0, { timeoutMs: 20_000 });
  await absent('/s3/auth/gone');
});

test('virtual-host addressing under S3_DOMAIN, path style beside it', async () => {
  const s = await signRequest('GET', '/doc', { hostHeader: `auth.s3.local:${f.gateway.port}` });
  const r = await send('GET', s);
  assert.equal([r.status, r.body.toString()], [200, 'secret words']);
  const list = await send('GET', await signRequest('GET', '/',
    { hostHeader: `public-read.s3.local:${f.gateway.port}` }));
  assert.match(list.body.toString(), /<Name>public-read<\/Name>/);
});

test('unknown methods and unsupported subresources are refused with their codes', async () => {
  const patch = await send('PATCH', await signRequest('PATCH', '/auth/doc'));
  assert.equal([patch.status, patch.code], [405, 'MethodNotAllowed']);
  const acl = await send('GET', await signRequest('GET', '/auth?acl'));
  assert.equal([acl.status, acl.code], [501, 'NotImplemented']);
  const noBucket = await send('GET', await signRequest('GET', '/no-such-bucket/k'));
  assert.equal([noBucket.status, noBucket.code], [404, 'NoSuchBucket']);
});

/** Writes raw bytes on a fresh connection and returns what came back before it closed. */
function raw(bytes: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port: f.gateway.port });
    let got = '';
    socket.on('data', (d: Buffer) => { got += d.toString('latin1'); });
    socket.on('error', () => resolve(got));
    socket.on('close', () => resolve(got));
    socket.setTimeout(5_000, () => socket.destroy());
    socket.end(bytes);
  });
}

test('bodies over S3_BODY_MAX_BYTES are refused, announced or not, and not stored', async () => {
  // Announced: refused from the headers alone, before any of the body is read.
  const announced = await signRequest('PUT', '/auth/large',
    { headers: { 'content-length': String(5 * 1024 * 1024) } });
  const head = Object.entries(announced.headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const answer = await raw(`PUT /auth/large HTTP/1.1\r\n${head}\r\n`);
  assert.match(answer, /^HTTP\/1\.1 400 [^]*<Code>EntityTooLarge<\/Code>/);
  // Streamed without a length: refused once the limit is passed. The gateway then closes the
  // connection, so the client sees the error answer or, if still sending, a reset.
  async function* fiveMiB(): AsyncGenerator<Buffer> {
    for (let i = 0; i < 5; i++) yield crypto.randomBytes(1024 * 1024);
  }
  const chunked = await signRequest('PUT', '/auth/large');
  const outcome = await send('PUT', chunked, Readable.from(fiveMiB())).then(
    (c) => c.code,
      (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ||
      err.code === 'UND_ERR_SOCKET' ? 'EntityTooLarge' : String(err)));
  assert.is(outcome, 'EntityTooLarge');
  await absent('/s3/auth/large');
});

test('hostile requests get errors and leave the gateway serving', async () => {
  assert.match(await raw('\x00\x01garbage\r\n\r\n'), /^HTTP\/1\.1 400/);
  assert.match(await raw('GET /auth/%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
    /^HTTP\/1\.1 (400|403)/);
  assert.match(await raw('GET auth HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
    /^HTTP\/1\.1 400/);
  const junk = await signRequest('PUT', '/auth/junk', {
    payloadHash: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      headers: { 'content-encoding': 'aws-chunked' },
  });
  const j = await send('PUT', junk, crypto.randomBytes(5000));
  assert.equal([j.status, j.code], [400, 'IncompleteBody']);
  const xml = await signRequest('POST', '/auth?delete');
  const x = await send('POST', xml, Buffer.from('<Delete><Object><Key>a</Key></Object'));
  assert.equal([x.status, x.code], [400, 'MalformedXML']);
  const many = Array.from({ length: 1001 }, (_, i) => `<Object><Key>k${i}</Key></Object>`).join('');
  const m = await send('POST', await signRequest('POST', '/auth?delete'),
    Buffer.from(`<Delete>${many}</Delete>`));
  assert.equal([m.status, m.code], [400, 'MalformedXML']);
  await absent('/s3/auth/junk');
  const ok = await send('GET', await presignedUrl('GET', '/auth/doc', 60));
  assert.equal([ok.status, ok.body.toString()], [200, 'secret words'], 'still serving');
});

test('SIGTERM stops the gateway cleanly', async () => {
  assert.is(await f.gateway.stop(), 0);
  assert.match(f.gateway.logTail(), /info  s3 stopped/);
});

test.run();
