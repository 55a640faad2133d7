// Request ids of the client-master link as the master sees them. The protocol's Link numbers
// requests 1..REQUEST_ID_MAX and wraps to 1; a retrying client keeps one numbering across its
// connections, so these helpers compare ids on that circle rather than as plain numbers.
import { assert } from '@antlerfs/protocol';

/** The largest id a Link gives a request; the next one is 1 again. */
export const REQUEST_ID_MAX = 0xfffffffe;

function checkId(id: number): void {
  assert(Number.isInteger(id) && id >= 1 && id <= REQUEST_ID_MAX, `request id ${id} in range`);
}

/** The id that follows `id` (as the Link numbers them). */
export function nextRequestId(id: number): number {
  checkId(id);
  return id >= REQUEST_ID_MAX ? 1 : id + 1;
}

/** The id that comes before `id`. */
export function previousRequestId(id: number): number {
  checkId(id);
  return id === 1 ? REQUEST_ID_MAX : id - 1;
}

/** How many ids lie from `from` up to `to` (0 when equal), going forward around the circle. */
export function requestIdDistance(from: number, to: number): number {
  checkId(from);
  checkId(to);
  return (to - from + REQUEST_ID_MAX) % REQUEST_ID_MAX;
}
