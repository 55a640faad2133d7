// One S3 request as the handlers see it: the addressing (bucket and key, from the path or from
// a virtual host), the decoded query, header access, the verified authentication, and the
// response helpers (XML, empty, error documents) with the request id every answer carries.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { assert } from '@antlerfs/protocol';
import type { AuthResult } from './auth-sigv4.ts';
import { S3Error } from './errors.ts';
import { errorDocument } from './xml.ts';

export const SERVER_NAME = 'AntlerS3';

export interface Addressing {
  bucket: string | null;
  key: string | null;
}

function decodePathPart(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new S3Error('InvalidURI', 'the path is not valid percent-encoding');
  }
}

/** Bucket and key from the Host header (virtual host under `domain`) or else the path. */
export function addressingOf(host: string, rawPath: string, domain: string): Addressing {
  assert(rawPath.startsWith('/'), 'request paths start with /');
  const hostname = host.replace(/:\d+$/, '').toLowerCase();
  if (domain !== '' && hostname.endsWith(`.${domain}`)) {
    const bucket = hostname.slice(0, -domain.length - 1);
    const key = rawPath.length > 1 ? decodePathPart(rawPath.slice(1)) : null;
    return { bucket, key };
  }
  const slash = rawPath.indexOf('/', 1);
  if (rawPath === '/') return { bucket: null, key: null };
  if (slash < 0) return { bucket: decodePathPart(rawPath.slice(1)), key: null };
  const key = rawPath.slice(slash + 1);
  const bucket = decodePathPart(rawPath.slice(1, slash));
  return { bucket, key: key === '' ? null : decodePathPart(key) };
}

export class S3Request {
  readonly id: string;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  readonly bucket: string | null;
  readonly key: string | null;
  readonly query: Map<string, string>;
  /** Set once the signature is verified (anonymous until then). */
  auth: AuthResult;
  /** Set by a handler that answers before it read the body: the connection then closes. */
  private continued = false;

  constructor(init: {
    id: string; req: IncomingMessage; res: ServerResponse; addressing: Addressing;
    query: [string, string][]; expectsContinue: boolean;
  }) {
    this.id = init.id;
    this.req = init.req;
    this.res = init.res;
    this.method = init.req.method ?? 'GET';
    this.bucket = init.addressing.bucket;
    this.key = init.addressing.key;
    this.query = new Map(init.query);
    this.auth = { kind: 'anonymous', payload: { kind: 'unsigned' } };
    this.continued = !init.expectsContinue;
    // A client that goes away fails the handler's reads and writes; the events carry nothing
    // more and must not reach the process as unhandled errors.
    this.req.on('error', () => undefined);
    this.res.on('error', () => undefined);
  }

  /** True while the response can still be written (the client is there, it is not ended). */
  get writable(): boolean {
    return !this.res.destroyed && !this.res.writableEnded;
  }

  header(name: string): string | undefined {
    const v = this.req.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  }

  /** Lower-case names of the request's headers. */
  headerNames(): string[] {
    return Object.keys(this.req.headers);
  }

  /** Tells a client that waits (Expect: 100-continue) to send the body; once. */
  continueBody(): void {
    if (this.continued) return;
    this.continued = true;
    this.res.writeContinue();
  }

  get resource(): string {
    if (this.bucket === null) return '/';
    return this.key === null ? `/${this.bucket}` : `/${this.bucket}/${this.key}`;
  }

  private baseHeaders(status: number): void {
    this.res.statusCode = status;
    this.res.setHeader('x-amz-request-id', this.id);
    this.res.setHeader('x-amz-id-2', this.id);
    this.res.setHeader('Server', SERVER_NAME);
    // A body we did not read would be taken for the next request: close instead.
    if (!this.req.complete) this.res.setHeader('Connection', 'close');
  }

  sendXml(status: number, xml: string): void {
    this.baseHeaders(status);
    const body = Buffer.from(xml, 'utf8');
    this.res.setHeader('Content-Type', 'application/xml');
    this.res.setHeader('Content-Length', body.length);
    this.res.end(this.method === 'HEAD' ? undefined : body);
  }

  sendEmpty(status: number, headers: Record<string, string | number> = {}): void {
    this.baseHeaders(status);
    for (const [k, v] of Object.entries(headers)) this.res.setHeader(k, v);
    if (!this.res.hasHeader('Content-Length')) this.res.setHeader('Content-Length', 0);
    this.res.end();
  }

  /** Status line and headers of a streamed body (GetObject). */
  startBody(status: number, headers: Record<string, string | number>): void {
    this.baseHeaders(status);
    for (const [k, v] of Object.entries(headers)) this.res.setHeader(k, v);
  }

  sendError(err: S3Error): void {
    if (this.res.headersSent) {
      this.res.destroy(err);
      return;
    }
    for (const name of this.res.getHeaderNames()) this.res.removeHeader(name);
    if (err.httpStatus === 304 || this.method === 'HEAD') {
      const headers: Record<string, string> =
        err.httpStatus === 304 ? {} : { 'x-amz-error-code': err.code };
      this.sendEmpty(err.httpStatus, headers);
      return;
    }
    this.sendXml(err.httpStatus, errorDocument({
      Code: err.code, Message: err.message,
      ...(this.bucket === null ? {} : { BucketName: this.bucket }),
      ...(this.key === null ? {} : { Key: this.key }), Resource: this.resource, ...err.detail,
      RequestId: this.id, HostId: this.id,
    }));
  }
}
