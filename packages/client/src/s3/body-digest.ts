// Digests of a request body, computed as it streams: MD5 always (the ETag), SHA-256 when the
// signature covers the body's hash, and the one additional checksum the client chose
// (x-amz-checksum-crc32, -crc32c, -sha1 or -sha256, as a header or an aws-chunked trailer).
// `check` compares each with what the client sent; a mismatch is BadDigest (or
// XAmzContentSHA256Mismatch) and the caller then discards what it wrote.
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { S3Error } from './errors.ts';

export const CHECKSUM_ALGORITHMS = ['crc32', 'crc32c', 'sha1', 'sha256'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

/** CRC-32C (Castagnoli, reflected 0x82F63B78), slicing by 8: eight tables of 256 entries. */
const CRC32C_TABLES: Uint32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    tables[0]![n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = tables[0]![n]!;
    for (let t = 1; t < 8; t++) {
      c = tables[0]![c & 0xff]! ^ (c >>> 8);
      tables[t]![n] = c >>> 0;
    }
  }
  return tables;
})();

/** Continues a CRC-32C over `data` from `crc` (0 to start). */
export function crc32c(data: Uint8Array, crc = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC32C_TABLES as
    [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array,
      Uint32Array];
  let c = ~crc >>> 0;
  let i = 0;
  const end8 = data.length - (data.length % 8);
  for (; i < end8; i += 8) {
    const lo = (c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) |
      (data[i + 3]! << 24))) >>> 0;
    c = t7[lo & 0xff]! ^ t6[(lo >>> 8) & 0xff]! ^ t5[(lo >>> 16) & 0xff]! ^ t4[lo >>> 24]! ^
      t3[data[i + 4]!]! ^ t2[data[i + 5]!]! ^ t1[data[i + 6]!]! ^ t0[data[i + 7]!]!;
  }
  for (; i < data.length; i++) c = t0[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** A running checksum of one algorithm; `digest` gives the bytes S3 base64-encodes. */
interface Checksum {
  update(data: Buffer): void;
  digest(): Buffer;
}

function crcChecksum(step: (data: Buffer, crc: number) => number): Checksum {
  let crc = 0;
  return {
    update: (data) => { crc = step(data, crc); },
    digest: () => {
      const out = Buffer.alloc(4);
      out.writeUInt32BE(crc >>> 0);
      return out;
    },
  };
}

export function newChecksum(algorithm: ChecksumAlgorithm): Checksum {
  switch (algorithm) {
    case 'crc32': return crcChecksum((d, c) => zlib.crc32(d, c));
    case 'crc32c': return crcChecksum((d, c) => crc32c(d, c));
    case 'sha1': case 'sha256': {
      const h = crypto.createHash(algorithm);
      return { update: (d) => { h.update(d); }, digest: () => h.digest() };
    }
  }
}

/** Bytes of each checksum's digest: a sent value of another length is InvalidDigest. */
const DIGEST_BYTES: Record<ChecksumAlgorithm, number> = {
  crc32: 4, crc32c: 4, sha1: 20, sha256: 32,
};

/** What the client said the body digests to; checksumBase64 may arrive in a trailer. */
export interface ExpectedDigests {
  contentMd5Base64: string | null;
  sha256Hex: string | null;
  checksum: { algorithm: ChecksumAlgorithm; base64: string | null } | null;
}

export interface BodyDigests {
  md5: Buffer;
  sha256Hex: string | null;
  checksum: { algorithm: ChecksumAlgorithm; base64: string } | null;
  sizeBytes: number;
}

export class BodyDigest {
  private readonly md5 = crypto.createHash('md5');
  private readonly sha256: crypto.Hash | null;
  private readonly checksum: Checksum | null;
  private readonly algorithm: ChecksumAlgorithm | null;
  private sizeBytes = 0;

  constructor(expected: ExpectedDigests) {
    this.sha256 = expected.sha256Hex === null ? null : crypto.createHash('sha256');
    this.algorithm = expected.checksum?.algorithm ?? null;
    this.checksum = this.algorithm === null ? null : newChecksum(this.algorithm);
  }

  update(data: Buffer): void {
    this.md5.update(data);
    this.sha256?.update(data);
    this.checksum?.update(data);
    this.sizeBytes += data.length;
  }

  finish(): BodyDigests {
    const checksum = this.algorithm === null
      ? null
      : { algorithm: this.algorithm, base64: this.checksum!.digest().toString('base64') };
    return {
      md5: this.md5.digest(), sha256Hex: this.sha256?.digest('hex') ?? null, checksum,
      sizeBytes: this.sizeBytes,
    };
  }
}

/** Throws the S3 error of the first digest that differs from what was sent. */
export function checkDigests(got: BodyDigests, expected: ExpectedDigests): void {
  if (expected.sha256Hex !== null && got.sha256Hex !== expected.sha256Hex) {
    throw new S3Error('XAmzContentSHA256Mismatch', undefined, {
      ClientComputedContentSHA256: expected.sha256Hex, S3ComputedContentSHA256: got.sha256Hex ?? '',
    });
  }
  if (expected.contentMd5Base64 !== null &&
    got.md5.toString('base64') !== expected.contentMd5Base64) {
    throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received');
  }
  const sent = expected.checksum;
  if (sent !== null) {
    if (sent.base64 === null) {
      const name = `x-amz-checksum-${sent.algorithm}`;
      throw new S3Error('InvalidRequest', `the ${name} trailer is missing`);
    }
    checkDigestFormat(sent.algorithm, sent.base64);
    if (got.checksum?.base64 !== sent.base64) {
      const name = sent.algorithm.toUpperCase();
      throw new S3Error('BadDigest',
        `The ${name} you specified did not match the calculated checksum`);
    }
  }
}

/** A base64 value of the algorithm's digest length, or InvalidDigest / InvalidRequest. */
export function checkDigestFormat(algorithm: ChecksumAlgorithm | 'md5', base64: string): void {
  const bytes = algorithm === 'md5' ? 16 : DIGEST_BYTES[algorithm];
  const ok = /^[A-Za-z0-9+/]*={0,2}$/.test(base64) &&
    Buffer.from(base64, 'base64').length === bytes;
  if (ok) return;
  if (algorithm === 'md5') throw new S3Error('InvalidDigest');
  throw new S3Error('InvalidRequest', `Value for x-amz-checksum-${algorithm} header is invalid`);
}

/**
 * The digests a request announces: Content-MD5, the payload hash, and at most one
 * x-amz-checksum-* (as a header, or named by x-amz-trailer and sent at the end of the body).
 */
export function expectedDigests(
  header: (name: string) => string | undefined, sha256Hex: string | null,
): ExpectedDigests {
  const md5 = header('content-md5') ?? null;
  if (md5 !== null) checkDigestFormat('md5', md5);
  const present = CHECKSUM_ALGORITHMS.filter((a) => header(`x-amz-checksum-${a}`) !== undefined);
  const trailer = header('x-amz-trailer')?.trim().toLowerCase();
  let checksum: ExpectedDigests['checksum'] = null;
  if (trailer !== undefined && trailer !== '') {
    const algorithm = CHECKSUM_ALGORITHMS.find((a) => trailer === `x-amz-checksum-${a}`);
    if (algorithm === undefined || present.length > 0) {
      throw new S3Error('InvalidRequest', `unsupported x-amz-trailer "${trailer}"`);
    }
    checksum = { algorithm, base64: null };
  } else if (present.length > 1) {
    throw new S3Error('InvalidRequest', 'Expecting a single x-amz-checksum- header');
  } else if (present.length === 1) {
    const algorithm = present[0]!;
    const base64 = header(`x-amz-checksum-${algorithm}`)!;
    checkDigestFormat(algorithm, base64);
    checksum = { algorithm, base64 };
  } else {
    const announced = header('x-amz-sdk-checksum-algorithm')?.toLowerCase();
    if (announced !== undefined && !CHECKSUM_ALGORITHMS.some((a) => a === announced)) {
      throw new S3Error('InvalidRequest', `unsupported checksum algorithm "${announced}"`);
    }
  }
  return { contentMd5Base64: md5, sha256Hex, checksum };
}
