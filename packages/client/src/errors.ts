// How the library turns failures into the one error it throws (protocol's FsError with a
// context such as the path), and the bounded backoff every retry loop of the client uses.
import { FsError, statusFromSystemError, type StatusName } from '@antlerfs/protocol';

export { FsError };

/** Any thrown value as an FsError; a context is added only to errors that have none. */
export function toFsError(err: unknown, context: string): FsError {
  if (err instanceof FsError) return err.context === '' ? new FsError(err.code, context) : err;
  const code: StatusName = statusFromSystemError(err);
  const reason = err instanceof Error ? err.message : String(err);
  return new FsError(code, code === 'EIO' ? `${context}: ${reason}` : context);
}

/** The same status with a new context (e.g. the path the caller knows and the callee did not). */
export function withContext(err: unknown, context: string): FsError {
  if (err instanceof FsError) return new FsError(err.code, context);
  return toFsError(err, context);
}

export function statusOf(err: unknown): StatusName {
  return err instanceof FsError ? err.code : statusFromSystemError(err);
}

export interface Backoff {
  /** First wait after a failure. */
  backoffMsMin: number;
  /** Waits double up to this. */
  backoffMsMax: number;
}

/** Wait before retry number `attempt` (0-based): doubling from min, capped at max. */
export function backoffMs(backoff: Backoff, attempt: number): number {
  const ms = backoff.backoffMsMin * 2 ** Math.min(attempt, 20);
  return Math.min(ms, backoff.backoffMsMax);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
