// Assertions for invariants of our own code (never for peer input: decoders return reasons).
// A failed assertion is a bug: it throws AssertionError, which daemons log and exit on.

export class AssertionError extends Error {
  override name = 'AssertionError';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function assertNever(value: never, what = 'value'): never {
  throw new AssertionError(`unexpected ${what}: ${String(value)}`);
}
