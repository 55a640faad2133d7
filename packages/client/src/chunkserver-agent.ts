// All chunkserver connections of a client: one pool per server, keyed by host:port, created on
// first use. The number of pools is bounded; past the bound the least recently used idle pool
// is closed, so a client that meets many servers over time does not hold a socket to each.
import { assert, FsError } from '@antlerfs/protocol';
import { ChunkserverPool, type ChunkserverPoolOptions } from './chunkserver-pool.ts';

export type ChunkserverAgentOptions = Omit<ChunkserverPoolOptions, 'host' | 'port'> & {
  serversMax: number;
};

export class ChunkserverAgent {
  private readonly opts: ChunkserverAgentOptions;
  private readonly pools = new Map<string, ChunkserverPool>();
  private closed = false;

  constructor(opts: ChunkserverAgentOptions) {
    assert(opts.serversMax >= 1, 'serversMax >= 1');
    this.opts = opts;
  }

  pool(host: string, port: number): ChunkserverPool {
    const key = `${host}:${port}`;
    // Requests still running when the client closes must not dial new sockets.
    if (this.closed) throw new FsError('ENOTCONN', `${key}: client is closed`);
    let pool = this.pools.get(key);
    if (pool === undefined) {
      if (this.pools.size >= this.opts.serversMax) this.evictIdle();
      pool = new ChunkserverPool({ ...this.opts, host, port });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** Requests in flight to host:port (0 for a server we hold no connection to). */
  load(host: string, port: number): number {
    return this.pools.get(`${host}:${port}`)?.inflight ?? 0;
  }

  close(): void {
    this.closed = true;
    for (const pool of this.pools.values()) pool.close();
    this.pools.clear();
  }

  private evictIdle(): void {
    let victim: ChunkserverPool | null = null;
    for (const pool of this.pools.values()) {
      if (pool.inflight > 0) continue;
      if (victim === null || pool.lastUsedMs < victim.lastUsedMs) victim = pool;
    }
    // With every pool busy the map grows past the bound until one is idle again; each busy pool
    // is itself bounded by the requests in flight.
    if (victim === null) return;
    victim.close();
    this.pools.delete(victim.address);
  }
}
