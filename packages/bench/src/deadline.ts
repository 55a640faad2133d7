// Time bound of one limit or path: every loop of the bench checks it, so a stuck or very slow
// cluster ends the run with a named error instead of hanging.
import { assert } from '@antlerfs/protocol';

export class DeadlineError extends Error {
  override name = 'DeadlineError';
}

export class Deadline {
  readonly what: string;
  readonly timeoutMs: number;
  private readonly endMs: number;

  constructor(what: string, timeoutMs: number) {
    assert(timeoutMs > 0, 'a deadline lies in the future');
    this.what = what;
    this.timeoutMs = timeoutMs;
    this.endMs = Date.now() + timeoutMs;
  }

  /** Throws once the time is up; called once per loop iteration. */
  check(): void {
    if (Date.now() > this.endMs) {
      throw new DeadlineError(`${this.what} took longer than ${this.timeoutMs / 1000} s`);
    }
  }

  remainingMs(): number {
    return Math.max(0, this.endMs - Date.now());
  }
}
