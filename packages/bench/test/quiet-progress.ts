// A Progress whose lines go nowhere, for tests of limits and paths.
import { Progress } from '../src/progress.ts';

export function quietProgress(): Progress {
  const sink = { isTTY: false, write: (): boolean => true };
  return new Progress(sink as unknown as NodeJS.WriteStream);
}
