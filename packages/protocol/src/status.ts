// Status codes that cross the wire. Numbers are antlerfs's own, dense and stable: never reuse
// or renumber one. Each names the errno programs should see (looked up by name on each platform).

export const Status = {
  OK: 0,
  EPERM: 1,
  ENOENT: 2,
  EIO: 3,
  EACCES: 4,
  EEXIST: 5,
  ENOTDIR: 6,
  EISDIR: 7,
  EINVAL: 8,
  ENOSPC: 9,
  ENOTEMPTY: 10,
  ENAMETOOLONG: 11,
  EFBIG: 12,
  EAGAIN: 13,
  ENOTSUP: 14,
  ETIMEDOUT: 15,
  ENOTCONN: 16,
  ELOOP: 17,
  EROFS: 18,
  ENOSYS: 19,
  ERANGE: 20,
  ENODATA: 21,
  EBADF: 22,
  EPROTO: 23,
  CHUNK_LOST: 24,
  WRONG_VERSION: 25,
  NO_CHUNKSERVERS: 26,
  CHECKSUM_MISMATCH: 27,
  NO_SUCH_CHUNK: 28,
  CHUNK_BUSY: 29,
  NOT_ACTIVE_MASTER: 30,
} as const;

export type StatusName = keyof typeof Status;
export type StatusCode = (typeof Status)[StatusName];

interface StatusInfo {
  readonly message: string;
  /** errno name programs see (FUSE returns it; the CLI prints it). */
  readonly errno: string;
  /** A client may retry the same request (maybe elsewhere) and expect success. */
  readonly retryable: boolean;
}

export const STATUS_INFO: Record<StatusName, StatusInfo> = {
  OK: { message: 'Success', errno: 'OK', retryable: false },
  EPERM: { message: 'Operation not permitted', errno: 'EPERM', retryable: false },
  ENOENT: { message: 'No such file or directory', errno: 'ENOENT', retryable: false },
  EIO: { message: 'Input/output error', errno: 'EIO', retryable: true },
  EACCES: { message: 'Permission denied', errno: 'EACCES', retryable: false },
  EEXIST: { message: 'File exists', errno: 'EEXIST', retryable: false },
  ENOTDIR: { message: 'Not a directory', errno: 'ENOTDIR', retryable: false },
  EISDIR: { message: 'Is a directory', errno: 'EISDIR', retryable: false },
  EINVAL: { message: 'Invalid argument', errno: 'EINVAL', retryable: false },
  ENOSPC: { message: 'No space left on device', errno: 'ENOSPC', retryable: false },
  ENOTEMPTY: { message: 'Directory not empty', errno: 'ENOTEMPTY', retryable: false },
  ENAMETOOLONG: { message: 'File name too long', errno: 'ENAMETOOLONG', retryable: false },
  EFBIG: { message: 'File too large', errno: 'EFBIG', retryable: false },
  EAGAIN: { message: 'Resource temporarily unavailable', errno: 'EAGAIN', retryable: true },
  ENOTSUP: { message: 'Operation not supported', errno: 'ENOTSUP', retryable: false },
  ETIMEDOUT: { message: 'Timed out', errno: 'ETIMEDOUT', retryable: true },
  ENOTCONN: { message: 'Not connected', errno: 'ENOTCONN', retryable: true },
  ELOOP: { message: 'Too many levels of symbolic links', errno: 'ELOOP', retryable: false },
  EROFS: { message: 'Read-only file system', errno: 'EROFS', retryable: false },
  ENOSYS: { message: 'Function not implemented', errno: 'ENOSYS', retryable: false },
  ERANGE: { message: 'Result too large', errno: 'ERANGE', retryable: false },
  ENODATA: { message: 'No data available', errno: 'ENODATA', retryable: false },
  EBADF: { message: 'Bad file descriptor', errno: 'EBADF', retryable: false },
  EPROTO: { message: 'Protocol error', errno: 'EPROTO', retryable: false },
  CHUNK_LOST: { message: 'Chunk lost: no valid copy', errno: 'EIO', retryable: true },
  WRONG_VERSION: { message: 'Chunk version mismatch', errno: 'EIO', retryable: true },
  NO_CHUNKSERVERS: { message: 'No chunkservers available', errno: 'ENOSPC', retryable: true },
  CHECKSUM_MISMATCH: { message: 'Block checksum mismatch', errno: 'EIO', retryable: true },
  NO_SUCH_CHUNK: { message: 'No such chunk', errno: 'EIO', retryable: true },
  CHUNK_BUSY: { message: 'Chunk is being written by another client', errno: 'EAGAIN', retryable: true },
  NOT_ACTIVE_MASTER: { message: 'Not the active master', errno: 'ENOTCONN', retryable: true },
};

const NAME_BY_CODE: StatusName[] = [];
for (const [name, code] of Object.entries(Status)) NAME_BY_CODE[code] = name as StatusName;

export function statusName(code: number): StatusName | undefined {
  return NAME_BY_CODE[code];
}

/** The one error the library throws for a failed operation: a status plus its context. */
export class FsError extends Error {
  override name = 'FsError';
  readonly status: StatusCode;
  readonly code: StatusName;
  readonly context: string;

  constructor(status: StatusCode | StatusName, context = '') {
    const code = typeof status === 'number' ? (statusName(status) ?? 'EIO') : status;
    const info = STATUS_INFO[code];
    super(context ? `${code}: ${info.message}: ${context}` : `${code}: ${info.message}`);
    this.code = code;
    this.status = Status[code];
    this.context = context;
  }

  get errno(): string {
    return STATUS_INFO[this.code].errno;
  }

  get retryable(): boolean {
    return STATUS_INFO[this.code].retryable;
  }
}

/** Maps a Node system error (fs, net) to our status, keeping the path in the context. */
export function statusFromSystemError(err: unknown): StatusName {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT': return 'ENOENT';
    case 'ENOSPC': case 'EDQUOT': return 'ENOSPC';
    case 'EACCES': return 'EACCES';
    case 'EPERM': return 'EPERM';
    case 'EEXIST': return 'EEXIST';
    case 'ECONNREFUSED': case 'ECONNRESET': case 'EPIPE': return 'ENOTCONN';
    case 'ETIMEDOUT': return 'ETIMEDOUT';
    default: return 'EIO';
  }
}
