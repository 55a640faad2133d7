// Where S3 names live in the file system. Buckets are the folders of the root (S3_ROOT) and a
// key is a path below its bucket, so the library, the CLI and the mount see the same files.
// Beside the buckets, hidden folders (names starting with '.', which no bucket name can) hold
// what only the gateway needs:
//   .meta/<bucket>/<hh>/<sha256(key)>  metadata records (object-meta.ts)
//   .multipart/<uploadId>/             parts and the record of an upload (multipart.ts)
//   .tmp/<random>                      bodies being received, renamed into place when complete
// Keys that a path cannot hold (empty, '.' or '..' segments, NUL) are refused here.
import crypto from 'node:crypto';
import { NAME_MAX_BYTES } from '@antlerfs/protocol';
import { S3Error } from './errors.ts';

/** S3's longest key. */
export const KEY_MAX_BYTES = 1024;
export const META_DIR = '.meta';
export const MULTIPART_DIR = '.multipart';
export const TMP_DIR = '.tmp';

export class ObjectLayout {
  /** Normalised root without a trailing slash ('' for the file system root). */
  private readonly base: string;

  constructor(root: string) {
    this.base = root === '/' ? '' : root;
  }

  get root(): string {
    return this.base === '' ? '/' : this.base;
  }

  bucketPath(bucket: string): string {
    return `${this.base}/${bucket}`;
  }

  /** The file (or, for a key ending in '/', the folder) that holds the object. */
  objectPath(bucket: string, key: string): string {
    const k = key.endsWith('/') ? key.slice(0, -1) : key;
    return `${this.base}/${bucket}/${k}`;
  }

  metaRoot(): string {
    return `${this.base}/${META_DIR}`;
  }

  metaBucketPath(bucket: string): string {
    return `${this.base}/${META_DIR}/${bucket}`;
  }

  /** Records are spread over 256 folders by the key's hash, so none grows huge. */
  metaPath(bucket: string, key: string): string {
    const h = crypto.createHash('sha256').update(key, 'utf8').digest('hex');
    return `${this.base}/${META_DIR}/${bucket}/${h.slice(0, 2)}/${h}`;
  }

  multipartRoot(): string {
    return `${this.base}/${MULTIPART_DIR}`;
  }

  uploadPath(uploadId: string): string {
    return `${this.base}/${MULTIPART_DIR}/${uploadId}`;
  }

  tmpRoot(): string {
    return `${this.base}/${TMP_DIR}`;
  }

  /** A fresh name for a body being received. */
  tmpPath(): string {
    return `${this.base}/${TMP_DIR}/${crypto.randomBytes(12).toString('hex')}`;
  }
}

/** S3 bucket naming rules (the DNS-compatible ones): 3..63 of [a-z0-9.-], no IP address. */
export function checkBucketName(name: string): void {
  const ok = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) && !name.includes('..') &&
    !/^\d+\.\d+\.\d+\.\d+$/.test(name) && !name.startsWith('xn--');
  if (!ok) {
    throw new S3Error('InvalidBucketName', `"${name.slice(0, 80)}" is not a valid bucket name`);
  }
}

/** True when `name` may be a bucket: the folders of the root that are not (hidden). */
export function isBucketName(name: string): boolean {
  try {
    checkBucketName(name);
    return true;
  } catch {
    return false;
  }
}

/** Refuses keys that no path can hold; a trailing '/' (a folder marker) is allowed. */
export function checkKey(key: string): void {
  if (key === '') throw new S3Error('InvalidArgument', 'the key is empty');
  if (Buffer.byteLength(key, 'utf8') > KEY_MAX_BYTES) throw new S3Error('KeyTooLongError');
  if (key.includes('\0')) throw new S3Error('InvalidArgument', 'the key contains NUL');
  const body = key.endsWith('/') ? key.slice(0, -1) : key;
  for (const segment of body.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw new S3Error('InvalidArgument',
        'keys with an empty, "." or ".." segment between slashes are not supported here',
        { ArgumentName: 'key' });
    }
    if (Buffer.byteLength(segment, 'utf8') > NAME_MAX_BYTES) {
      throw new S3Error('KeyTooLongError',
        `a segment of the key is longer than ${NAME_MAX_BYTES} bytes`);
    }
  }
}

export function isFolderKey(key: string): boolean {
  return key.endsWith('/');
}
