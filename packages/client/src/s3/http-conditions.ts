// The HTTP semantics GetObject and HeadObject share with CopyObject's source: byte ranges
// (one range, as S3 supports; a malformed or multiple range is ignored as S3 does) and the
// conditional headers with S3's precedence (If-Match beats If-Unmodified-Since, If-None-Match
// beats If-Modified-Since). Pure functions of the headers, the ETag and the mtime.
import { S3Error } from './errors.ts';

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

/** The one range asked for, null for the whole object; InvalidRange when unsatisfiable. */
export function parseRange(header: string | undefined, sizeBytes: number): ByteRange | null {
  if (header === undefined) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(header);
  if (m === null || (m[1] === '' && m[2] === '')) return null;
  const unsatisfiable = (): S3Error => new S3Error('InvalidRange', undefined, {
    RangeRequested: header, ActualObjectSize: String(sizeBytes),
  });
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || sizeBytes === 0) throw unsatisfiable();
    return { start: Math.max(0, sizeBytes - suffix), end: sizeBytes - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? sizeBytes - 1 : Math.min(Number(m[2]), sizeBytes - 1);
  if (m[2] !== '' && Number(m[2]) < start) return null;
  if (start >= sizeBytes) throw unsatisfiable();
  return { start, end };
}

/** True when one of the listed ETags (or '*') names `etag`. */
export function etagMatches(list: string, etag: string): boolean {
  return list.split(',').map((t) => t.trim()).some((t) => {
    if (t === '*') return true;
    return t.replace(/^W\//, '').replace(/^"|"$/g, '') === etag;
  });
}

export interface Conditions {
  ifMatch?: string;
  ifNoneMatch?: string;
  ifModifiedSince?: string;
  ifUnmodifiedSince?: string;
}

/** HTTP dates compare at whole seconds: that is all Last-Modified tells. */
function secondsOf(ms: number): number {
  return Math.floor(ms / 1000);
}

function dateSeconds(text: string | undefined): number | null {
  if (text === undefined) return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : secondsOf(ms);
}

/**
 * Throws PreconditionFailed (412) or, when `notModified` is the answer to give, NotModified
 * (304; CopyObject's source conditions turn that into 412 as S3 does).
 */
export function checkConditions(
  c: Conditions, etag: string, mtimeMs: number, notModified: 'NotModified' | 'PreconditionFailed',
): void {
  const modified = secondsOf(mtimeMs);
  if (c.ifMatch !== undefined) {
    if (!etagMatches(c.ifMatch, etag)) {
      throw new S3Error('PreconditionFailed', undefined, { Condition: 'If-Match' });
    }
  } else {
    const since = dateSeconds(c.ifUnmodifiedSince);
    if (since !== null && modified > since) {
      throw new S3Error('PreconditionFailed', undefined, { Condition: 'If-Unmodified-Since' });
    }
  }
  if (c.ifNoneMatch !== undefined) {
    if (etagMatches(c.ifNoneMatch, etag)) throw new S3Error(notModified);
  } else {
    const since = dateSeconds(c.ifModifiedSince);
    if (since !== null && modified <= since) throw new S3Error(notModified);
  }
}
