// Errors of local files (the other side of put and get) in the CLI's one error form.
import { FsError } from '../index.ts';

const LOCAL_CODES: Record<string, FsError['code']> = {
  ENOENT: 'ENOENT', EACCES: 'EACCES', EPERM: 'EPERM', EISDIR: 'EISDIR', ENOTDIR: 'ENOTDIR',
  ENOSPC: 'ENOSPC', EEXIST: 'EEXIST', EROFS: 'EROFS', ENAMETOOLONG: 'ENAMETOOLONG',
};

/** A local fs error as FsError naming the local path; an FsError is returned as it is. */
export function localError(err: unknown, localPath: string): FsError {
  if (err instanceof FsError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const mapped = code === undefined ? undefined : LOCAL_CODES[code];
  if (mapped !== undefined) return new FsError(mapped, `local ${localPath}`);
  const reason = err instanceof Error ? err.message : String(err);
  return new FsError('EIO', `local ${localPath}: ${reason}`);
}
