// The aws-chunked body encoding (Content-Encoding: aws-chunked) decoded as it streams:
//   <hex size>[;chunk-signature=<sig>]\r\n <data> \r\n ... 0[;chunk-signature=<sig>]\r\n
//   [<trailer>:<value>\r\n ...] \r\n
// With STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER) every chunk's signature is checked against
// the chain that starts at the request's signature; trailers (x-amz-checksum-*) are collected
// for the body digests and, when signed, their x-amz-trailer-signature checked. Data leaves as
// views of the received buffers; only header lines are copied.
import crypto from 'node:crypto';
import { assert } from '@antlerfs/protocol';
import {
  EMPTY_SHA256, sameSignature, sha256Hex, signatureOf, type SigningContext,
} from './auth-sigv4.ts';
import { S3Error } from './errors.ts';

/** Longest chunk header or trailer line: a size, a signature and some slack. */
const LINE_MAX_BYTES = 4096;
/** Trailer lines accepted after the last chunk. */
const TRAILERS_MAX = 16;
/** Largest chunk size we accept in one header (clients use 8 KiB .. 1 MiB; S3 caps at 16 MiB). */
const CHUNK_MAX_BYTES = 16 * 1024 * 1024;

export interface ChunkedOptions {
  /** Chunk signatures are checked when given (the signed streaming forms). */
  signing: SigningContext | null;
  /** The signed form with trailers: the trailer signature is checked too. */
  signedTrailer: boolean;
  /** x-amz-decoded-content-length, when sent: the decoded body must have exactly this size. */
  decodedLengthBytes: number | null;
}

/** Filled while decoding: trailer headers by lower-case name. */
export interface ChunkedResult {
  trailers: Map<string, string>;
  decodedBytes: number;
}

type State = 'header' | 'data' | 'data-end' | 'trailer' | 'done';

function incomplete(why: string): S3Error {
  return new S3Error('IncompleteBody', `aws-chunked body: ${why}`);
}

class ChunkDecoder {
  state: State = 'header';
  /** Bytes of a header or trailer line received so far. */
  private line = '';
  /** Data bytes of the current chunk still to come. */
  remaining = 0;
  private chunkSignature = '';
  private chunkHash: crypto.Hash | null = null;
  private previousSignature: string;
  private crlfSeen = 0;
  private trailerLines: string[] = [];
  private lastChunk = false;

  constructor(readonly opts: ChunkedOptions, readonly result: ChunkedResult) {
    this.previousSignature = opts.signing?.seedSignature ?? '';
  }

  /** Consumes `buf` from `offset`; returns the data view found there (or null) and the end. */
  step(buf: Buffer, offset: number): { data: Buffer | null; next: number } {
    switch (this.state) {
      case 'header': case 'trailer': return { data: null, next: this.readLine(buf, offset) };
      case 'data': {
        const n = Math.min(this.remaining, buf.length - offset);
        const data = buf.subarray(offset, offset + n);
        this.remaining -= n;
        this.chunkHash?.update(data);
        this.result.decodedBytes += n;
        if (this.remaining === 0) this.state = 'data-end';
        return { data, next: offset + n };
      }
      case 'data-end': {
        const expect = this.crlfSeen === 0 ? 0x0d : 0x0a;
        if (buf[offset] !== expect) throw incomplete('chunk data is not followed by CRLF');
        if (++this.crlfSeen === 2) {
          this.crlfSeen = 0;
          this.state = 'header';
        }
        return { data: null, next: offset + 1 };
      }
      case 'done': throw incomplete('bytes after the final chunk');
    }
  }

  private readLine(buf: Buffer, offset: number): number {
    const lf = buf.indexOf(0x0a, offset);
    const end = lf < 0 ? buf.length : lf + 1;
    this.line += buf.toString('latin1', offset, end);
    if (this.line.length > LINE_MAX_BYTES) throw incomplete('a header line is too long');
    if (lf < 0) return end;
    if (!this.line.endsWith('\r\n')) throw incomplete('a line does not end in CRLF');
    const line = this.line.slice(0, -2);
    this.line = '';
    if (this.state === 'header') this.onChunkHeader(line);
    else this.onTrailerLine(line);
    return end;
  }

  private onChunkHeader(line: string): void {
    const m = /^([0-9a-fA-F]{1,8})(?:;chunk-signature=([0-9a-f]{64}))?(?:;[^\r\n]*)?$/.exec(line);
    if (m === null) throw incomplete(`bad chunk header "${line.slice(0, 80)}"`);
    const size = parseInt(m[1]!, 16);
    if (size > CHUNK_MAX_BYTES) throw incomplete(`chunk of ${size} bytes is too large`);
    if (this.opts.signing !== null) {
      if (m[2] === undefined) throw new S3Error('SignatureDoesNotMatch', 'chunk signature missing');
      this.chunkSignature = m[2];
      this.chunkHash = crypto.createHash('sha256');
    }
    this.remaining = size;
    if (size > 0) {
      this.state = 'data';
      return;
    }
    this.verifyChunk();
    this.lastChunk = true;
    this.state = 'trailer';
  }

  /** Checks the signature of the chunk just read against the chain. */
  verifyChunk(): void {
    const s = this.opts.signing;
    if (s === null) return;
    const hash = this.chunkHash?.digest('hex') ?? EMPTY_SHA256;
    const toSign = ['AWS4-HMAC-SHA256-PAYLOAD', s.amzDate, s.scope, this.previousSignature,
      EMPTY_SHA256, hash].join('\n');
    if (!sameSignature(signatureOf(s.signingKey, toSign), this.chunkSignature)) {
      throw new S3Error('SignatureDoesNotMatch', 'a chunk signature does not match');
    }
    this.previousSignature = this.chunkSignature;
    this.chunkHash = null;
  }

  private onTrailerLine(line: string): void {
    assert(this.lastChunk, 'trailers follow the last chunk');
    if (line !== '') {
      if (this.trailerLines.length >= TRAILERS_MAX) throw incomplete('too many trailers');
      this.trailerLines.push(line);
      return;
    }
    for (const t of this.trailerLines) {
      const colon = t.indexOf(':');
      if (colon <= 0) throw incomplete(`bad trailer "${t.slice(0, 80)}"`);
      this.result.trailers.set(t.slice(0, colon).trim().toLowerCase(), t.slice(colon + 1).trim());
    }
    if (this.opts.signing !== null && this.opts.signedTrailer) this.verifyTrailer();
    this.state = 'done';
  }

  private verifyTrailer(): void {
    const s = this.opts.signing!;
    const signature = this.result.trailers.get('x-amz-trailer-signature');
    if (signature === undefined) {
      throw new S3Error('SignatureDoesNotMatch', 'x-amz-trailer-signature is missing');
    }
    let canonical = '';
    for (const [k, v] of this.result.trailers) {
      if (k !== 'x-amz-trailer-signature') canonical += `${k}:${v}\n`;
    }
    const toSign = ['AWS4-HMAC-SHA256-TRAILER', s.amzDate, s.scope, this.previousSignature,
      sha256Hex(canonical)].join('\n');
    if (!sameSignature(signatureOf(s.signingKey, toSign), signature)) {
      throw new S3Error('SignatureDoesNotMatch', 'the trailer signature does not match');
    }
  }
}

/** Decodes an aws-chunked body: yields the data, fills `result`, throws S3Error on any fault. */
export async function* decodeAwsChunked(
  source: AsyncIterable<Buffer>, opts: ChunkedOptions, result: ChunkedResult,
): AsyncGenerator<Buffer> {
  const decoder = new ChunkDecoder(opts, result);
  for await (const buf of source) {
    let offset = 0;
    // Each step consumes at least one byte, so a buffer takes at most buf.length steps.
    for (let steps = 0; offset < buf.length; steps++) {
      assert(steps <= buf.length, 'aws-chunked decoding makes progress');
      const wasData = decoder.state === 'data';
      const { data, next } = decoder.step(buf, offset);
      assert(next > offset, 'a step consumes bytes');
      offset = next;
      if (wasData && decoder.state === 'data-end') decoder.verifyChunk();
      if (data !== null && data.length > 0) yield data;
    }
  }
  if (decoder.state !== 'done') throw incomplete('the body ended before the final chunk');
  const want = opts.decodedLengthBytes;
  if (want !== null && result.decodedBytes !== want) {
    throw incomplete(`decoded ${result.decodedBytes} bytes, x-amz-decoded-content-length ${want}`);
  }
}
