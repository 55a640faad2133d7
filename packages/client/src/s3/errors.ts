// The S3 error model of the gateway: every S3 error code it answers with (HTTP status and
// default message), the S3Error it throws inside a request, and the table from the library's
// statuses to S3 codes. The table is a Record over StatusName, so a status added to the
// protocol fails to compile here until it has an S3 mapping.
import { FsError, type StatusName } from '@antlerfs/protocol';

interface ErrorInfo {
  readonly httpStatus: number;
  readonly message: string;
}

export const S3_ERRORS = {
  AccessDenied: { httpStatus: 403, message: 'Access Denied' },
  AuthorizationHeaderMalformed: {
    httpStatus: 400, message: 'The authorization header is malformed',
  },
  AuthorizationQueryParametersError: {
    httpStatus: 400, message: 'The presigned URL parameters are malformed',
  },
  BadDigest: {
    httpStatus: 400, message: 'The digest you specified did not match what we received',
  },
  BucketAlreadyOwnedByYou: {
    httpStatus: 409, message: 'Your previous request to create the named bucket succeeded',
  },
  BucketNotEmpty: { httpStatus: 409, message: 'The bucket you tried to delete is not empty' },
  EntityTooLarge: {
    httpStatus: 400, message: 'Your proposed upload exceeds the maximum allowed size',
  },
  EntityTooSmall: {
    httpStatus: 400, message: 'Your proposed upload is smaller than the minimum allowed size',
  },
  IncompleteBody: {
    httpStatus: 400, message: 'You did not provide the number of bytes the request announced',
  },
  InternalError: { httpStatus: 500, message: 'We encountered an internal error' },
  InvalidAccessKeyId: {
    httpStatus: 403, message: 'The access key Id you provided does not exist in our records',
  },
  InvalidArgument: { httpStatus: 400, message: 'Invalid Argument' },
  InvalidBucketName: { httpStatus: 400, message: 'The specified bucket is not valid' },
  InvalidDigest: { httpStatus: 400, message: 'The digest you specified is not valid' },
  InvalidPart: {
    httpStatus: 400,
    message: 'One or more of the specified parts could not be found or did not match',
  },
  InvalidPartOrder: {
    httpStatus: 400, message: 'The list of parts was not in ascending order',
  },
  InvalidRange: { httpStatus: 416, message: 'The requested range is not satisfiable' },
  InvalidRequest: { httpStatus: 400, message: 'Invalid Request' },
  InvalidURI: { httpStatus: 400, message: "Couldn't parse the specified URI" },
  KeyTooLongError: { httpStatus: 400, message: 'Your key is too long' },
  MalformedXML: { httpStatus: 400, message: 'The XML you provided was not well-formed' },
  MaxMessageLengthExceeded: { httpStatus: 400, message: 'Your request was too big' },
  MetadataTooLarge: {
    httpStatus: 400, message: 'Your metadata headers exceed the maximum allowed size',
  },
  MethodNotAllowed: {
    httpStatus: 405, message: 'The specified method is not allowed against this resource',
  },
  MissingContentLength: {
    httpStatus: 411, message: 'You must provide the Content-Length HTTP header',
  },
  NoSuchBucket: { httpStatus: 404, message: 'The specified bucket does not exist' },
  NoSuchKey: { httpStatus: 404, message: 'The specified key does not exist' },
  NoSuchUpload: { httpStatus: 404, message: 'The specified multipart upload does not exist' },
  NotImplemented: {
    httpStatus: 501, message: 'A header or query you provided implies unimplemented functionality',
  },
  NotModified: { httpStatus: 304, message: 'Not Modified' },
  PreconditionFailed: {
    httpStatus: 412, message: 'At least one of the preconditions you specified did not hold',
  },
  RequestTimeTooSkewed: {
    httpStatus: 403,
    message: 'The difference between the request time and the server time is too large',
  },
  ServiceUnavailable: { httpStatus: 503, message: 'Please reduce your request rate' },
  SignatureDoesNotMatch: {
    httpStatus: 403,
    message: 'The request signature we calculated does not match the signature you provided',
  },
  SlowDown: { httpStatus: 503, message: 'Please reduce your request rate' },
  XAmzContentSHA256Mismatch: {
    httpStatus: 400,
    message: "The provided 'x-amz-content-sha256' header does not match what was computed",
  },
  /** Not S3's: a key that is a folder of other keys here (or passes through an object). */
  XAntlerKeyConflict: {
    httpStatus: 409,
    message: 'The key conflicts with another key that is its folder or lies inside it',
  },
  /** Not S3's: the cluster has no space for the object. */
  XAntlerStorageFull: { httpStatus: 507, message: 'The storage cluster is full' },
} as const satisfies Record<string, ErrorInfo>;

export type S3ErrorCode = keyof typeof S3_ERRORS;

/** A failed S3 request: the code decides the HTTP status; the message is for people. */
export class S3Error extends Error {
  override name = 'S3Error';
  readonly code: S3ErrorCode;
  readonly httpStatus: number;
  /** Extra elements of the error document (e.g. ArgumentName, ExpectedRegion). */
  readonly detail: Record<string, string>;

  constructor(code: S3ErrorCode, message?: string, detail: Record<string, string> = {}) {
    super(message ?? S3_ERRORS[code].message);
    this.code = code;
    this.httpStatus = S3_ERRORS[code].httpStatus;
    this.detail = detail;
  }
}

/** What a library status means to an S3 client (NoSuchBucket is decided by the caller). */
export const S3_ERROR_OF_STATUS: Record<StatusName, S3ErrorCode> = {
  OK: 'InternalError',
  EPERM: 'AccessDenied',
  ENOENT: 'NoSuchKey',
  EIO: 'InternalError',
  EACCES: 'AccessDenied',
  EEXIST: 'XAntlerKeyConflict',
  ENOTDIR: 'XAntlerKeyConflict',
  EISDIR: 'XAntlerKeyConflict',
  EINVAL: 'InvalidArgument',
  ENOSPC: 'XAntlerStorageFull',
  ENOTEMPTY: 'BucketNotEmpty',
  ENAMETOOLONG: 'KeyTooLongError',
  EFBIG: 'EntityTooLarge',
  EAGAIN: 'SlowDown',
  ENOTSUP: 'NotImplemented',
  ETIMEDOUT: 'ServiceUnavailable',
  ENOTCONN: 'ServiceUnavailable',
  ELOOP: 'InvalidArgument',
  EROFS: 'AccessDenied',
  ENOSYS: 'NotImplemented',
  ERANGE: 'InvalidRange',
  ENODATA: 'NoSuchKey',
  EBADF: 'InternalError',
  EPROTO: 'InternalError',
  CHUNK_LOST: 'ServiceUnavailable',
  WRONG_VERSION: 'ServiceUnavailable',
  NO_CHUNKSERVERS: 'ServiceUnavailable',
  CHECKSUM_MISMATCH: 'ServiceUnavailable',
  NO_SUCH_CHUNK: 'ServiceUnavailable',
  CHUNK_BUSY: 'SlowDown',
  NOT_ACTIVE_MASTER: 'ServiceUnavailable',
};

/** Any failure as an S3Error; a library FsError keeps its own text as the message. */
export function toS3Error(err: unknown): S3Error {
  if (err instanceof S3Error) return err;
  if (err instanceof FsError) return new S3Error(S3_ERROR_OF_STATUS[err.code], err.message);
  return new S3Error('InternalError');
}

/** The library status of `err`, or null for anything that is not an FsError. */
export function fsStatusOf(err: unknown): StatusName | null {
  return err instanceof FsError ? err.code : null;
}
