// The body of a request as data: plain, or aws-chunked (decoded, chunk signatures checked),
// bounded by the configured limit, with the digests the client announced (Content-MD5, the
// signed payload hash, x-amz-checksum-* in a header or a trailer). The reader hashes what it
// consumes and calls `verify` at the end, before anything it wrote becomes visible.
import {
  decodeAwsChunked, type ChunkedOptions, type ChunkedResult,
} from './aws-chunked.ts';
import {
  BodyDigest, checkDigests, expectedDigests, type BodyDigests, type ExpectedDigests,
} from './body-digest.ts';
import { S3Error } from './errors.ts';
import type { S3Request } from './s3-request.ts';

/** Largest XML request body (DeleteObjects of 1000 keys of 1 KiB each, with markup). */
export const XML_BODY_MAX_BYTES = 2 * 1024 * 1024;

function parseLength(text: string | undefined, name: string): number | null {
  if (text === undefined) return null;
  if (!/^\d{1,16}$/.test(text.trim())) throw new S3Error('InvalidArgument', `bad ${name}`);
  return Number(text.trim());
}

export class RequestBody {
  readonly expected: ExpectedDigests;
  /** Decoded size the client announced, when it did. */
  readonly declaredBytes: number | null;
  private readonly r: S3Request;
  private readonly maxBytes: number;
  private readonly chunked: ChunkedOptions | null;
  private readonly chunkedResult: ChunkedResult = { trailers: new Map(), decodedBytes: 0 };

  constructor(r: S3Request, maxBytes: number) {
    this.r = r;
    this.maxBytes = maxBytes;
    const mode = r.auth.payload;
    const contentLength = parseLength(r.header('content-length'), 'Content-Length');
    if (mode.kind === 'streaming-signed' || mode.kind === 'streaming-unsigned-trailer') {
      let signing = null;
      if (mode.kind === 'streaming-signed') {
        if (r.auth.kind !== 'signed') throw new S3Error('AccessDenied');
        signing = r.auth.signing;
      }
      const decoded = parseLength(r.header('x-amz-decoded-content-length'),
        'x-amz-decoded-content-length');
      this.chunked = {
        signing, signedTrailer: mode.kind === 'streaming-signed' && mode.trailer,
        decodedLengthBytes: decoded,
      };
      this.declaredBytes = decoded;
    } else {
      this.chunked = null;
      this.declaredBytes = contentLength;
    }
    if (this.declaredBytes !== null && this.declaredBytes > maxBytes) {
      throw new S3Error('EntityTooLarge', undefined, { MaxSizeAllowed: String(maxBytes) });
    }
    const sha256Hex = mode.kind === 'sha256' ? mode.hex : null;
    this.expected = expectedDigests((n) => r.header(n), sha256Hex);
  }

  /** The decoded body, as views of what arrived; EntityTooLarge past the limit. */
  async *data(): AsyncGenerator<Buffer> {
    this.r.continueBody();
    const raw = this.r.req as AsyncIterable<Buffer>;
    const source = this.chunked === null
      ? raw
      : decodeAwsChunked(raw, this.chunked, this.chunkedResult);
    let total = 0;
    for await (const buf of source) {
      total += buf.length;
      if (total > this.maxBytes) {
        throw new S3Error('EntityTooLarge', undefined, { MaxSizeAllowed: String(this.maxBytes) });
      }
      yield buf;
    }
    if (this.declaredBytes !== null && total !== this.declaredBytes) {
      throw new S3Error('IncompleteBody');
    }
  }

  newDigest(): BodyDigest {
    return new BodyDigest(this.expected);
  }

  /** Checks every digest sent (trailer ones included) against what was received. */
  verify(got: BodyDigests): void {
    let expected = this.expected;
    const c = expected.checksum;
    if (c !== null && c.base64 === null) {
      const sent = this.chunkedResult.trailers.get(`x-amz-checksum-${c.algorithm}`) ?? null;
      expected = { ...expected, checksum: { algorithm: c.algorithm, base64: sent } };
    }
    checkDigests(got, expected);
  }

  /** The checksum to keep with the object: the one the client sent and we verified. */
  checksumOf(got: BodyDigests): BodyDigests['checksum'] {
    return this.expected.checksum === null ? null : got.checksum;
  }
}

/** A small body (XML) read whole, with its digests checked. */
export async function readSmallBody(r: S3Request): Promise<Buffer> {
  let body: RequestBody;
  const parts: Buffer[] = [];
  let digest;
  try {
    body = new RequestBody(r, XML_BODY_MAX_BYTES);
    digest = body.newDigest();
    for await (const buf of body.data()) {
      digest.update(buf);
      parts.push(buf);
    }
  } catch (err) {
    if (err instanceof S3Error && err.code === 'EntityTooLarge') {
      throw new S3Error('MaxMessageLengthExceeded');
    }
    throw err;
  }
  body.verify(digest.finish());
  return Buffer.concat(parts);
}
