// A chunkserver stand-in for the master's tests: a real Link to the master's chunkserver
// port that registers, reports a chunk list, heartbeats on demand, and obeys (or refuses)
// the master's orders against an in-memory chunk table, recording each order it saw.
import {
  CSTOMA_CHUNKS, CSTOMA_HEARTBEAT, CSTOMA_REGISTER, Logger, MATOCS_CREATE, MATOCS_DELETE,
  MATOCS_SET_VERSION, MATOCS_TRUNCATE, PAYLOAD_MAX_MASTER_CHUNKSERVER_BYTES, Router, connectLink,
  type Link, type StatusName,
} from '@antlerfs/protocol';

const GiB = 1024 ** 3;

export interface FakeOptions {
  csId?: number;
  dataPort?: number;
  totalBytes?: number;
  freeBytes?: number;
  chunks?: [number, number][];
}

export class FakeChunkserver {
  readonly chunks = new Map<number, number>();
  readonly orders: string[] = [];
  /** Orders (by message name) to refuse with the given status. */
  readonly refuse = new Map<string, StatusName>();
  /** Orders to hold until release() (to test requests in flight). */
  holding = false;
  private held: (() => void)[] = [];
  link!: Link;
  csId = 0;
  totalBytes: number;
  freeBytes: number;

  private constructor(opts: FakeOptions) {
    this.totalBytes = opts.totalBytes ?? 100 * GiB;
    this.freeBytes = opts.freeBytes ?? 50 * GiB;
    for (const [id, v] of opts.chunks ?? []) this.chunks.set(id, v);
  }

  static async start(masterPort: number, opts: FakeOptions = {}): Promise<FakeChunkserver> {
    const cs = new FakeChunkserver(opts);
    cs.link = await connectLink('127.0.0.1', masterPort, {
      kind: 'master-chunkserver', payloadMaxBytes: PAYLOAD_MAX_MASTER_CHUNKSERVER_BYTES,
      log: new Logger('fake-cs'), router: cs.router(),
    });
    const reg = await cs.link.call(CSTOMA_REGISTER, {
      csId: opts.csId ?? 0, host: '127.0.0.1',
      port: opts.dataPort ?? 40000 + Math.floor(Math.random() * 1000),
      totalBytes: cs.totalBytes, freeBytes: cs.freeBytes,
    });
    cs.csId = reg.body.csId;
    const list = [...cs.chunks].map(([chunkId, version]) => ({ chunkId, version, lengthBytes: 0 }));
    await cs.link.call(CSTOMA_CHUNKS, { chunks: list, last: 1 });
    return cs;
  }

  async heartbeat(): Promise<void> {
    await this.link.call(CSTOMA_HEARTBEAT, {
      totalBytes: this.totalBytes, freeBytes: this.freeBytes, chunkCount: this.chunks.size,
    });
  }

  release(): void {
    this.holding = false;
    for (const h of this.held.splice(0)) h();
  }

  close(): void {
    this.link.close('test done');
  }

  private async gate(name: string, detail: string): Promise<StatusName | null> {
    this.orders.push(`${name} ${detail}`);
    if (this.holding) await new Promise<void>((resolve) => this.held.push(resolve));
    return this.refuse.get(name) ?? null;
  }

  private router(): Router {
    return new Router()
      .on(MATOCS_CREATE, async (b) => {
        const no = await this.gate('CREATE', `${b.chunkId} ${b.version}`);
        if (no) return { status: no };
        this.chunks.set(b.chunkId, b.version);
        return {};
      })
      .on(MATOCS_SET_VERSION, async (b) => {
        const no = await this.gate('SET_VERSION', `${b.chunkId} ${b.version}->${b.newVersion}`);
        if (no) return { status: no };
        if (this.chunks.get(b.chunkId) !== b.version) return { status: 'WRONG_VERSION' };
        this.chunks.set(b.chunkId, b.newVersion);
        return {};
      })
      .on(MATOCS_TRUNCATE, async (b) => {
        const detail = `${b.chunkId} ${b.version}->${b.newVersion} ${b.lengthBytes}`;
        const no = await this.gate('TRUNCATE', detail);
        if (no) return { status: no };
        if (this.chunks.get(b.chunkId) !== b.version) return { status: 'WRONG_VERSION' };
        this.chunks.set(b.chunkId, b.newVersion);
        return {};
      })
      .on(MATOCS_DELETE, async (b) => {
        const no = await this.gate('DELETE', `${b.chunkId} ${b.version}`);
        if (no) return { status: no };
        const held = this.chunks.get(b.chunkId);
        if (held === undefined) return { status: 'NO_SUCH_CHUNK' };
        if (b.version !== 0 && held !== b.version) return { status: 'WRONG_VERSION' };
        this.chunks.delete(b.chunkId);
        return {};
      });
  }
}

/** Waits until `cond` holds, polling; fails after `timeoutMs`. */
export async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
