// Which client requests were already applied, so a retried request is answered again instead of
// being applied twice. Per client (the clientId of CLTOMA_SESSION) a window of its most recent
// applied requests keeps what the reply needs. The windows are part of the metadata: apply()
// fills them from each change's origin, so live service, replay and a promoted metalogger's
// copy all hold the same windows, and dumps carry them. Eviction depends only on the order of
// the changes, which keeps it deterministic.
import { assert } from '@antlerfs/protocol';
import type { Attr } from './inode-table.ts';

/**
 * Applied requests remembered per client. A client retries at most what it had in flight, so
 * this must not be below SESSION_REQUESTS_INFLIGHT_MAX's default.
 */
export const REQUEST_WINDOW_ENTRIES_MAX = 256;
/** Clients remembered; the one whose last change is oldest is forgotten first. */
export const REQUEST_WINDOW_CLIENTS_MAX = 1024;

/** One applied request: enough to answer it again. */
export interface AppliedRequest {
  requestId: number;
  /** Metadata version of the change that applied it (the answer waits until it is durable). */
  version: number;
  /** Change kind number (a retry of another kind of request is not a repeat). */
  kind: number;
  /** The inode's attributes right after the change, for replies that carry one. */
  attr: Attr | null;
  /** setGoal / setTrashtime: inodes changed. */
  changed: number;
}

export class RequestWindows {
  /** Map order is the eviction order: least recently changed client first. */
  private readonly clients = new Map<bigint, Map<number, AppliedRequest>>();
  private readonly entriesMax: number;
  private readonly clientsMax: number;

  constructor(limits: { entriesMax?: number; clientsMax?: number } = {}) {
    this.entriesMax = limits.entriesMax ?? REQUEST_WINDOW_ENTRIES_MAX;
    this.clientsMax = limits.clientsMax ?? REQUEST_WINDOW_CLIENTS_MAX;
    assert(this.entriesMax >= 1 && this.clientsMax >= 1, 'request windows hold something');
  }

  get clientCount(): number {
    return this.clients.size;
  }

  get entryCount(): number {
    let n = 0;
    for (const w of this.clients.values()) n += w.size;
    return n;
  }

  /** Remembers an applied request (a repeat of the same id replaces the older entry). */
  record(clientId: bigint, entry: AppliedRequest): void {
    let window = this.clients.get(clientId);
    if (window === undefined) window = new Map();
    else this.clients.delete(clientId); // re-inserted below: now the most recent client
    this.clients.set(clientId, window);
    window.delete(entry.requestId);
    window.set(entry.requestId, entry);
    if (window.size > this.entriesMax) window.delete(window.keys().next().value!);
    if (this.clients.size > this.clientsMax) this.clients.delete(this.clients.keys().next().value!);
    assert(window.size <= this.entriesMax && this.clients.size <= this.clientsMax,
      'request windows stay bounded');
  }

  find(clientId: bigint, requestId: number): AppliedRequest | undefined {
    return this.clients.get(clientId)?.get(requestId);
  }

  /** Every window in eviction order, each oldest entry first (dumps keep this order). */
  *windows(): Generator<[bigint, AppliedRequest[]]> {
    for (const [clientId, window] of this.clients) yield [clientId, [...window.values()]];
  }
}
