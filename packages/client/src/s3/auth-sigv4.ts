// AWS Signature Version 4 as a server checks it: the Authorization header form and the
// presigned-URL (query) form. The canonical request is rebuilt from the request as received,
// signed with the secret of the access key, and compared in constant time. What the body must
// hash to (x-amz-content-sha256) is returned as the payload mode; the body itself is checked
// by whoever reads it (aws-chunked.ts for the streaming forms, the body sinks for a hex hash).
import crypto from 'node:crypto';
import { S3Error } from './errors.ts';

export const ALGORITHM = 'AWS4-HMAC-SHA256';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
export const STREAMING_SIGNED_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER';
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
export const EMPTY_SHA256 = crypto.createHash('sha256').update('').digest('hex');

/** Request time and server time may differ this much (S3: 15 minutes). */
export const CLOCK_SKEW_MAX_MS = 15 * 60 * 1000;
/** Longest validity of a presigned URL (S3: 7 days). */
export const PRESIGN_EXPIRES_MAX_S = 7 * 24 * 3600;
/** Signing keys kept (one per access key, day and region in use). */
const SIGNING_KEYS_MAX = 256;

/** The parts of a request a signature covers, as received. */
export interface SignedRequestView {
  method: string;
  /** Path as sent, still percent-encoded. */
  rawPath: string;
  /** Query string as sent, without '?'. */
  rawQuery: string;
  /** Lower-case header names; repeated headers keep every value. */
  headers: Record<string, string[] | undefined>;
}

export type PayloadMode =
  | { kind: 'unsigned' }
  | { kind: 'sha256'; hex: string }
  | { kind: 'streaming-signed'; trailer: boolean }
  | { kind: 'streaming-unsigned-trailer' };

/** What chunk signatures of a streaming body chain from. */
export interface SigningContext {
  signingKey: Buffer;
  amzDate: string;
  scope: string;
  seedSignature: string;
}

export type AuthResult =
  | { kind: 'anonymous'; payload: PayloadMode }
  | { kind: 'signed'; accessKey: string; payload: PayloadMode; signing: SigningContext };

export interface AuthOptions {
  region: string;
  secretOf: (accessKey: string) => string | undefined;
  nowMs: number;
}

const keyCache = new Map<string, Buffer>();

function hmac(key: Buffer | string, data: string): Buffer {
  return crypto.createHmac('sha256', key).update(data, 'utf8').digest();
}

export function sha256Hex(data: string | Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

/** The key of one day, region and service; derived once and kept. */
export function signingKey(secret: string, day: string, region: string, service: string): Buffer {
  const id = `${secret}\n${day}\n${region}\n${service}`;
  const hit = keyCache.get(id);
  if (hit !== undefined) return hit;
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), service), 'aws4_request');
  if (keyCache.size >= SIGNING_KEYS_MAX) keyCache.clear();
  keyCache.set(id, key);
  return key;
}

/** RFC 3986 encoding as SigV4 wants it: unreserved characters kept, the rest %XX upper case. */
export function uriEncode(text: string, encodeSlash: boolean): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(c) || (c === '/' && !encodeSlash)) out += c;
    else out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function safeDecode(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

/**
 * Canonical URIs to try: the path decoded and encoded again the SigV4 way (what a client
 * computes from the key), then the path exactly as sent, if it differs.
 */
export function canonicalUris(rawPath: string): string[] {
  const segments = rawPath.split('/').map((s) => {
    const decoded = safeDecode(s);
    return decoded === null ? s : uriEncode(decoded, true);
  });
  const encoded = segments.join('/') || '/';
  return encoded === rawPath ? [encoded] : [encoded, rawPath];
}

/** Query parameters as sent: decoded names and values, in order (no '+' to space). */
export function queryPairs(rawQuery: string): [string, string][] {
  if (rawQuery === '') return [];
  return rawQuery.split('&').filter((p) => p !== '').map((p) => {
    const eq = p.indexOf('=');
    const name = eq < 0 ? p : p.slice(0, eq);
    const value = eq < 0 ? '' : p.slice(eq + 1);
    return [safeDecode(name) ?? name, safeDecode(value) ?? value];
  });
}

export function canonicalQuery(pairs: [string, string][], exclude?: string): string {
  const encoded = pairs.filter(([k]) => k !== exclude)
    .map(([k, v]) => [uriEncode(k, true), uriEncode(v, true)] as const);
  const order = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);
  encoded.sort((a, b) => order(a[0], b[0]) || order(a[1], b[1]));
  return encoded.map(([k, v]) => `${k}=${v}`).join('&');
}

function canonicalHeaders(view: SignedRequestView, signed: string[]): string {
  let out = '';
  for (const name of signed) {
    const values = view.headers[name];
    if (values === undefined) {
      throw new S3Error('SignatureDoesNotMatch', `signed header ${name} is missing`);
    }
    const value = values.map((v) => v.trim().replace(/\s+/g, ' ')).join(',');
    out += `${name}:${value}\n`;
  }
  return out;
}

export interface CanonicalParts {
  method: string;
  uri: string;
  query: string;
  headers: string;
  signedHeaders: string;
  payloadHash: string;
}

export function canonicalRequest(p: CanonicalParts): string {
  return [p.method, p.uri, p.query, p.headers, p.signedHeaders, p.payloadHash].join('\n');
}

export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return `${ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonical)}`;
}

export function signatureOf(key: Buffer, toSign: string): string {
  return hmac(key, toSign).toString('hex');
}

export function sameSignature(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

/** "20130524T000000Z" as ms since the epoch, or null. */
export function parseAmzDate(text: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (m === null) return null;
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  return Number.isNaN(ms) ? null : ms;
}

export function formatAmzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** What x-amz-content-sha256 says the body is. */
export function payloadModeOf(value: string | undefined): PayloadMode {
  if (value === undefined || value === UNSIGNED_PAYLOAD) return { kind: 'unsigned' };
  if (value === STREAMING_SIGNED) return { kind: 'streaming-signed', trailer: false };
  if (value === STREAMING_SIGNED_TRAILER) return { kind: 'streaming-signed', trailer: true };
  if (value === STREAMING_UNSIGNED_TRAILER) return { kind: 'streaming-unsigned-trailer' };
  if (/^[0-9a-f]{64}$/.test(value)) return { kind: 'sha256', hex: value };
  throw new S3Error('InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, ' +
    'a STREAMING- value or the hex sha256 of the body', { ArgumentName: 'x-amz-content-sha256' });
}

function oneHeader(view: SignedRequestView, name: string): string | undefined {
  return view.headers[name]?.[0];
}

interface Credential {
  accessKey: string;
  day: string;
  region: string;
  scope: string;
}

/** "AKID/20130524/us-east-1/s3/aws4_request", checked against our region and service. */
function parseCredential(
  text: string, opts: AuthOptions, malformed: 'AuthorizationHeaderMalformed' |
  'AuthorizationQueryParametersError',
): Credential & { secret: string } {
  const parts = text.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request' || !/^\d{8}$/.test(parts[1]!)) {
    throw new S3Error(malformed, `the credential "${text}" is malformed`);
  }
  const [accessKey, day, region, service] = parts as [string, string, string, string];
  const secret = opts.secretOf(accessKey);
  if (secret === undefined) {
    throw new S3Error('InvalidAccessKeyId', undefined, { AWSAccessKeyId: accessKey });
  }
  if (service !== 's3') throw new S3Error(malformed, `the service "${service}" is not s3`);
  if (region !== opts.region) {
    throw new S3Error(malformed, `the region "${region}" is wrong; expecting "${opts.region}"`,
      { Region: opts.region });
  }
  return { accessKey, day, region, secret, scope: parts.slice(1).join('/') };
}

interface Candidate {
  view: SignedRequestView;
  query: string;
  signedHeaders: string[];
  payloadHash: string;
  amzDate: string;
  scope: string;
  key: Buffer;
  signature: string;
}

/** True when one canonical form of the request carries `signature`. */
function matchesSignature(c: Candidate): boolean {
  const headers = canonicalHeaders(c.view, c.signedHeaders);
  for (const uri of canonicalUris(c.view.rawPath)) {
    const canonical = canonicalRequest({
      method: c.view.method, uri, query: c.query, headers,
      signedHeaders: c.signedHeaders.join(';'), payloadHash: c.payloadHash,
    });
    if (sameSignature(signatureOf(c.key, stringToSign(c.amzDate, c.scope, canonical)),
      c.signature)) return true;
  }
  return false;
}

function checkSignedHeaders(list: string, malformed: 'AuthorizationHeaderMalformed' |
  'AuthorizationQueryParametersError'): string[] {
  const names = list.split(';');
  if (!names.includes('host') || names.some((n) => n === '' || n !== n.toLowerCase())) {
    throw new S3Error(malformed, `SignedHeaders "${list}" must be lower case and include host`);
  }
  return names;
}

/** The Authorization-header form: `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., ...`. */
export function verifyHeaderAuth(
  view: SignedRequestView, authorization: string, opts: AuthOptions,
): AuthResult {
  if (/^AWS\s/.test(authorization)) {
    throw new S3Error('InvalidRequest', 'Signature Version 2 is not supported; use version 4');
  }
  if (!authorization.startsWith(`${ALGORITHM} `)) {
    throw new S3Error('AuthorizationHeaderMalformed', `the algorithm must be ${ALGORITHM}`);
  }
  const fields = new Map<string, string>();
  for (const part of authorization.slice(ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credentialText = fields.get('Credential');
  const signedList = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (credentialText === undefined || signedList === undefined || signature === undefined) {
    throw new S3Error('AuthorizationHeaderMalformed',
      'the header needs Credential, SignedHeaders and Signature');
  }
  const cred = parseCredential(credentialText, opts, 'AuthorizationHeaderMalformed');
  const amzDate = requestDate(view);
  checkDay(cred, amzDate, 'AuthorizationHeaderMalformed');
  const dateMs = parseAmzDate(amzDate)!;
  if (Math.abs(opts.nowMs - dateMs) > CLOCK_SKEW_MAX_MS) {
    throw new S3Error('RequestTimeTooSkewed', undefined, {
      RequestTime: amzDate, ServerTime: formatAmzDate(opts.nowMs),
    });
  }
  const declared = oneHeader(view, 'x-amz-content-sha256');
  // Without the header the body counts as empty: anything else fails its hash check.
  const payloadHash = declared ?? EMPTY_SHA256;
  const payload = payloadModeOf(payloadHash);
  const key = signingKey(cred.secret, cred.day, cred.region, 's3');
  const candidate: Candidate = {
    view, query: canonicalQuery(queryPairs(view.rawQuery)),
    signedHeaders: checkSignedHeaders(signedList, 'AuthorizationHeaderMalformed'),
    payloadHash, amzDate, scope: cred.scope, key, signature,
  };
  if (!matchesSignature(candidate)) throw new S3Error('SignatureDoesNotMatch');
  const signing = { signingKey: key, amzDate, scope: cred.scope, seedSignature: signature };
  return { kind: 'signed', accessKey: cred.accessKey, payload, signing };
}

/** x-amz-date, or the Date header in the same basic ISO form. */
function requestDate(view: SignedRequestView): string {
  const amz = oneHeader(view, 'x-amz-date');
  if (amz !== undefined && parseAmzDate(amz) !== null) return amz;
  const date = oneHeader(view, 'date');
  const ms = date === undefined ? NaN : Date.parse(date);
  if (amz === undefined && !Number.isNaN(ms)) return formatAmzDate(ms);
  throw new S3Error('AccessDenied',
    'AWS authentication requires a valid Date or x-amz-date header');
}

function checkDay(cred: Credential, amzDate: string, malformed: 'AuthorizationHeaderMalformed' |
  'AuthorizationQueryParametersError'): void {
  if (amzDate.slice(0, 8) !== cred.day) {
    throw new S3Error(malformed, `the credential date ${cred.day} is not the request's day`);
  }
}

/** The presigned-URL form: X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders... */
export function verifyPresigned(view: SignedRequestView, opts: AuthOptions): AuthResult {
  const pairs = queryPairs(view.rawQuery);
  const q = new Map(pairs);
  const malformed = 'AuthorizationQueryParametersError';
  const need = (name: string): string => {
    const v = q.get(name);
    if (v === undefined) throw new S3Error(malformed, `the query parameter ${name} is missing`);
    return v;
  };
  if (need('X-Amz-Algorithm') !== ALGORITHM) {
    throw new S3Error(malformed, `X-Amz-Algorithm must be ${ALGORITHM}`);
  }
  const cred = parseCredential(need('X-Amz-Credential'), opts, malformed);
  const amzDate = need('X-Amz-Date');
  const dateMs = parseAmzDate(amzDate);
  if (dateMs === null) throw new S3Error(malformed, 'X-Amz-Date must look like 20130524T000000Z');
  checkDay(cred, amzDate, malformed);
  const expiresText = need('X-Amz-Expires');
  const expiresS = /^\d{1,7}$/.test(expiresText) ? Number(expiresText) : -1;
  if (expiresS < 1 || expiresS > PRESIGN_EXPIRES_MAX_S) {
    throw new S3Error(malformed, `X-Amz-Expires must be 1..${PRESIGN_EXPIRES_MAX_S} seconds`);
  }
  if (opts.nowMs > dateMs + expiresS * 1000) {
    throw new S3Error('AccessDenied', 'Request has expired', {
      Expires: new Date(dateMs + expiresS * 1000).toISOString(),
      ServerTime: new Date(opts.nowMs).toISOString(),
    });
  }
  if (dateMs - opts.nowMs > CLOCK_SKEW_MAX_MS) {
    throw new S3Error('AccessDenied', 'Request is not valid yet');
  }
  const payloadHash = q.get('X-Amz-Content-Sha256') ?? UNSIGNED_PAYLOAD;
  const payload = payloadModeOf(payloadHash);
  const signature = need('X-Amz-Signature');
  const key = signingKey(cred.secret, cred.day, cred.region, 's3');
  const candidate: Candidate = {
    view, query: canonicalQuery(pairs, 'X-Amz-Signature'),
    signedHeaders: checkSignedHeaders(need('X-Amz-SignedHeaders'), malformed),
    payloadHash, amzDate, scope: cred.scope, key, signature,
  };
  if (!matchesSignature(candidate)) throw new S3Error('SignatureDoesNotMatch');
  const signing = { signingKey: key, amzDate, scope: cred.scope, seedSignature: signature };
  return { kind: 'signed', accessKey: cred.accessKey, payload, signing };
}

/** Decides the form of the request and verifies it; unsigned requests are 'anonymous'. */
export function authenticate(view: SignedRequestView, opts: AuthOptions): AuthResult {
  const authorization = oneHeader(view, 'authorization');
  if (authorization !== undefined) return verifyHeaderAuth(view, authorization, opts);
  if (/(^|&)X-Amz-Algorithm=/.test(view.rawQuery)) return verifyPresigned(view, opts);
  return { kind: 'anonymous', payload: payloadModeOf(oneHeader(view, 'x-amz-content-sha256')) };
}
