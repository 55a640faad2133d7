// A test fake of a chunkserver's data port, on the protocol's listenLinks: chunks in memory as
// 64 KiB blocks, checksums verified on write, writes and fsyncs forwarded down the chain, zeros
// past what was written, and switches to inject faults (error statuses, dropped links, a crash).
import type net from 'node:net';
import {
  BLOCK_SIZE_BYTES, checksum, CLTOCS_FSYNC, CLTOCS_READ, CLTOCS_STATS, CLTOCS_WRITE,
  connectLink, FsError, listenLinks, Logger, PAYLOAD_MAX_DATA_BYTES, Router,
  type HandlerResult, type Link, type StatusName, type Struct,
} from '@antlerfs/protocol';

export const quietLog = new Logger('fake');
quietLog.log = () => undefined; // the fakes drop connections on purpose

interface StoredChunk { version: number; blocks: Map<number, Buffer> }
type Status = { status?: StatusName };
const DATA_LINK = { kind: 'data' as const, payloadMaxBytes: PAYLOAD_MAX_DATA_BYTES, log: quietLog };

export class FakeChunkserver {
  readonly csId: number;
  port = 0;
  readonly chunks = new Map<number, StoredChunk>();
  readonly counters: Record<string, number> = {
    read_requests: 0, write_requests: 0, fsync_requests: 0, read_bytes: 0, write_bytes: 0,
    checksum_errors: 0,
  };
  /** Faults: a status for every read or write. */
  readStatus: StatusName | null = null;
  writeStatus: StatusName | null = null;
  /** Writes answered before the link of the next one is dropped (-1: never). */
  dropLinksAfterWrites = -1;
  /** Writes answered before the server stops as in a crash (-1: never). */
  crashAfterWrites = -1;
  /** The master creates no chunk here (ENOSPC), as below the reserve. */
  full = false;
  /** The master counts no copy here. */
  down = false;
  private server: net.Server | null = null;
  private readonly links = new Set<Link>();
  private readonly hops = new Map<string, Promise<Link>>();

  constructor(csId: number) {
    this.csId = csId;
  }

  async start(): Promise<void> {
    const router = new Router()
      .on(CLTOCS_READ, (b) => this.read(b))
      .on(CLTOCS_WRITE, (b, ctx) => this.write(b, ctx.data, ctx.link))
      .on(CLTOCS_FSYNC, (b) => this.fsync(b))
      .on(CLTOCS_STATS, () => ({
        body: { counters: Object.entries(this.counters).map(([name, value]) => ({ name, value })) },
      }));
    const opts = { ...DATA_LINK, router };
    this.server = await listenLinks('127.0.0.1', this.port, opts, (link) => {
      this.links.add(link);
      link.onClose(() => this.links.delete(link));
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    this.down = false;
  }

  /** Like a crash: every link drops and the port stops answering. */
  async stop(): Promise<void> {
    this.down = true;
    for (const l of this.links) l.close('stopped');
    for (const h of this.hops.values()) h.then((l) => l.close('stopped'), () => undefined);
    this.hops.clear();
    const server = this.server;
    this.server = null;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Connections accepted and open now (from clients and from chunkservers forwarding). */
  get linkCount(): number {
    return this.links.size;
  }

  /** Closes this server's own connections to the next hops of write chains. */
  dropHops(): void {
    for (const h of this.hops.values()) h.then((l) => l.close('dropped by test'), () => undefined);
    this.hops.clear();
  }

  location(): { csId: number; host: string; port: number } {
    return { csId: this.csId, host: '127.0.0.1', port: this.port };
  }

  create(chunkId: number): void {
    this.chunks.set(chunkId, { version: 1, blocks: new Map() });
  }

  /** Bytes of a stored chunk (for tests that check the copies). */
  chunkBytes(chunkId: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    for (const [index, block] of this.chunks.get(chunkId)?.blocks ?? []) {
      const at = index * BLOCK_SIZE_BYTES;
      if (at < length) block.copy(out, at, 0, Math.min(BLOCK_SIZE_BYTES, length - at));
    }
    return out;
  }

  private read(b: Struct<typeof CLTOCS_READ.fields>): HandlerResult<readonly []> {
    this.counters.read_requests!++;
    if (this.readStatus !== null) return { status: this.readStatus };
    const chunk = this.chunks.get(b.chunkId);
    if (chunk === undefined) return { status: 'NO_SUCH_CHUNK' };
    if (chunk.version !== b.version) return { status: 'WRONG_VERSION' };
    const out = Buffer.alloc(b.size);
    for (let done = 0; done < b.size;) {
      const at = b.offset + done;
      const inBlock = at % BLOCK_SIZE_BYTES;
      const n = Math.min(b.size - done, BLOCK_SIZE_BYTES - inBlock);
      chunk.blocks.get(Math.floor(at / BLOCK_SIZE_BYTES))?.copy(out, done, inBlock, inBlock + n);
      done += n;
    }
    this.counters.read_bytes! += b.size;
    return { body: {}, data: out };
  }

  /** Counts a write against the fault switches; true when the request is to be dropped. */
  private faultBeforeWrite(link: Link): boolean {
    if (this.dropLinksAfterWrites === 0) {
      this.dropLinksAfterWrites = -1;
      link.close('fault: dropped');
      return true;
    }
    if (this.dropLinksAfterWrites > 0) this.dropLinksAfterWrites--;
    if (this.crashAfterWrites === 0) {
      this.crashAfterWrites = -1;
      void this.stop();
      return true;
    }
    if (this.crashAfterWrites > 0) this.crashAfterWrites--;
    return false;
  }

  private async write(
    b: Struct<typeof CLTOCS_WRITE.fields>, data: Buffer, link: Link,
  ): Promise<Status> {
    this.counters.write_requests!++;
    if (this.faultBeforeWrite(link)) return {};
    if (this.writeStatus !== null) return { status: this.writeStatus };
    if (checksum(data) !== b.checksum) {
      this.counters.checksum_errors!++;
      return { status: 'CHECKSUM_MISMATCH' };
    }
    const chunk = this.chunks.get(b.chunkId);
    if (chunk === undefined) return { status: 'NO_SUCH_CHUNK' };
    if (chunk.version !== b.version) return { status: 'WRONG_VERSION' };
    if (b.offsetInBlock + data.length > BLOCK_SIZE_BYTES) return { status: 'EINVAL' };
    let block = chunk.blocks.get(b.blockIndex);
    if (block === undefined) {
      block = Buffer.alloc(BLOCK_SIZE_BYTES);
      chunk.blocks.set(b.blockIndex, block);
    }
    data.copy(block, b.offsetInBlock);
    this.counters.write_bytes! += data.length;
    if (b.chain.length === 0) return {};
    const hop = await this.hop(b.chain[0]!.host, b.chain[0]!.port);
    const r = await hop.request(CLTOCS_WRITE, { ...b, chain: b.chain.slice(1) }, data);
    return r.status === 0 ? {} : { status: new FsError(r.status).code };
  }

  private async fsync(b: Struct<typeof CLTOCS_FSYNC.fields>): Promise<Status> {
    this.counters.fsync_requests!++;
    if (!this.chunks.has(b.chunkId)) return { status: 'NO_SUCH_CHUNK' };
    if (b.chain.length === 0) return {};
    const hop = await this.hop(b.chain[0]!.host, b.chain[0]!.port);
    const r = await hop.request(CLTOCS_FSYNC, { ...b, chain: b.chain.slice(1) });
    return r.status === 0 ? {} : { status: new FsError(r.status).code };
  }

  private hop(host: string, port: number): Promise<Link> {
    const key = `${host}:${port}`;
    let p = this.hops.get(key);
    if (p === undefined) {
      p = connectLink(host, port, DATA_LINK);
      p.then((l) => l.onClose(() => this.hops.delete(key)), () => this.hops.delete(key));
      this.hops.set(key, p);
    }
    return p;
  }
}
