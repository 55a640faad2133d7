// How far the V8 heap of a process holding the metadata may grow past its live size before a
// full collection. The namespace is one large, long-lived heap; V8's default lets garbage pile
// up to several times the live size (a master of a million files sat at twice its live heap),
// and resident memory per file is one of the master's main figures. A fixed, lower factor
// costs some more collection work while the heap grows, and keeps memory close to what lives.
import v8 from 'node:v8';
import { assert } from '@antlerfs/protocol';

/** The heap may grow to (1 + this / 100) x its size after the last full collection. */
export const HEAP_GROWING_PERCENT = 30;

let limited = false;

/** Sets the growth factor for this process; call once, at start, before the metadata loads. */
export function limitHeapGrowth(): void {
  assert(!limited, 'heap growth is limited once');
  assert(HEAP_GROWING_PERCENT > 0 && HEAP_GROWING_PERCENT <= 100, 'a sane growth factor');
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  limited = true;
}
