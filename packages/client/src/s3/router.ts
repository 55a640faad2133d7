// Which S3 operation a request is: by method, by whether it names a bucket and a key, and by
// its subresource query parameters (?uploads, ?uploadId, ?delete, ?location, ...). Each
// operation says whether it only reads, which decides what anonymous access may do. Known S3
// subresources this gateway does not keep (ACLs, policies, tagging, ...) are NotImplemented.
import { assertNever } from '@antlerfs/protocol';
import {
  createBucket, deleteBucket, getBucketLocation, getBucketVersioning, headBucket, listBuckets,
} from './bucket.ts';
import { S3Error } from './errors.ts';
import type { GatewayContext } from './gateway-context.ts';
import { listObjects } from './list-objects.ts';
import { completeMultipartUpload } from './multipart-complete.ts';
import {
  abortMultipartUpload, createMultipartUpload, listMultipartUploads, listParts, uploadPart,
} from './multipart.ts';
import { deleteObject, deleteObjects } from './object-delete.ts';
import { getObject } from './object-get.ts';
import { copyObject, putObject } from './object-put.ts';
import type { S3Request } from './s3-request.ts';

export type Access = 'read' | 'write';

export interface Operation {
  name: string;
  access: Access;
  run: (ctx: GatewayContext, r: S3Request) => Promise<void>;
}

/** Subresources of S3 that this gateway does not implement. */
const UNSUPPORTED = [
  'acl', 'policy', 'policyStatus', 'cors', 'lifecycle', 'tagging', 'website', 'logging',
  'notification', 'replication', 'encryption', 'object-lock', 'ownershipControls',
  'publicAccessBlock', 'accelerate', 'requestPayment', 'intelligent-tiering', 'inventory',
  'metrics', 'analytics', 'versions', 'retention', 'legal-hold', 'torrent', 'restore', 'select',
  'attributes', 'session',
];

function op(name: string, access: Access, run: Operation['run']): Operation {
  return { name, access, run };
}

function unsupportedOf(r: S3Request): string | undefined {
  return UNSUPPORTED.find((q) => r.query.has(q));
}

function bucketOperation(r: S3Request): Operation {
  const q = r.query;
  switch (r.method) {
    case 'GET':
      if (q.has('location')) return op('GetBucketLocation', 'read', getBucketLocation);
      if (q.has('uploads')) return op('ListMultipartUploads', 'read', listMultipartUploads);
      if (q.has('versioning')) return op('GetBucketVersioning', 'read', getBucketVersioning);
      return op(q.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects', 'read', listObjects);
    case 'HEAD': return op('HeadBucket', 'read', headBucket);
    case 'PUT': return op('CreateBucket', 'write', createBucket);
    case 'DELETE': return op('DeleteBucket', 'write', deleteBucket);
    case 'POST':
      if (q.has('delete')) return op('DeleteObjects', 'write', deleteObjects);
      throw new S3Error('NotImplemented', 'browser form uploads (POST) are not supported');
    default: throw new S3Error('MethodNotAllowed');
  }
}

function objectOperation(r: S3Request): Operation {
  const q = r.query;
  switch (r.method) {
    case 'GET':
      if (q.has('uploadId')) return op('ListParts', 'read', listParts);
      return op('GetObject', 'read', (ctx, req) => getObject(ctx, req, true));
    case 'HEAD': return op('HeadObject', 'read', (ctx, req) => getObject(ctx, req, false));
    case 'PUT':
      if (q.has('uploadId') || q.has('partNumber')) {
        const copy = r.header('x-amz-copy-source') !== undefined;
        return op(copy ? 'UploadPartCopy' : 'UploadPart', 'write', uploadPart);
      }
      if (r.header('x-amz-copy-source') !== undefined) return op('CopyObject', 'write', copyObject);
      return op('PutObject', 'write', putObject);
    case 'DELETE':
      if (q.has('uploadId')) return op('AbortMultipartUpload', 'write', abortMultipartUpload);
      return op('DeleteObject', 'write', deleteObject);
    case 'POST':
      if (q.has('uploads')) return op('CreateMultipartUpload', 'write', createMultipartUpload);
      if (q.has('uploadId')) return op('CompleteMultipartUpload', 'write', completeMultipartUpload);
      throw new S3Error('MethodNotAllowed');
    default: throw new S3Error('MethodNotAllowed');
  }
}

export function routeOf(r: S3Request): Operation {
  const unsupported = unsupportedOf(r);
  if (r.bucket === null) {
    if (r.method !== 'GET') throw new S3Error('MethodNotAllowed');
    return op('ListBuckets', 'read', listBuckets);
  }
  if (unsupported !== undefined) {
    throw new S3Error('NotImplemented', `the ?${unsupported} subresource is not supported`);
  }
  return r.key === null ? bucketOperation(r) : objectOperation(r);
}

/** Anonymous requests may only read, and only buckets listed in S3_ANONYMOUS_READ. */
export function authorize(operation: Operation, r: S3Request, anonymousRead: Set<string>): void {
  const kind = r.auth.kind;
  switch (kind) {
    case 'signed': return;
    case 'anonymous':
      if (operation.access === 'read' && r.bucket !== null && anonymousRead.has(r.bucket)) return;
      throw new S3Error('AccessDenied');
    default: assertNever(kind, 'auth kind');
  }
}
