// The connections to one chunkserver: up to `connectionsMax` sockets, so large reads and
// several chunk writes to the same server proceed in parallel. A request goes to an idle
// connection, else a new one while under the limit, else the least busy one.
import { assert } from '@antlerfs/protocol';
import {
  ChunkserverConnection, type ChunkserverConnectionOptions,
} from './chunkserver-connection.ts';

export interface ChunkserverPoolOptions extends ChunkserverConnectionOptions {
  connectionsMax: number;
}

export class ChunkserverPool {
  readonly address: string;
  private readonly opts: ChunkserverPoolOptions;
  private readonly connections: ChunkserverConnection[] = [];
  lastUsedMs = Date.now();

  constructor(opts: ChunkserverPoolOptions) {
    assert(opts.connectionsMax >= 1, 'connectionsMax >= 1');
    this.opts = opts;
    this.address = `${opts.host}:${opts.port}`;
  }

  /** Requests in flight to this server over all its connections (the read path's load). */
  get inflight(): number {
    let n = 0;
    for (const c of this.connections) n += c.inflight;
    return n;
  }

  /** A connection to use now; writers keep theirs for a whole chunk so blocks stay in order. */
  acquire(): ChunkserverConnection {
    this.lastUsedMs = Date.now();
    let best: ChunkserverConnection | null = null;
    for (const c of this.connections) {
      if (c.inflight === 0) return c;
      if (best === null || c.inflight < best.inflight) best = c;
    }
    if (this.connections.length < this.opts.connectionsMax) {
      const c = new ChunkserverConnection(this.opts);
      this.connections.push(c);
      return c;
    }
    assert(best !== null, 'a full pool has a connection');
    return best;
  }

  close(): void {
    for (const c of this.connections) c.close();
    this.connections.length = 0;
  }
}
