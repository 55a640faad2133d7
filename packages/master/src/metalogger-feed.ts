// Port 9419: the master's side of its metaloggers. A metalogger registers with the newest
// version it holds; it either streams on from there (when the changelog files still hold every
// record after it) or first downloads the current dump in pieces. The stream sends the
// catch-up records read back from the changelog files (bounded frames, waiting for the socket
// to drain), then every batch as soon as it is on this disk: MATOML_RECORDS frames whose tail
// is the records' bytes exactly as written to the changelog, never re-encoded. A keepalive
// (count 0) goes out every second. Each ACK says what the metalogger has on its disk: it feeds
// the lag figures and synchronous mode. Limits: METALOGGERS_MAX metaloggers, and
// METALOGGER_QUEUE_MAX_BYTES queued on one socket (a metalogger further behind is dropped and
// registers again).
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import {
  FsError, MATOML_RECORDS, MLTOMA_ACK, MLTOMA_DUMP_READ, MLTOMA_REGISTER, MLTOMA_STREAM,
  PAYLOAD_MAX_METALOGGER_BYTES, Router, assert, listenLinks, statusFromSystemError, type Link,
  type Logger, type Struct,
} from '@antlerfs/protocol';
import { ChangelogCursor } from './changelog-cursor.ts';
import { listChangelogFiles, type DurableBatch } from './changelog.ts';
import type { MetaStore } from './meta-store.ts';
import { DUMP_FILE, readDumpVersion } from './metadata-dump.ts';
import type { MetaloggerSync } from './metalogger-sync.ts';

/** Largest piece of a dump one MLTOMA_DUMP_READ returns. */
export const DUMP_READ_MAX_BYTES = 1024 * 1024;
/** Record bytes in one catch-up frame at most. */
export const CATCHUP_FRAME_MAX_BYTES = 1024 * 1024;
export const KEEPALIVE_INTERVAL_MS = 1000;
/** Connections beyond METALOGGERS_MAX that may sit unregistered before being refused. */
const UNREGISTERED_CONNECTIONS_SLACK = 8;
/** TCP keepalive probes find a metalogger that vanished without closing its socket. */
const TCP_KEEPALIVE_MS = 10_000;
/** Longest metalogger name kept (for the listing and logs). */
const NAME_MAX_BYTES = 255;
/** Dumps REGISTER may write to offer one newer than version 0 (a brand-new file system). */
const DUMP_ATTEMPTS_MAX = 3;

type State = 'registered' | 'catchup' | 'live';

interface Metalogger {
  readonly link: Link;
  readonly name: string;
  readonly host: string;
  state: State;
  /** The next version to send. */
  next: number;
  /** What it holds on its disk: its haveVersion at STREAM, then its ACKs. */
  ackedVersion: number;
  readonly registeredAtMs: number;
}

export interface MetaloggerInfo {
  name: string;
  host: string;
  state: State;
  ackedVersion: number;
  lagVersions: number;
  lagMs: number;
  /** Its acknowledgements count for synchronous mode. */
  sync: boolean;
}

export interface MetaloggerFeedOptions {
  store: MetaStore;
  sync: MetaloggerSync;
  log: Logger;
  dataPath: string;
  metaloggersMax: number;
  queueMaxBytes: number;
  /** False while this master is not the active one: metaloggers are refused. */
  isActive: () => boolean;
  /** A bug (failed assertion) in a handler: the process must stop. */
  onBug: (err: unknown) => void;
}

type RegisterReply = Struct<typeof MLTOMA_REGISTER.reply.fields>;

/** A file system error (a dump that cannot be written or read) is a status, not a bug. */
function asStatus(err: unknown): never {
  if (err instanceof FsError || typeof (err as NodeJS.ErrnoException)?.code !== 'string') throw err;
  throw new FsError(statusFromSystemError(err), (err as Error).message);
}

export class MetaloggerFeed {
  private readonly opts: MetaloggerFeedOptions;
  private readonly log: Logger;
  private readonly metaloggers = new Map<Link, Metalogger>();
  private readonly links = new Set<Link>();
  private server: net.Server | null = null;
  private keepaliveTimer: NodeJS.Timeout | null = null;
  queueMaxBytes: number;

  constructor(opts: MetaloggerFeedOptions) {
    this.opts = opts;
    this.log = opts.log;
    this.queueMaxBytes = opts.queueMaxBytes;
    opts.store.onDurable((batch) => this.sendLive(batch));
  }

  async listen(host: string, port: number): Promise<number> {
    this.server = await listenLinks(host, port, {
      kind: 'master-metalogger', payloadMaxBytes: PAYLOAD_MAX_METALOGGER_BYTES, log: this.log,
      router: this.router(), onBug: (err) => this.opts.onBug(err),
      connectionsMax: this.opts.metaloggersMax + UNREGISTERED_CONNECTIONS_SLACK,
    }, (link) => {
      link.socket.setKeepAlive(true, TCP_KEEPALIVE_MS);
      this.links.add(link);
      link.onClose((reason) => this.closed(link, reason));
    });
    this.keepaliveTimer = setInterval(() => this.keepalive(), KEEPALIVE_INTERVAL_MS);
    return (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    if (this.keepaliveTimer !== null) clearInterval(this.keepaliveTimer);
    const server = this.server;
    const closed = server === null
      ? Promise.resolve()
      : new Promise<void>((resolve) => server.close(() => resolve()));
    for (const link of [...this.links]) link.close('master stopping');
    await closed;
  }

  /** Every registered metalogger with its lag (CLTOMA_LIST_METALOGGERS, the monitor). */
  list(): MetaloggerInfo[] {
    const { store, sync } = this.opts;
    const out: MetaloggerInfo[] = [];
    for (const ml of this.metaloggers.values()) {
      const behind = store.version - ml.ackedVersion;
      const oldestUnacked = behind > 0 ? store.committedAtMs(ml.ackedVersion + 1) : 0;
      out.push({
        name: ml.name, host: ml.host, state: ml.state, ackedVersion: ml.ackedVersion,
        lagVersions: Math.max(0, behind),
        lagMs: behind > 0 ? Math.max(0, Math.round(store.nowMs() - oldestUnacked)) : 0,
        sync: sync.required > 0 && ml.state !== 'registered',
      });
    }
    return out;
  }

  private router(): Router {
    return new Router()
      .on(MLTOMA_REGISTER, (body, ctx) => this.register(body, ctx.link))
      .on(MLTOMA_DUMP_READ, (body, ctx) => this.dumpRead(body, ctx.link))
      .on(MLTOMA_STREAM, (body, ctx) => this.stream(body.fromVersion, ctx.link))
      .onMessage(MLTOMA_ACK, (body, ctx) => this.ack(body.version, ctx.link));
  }

  private registered(link: Link): Metalogger {
    const ml = this.metaloggers.get(link);
    if (ml === undefined) throw new FsError('EPERM', 'no metalogger: send MLTOMA_REGISTER first');
    return ml;
  }

  private async register(
    body: Struct<typeof MLTOMA_REGISTER.fields>, link: Link,
  ): Promise<{ body: RegisterReply }> {
    if (!this.opts.isActive()) throw new FsError('NOT_ACTIVE_MASTER', 'not the active master');
    if (this.metaloggers.has(link)) throw new FsError('EINVAL', 'registered twice on one link');
    if (this.metaloggers.size >= this.opts.metaloggersMax) {
      throw new FsError('EAGAIN', `${this.opts.metaloggersMax} metaloggers (METALOGGERS_MAX)`);
    }
    const { store } = this.opts;
    const have = body.haveVersion;
    const reply = this.canStreamAfter(have)
      ? {
        clusterId: store.clusterId, metaVersion: store.version, streamFrom: have + 1,
        dumpVersion: 0, dumpBytes: 0,
      }
      : await this.dumpReply(have).catch(asStatus);
    if (link.closed) throw new FsError('ENOTCONN', 'link closed during registration');
    if (this.metaloggers.size >= this.opts.metaloggersMax) {
      throw new FsError('EAGAIN', `${this.opts.metaloggersMax} metaloggers (METALOGGERS_MAX)`);
    }
    const name = Buffer.from(body.name).subarray(0, NAME_MAX_BYTES).toString();
    this.metaloggers.set(link, {
      link, name, host: link.socket.remoteAddress ?? '?', state: 'registered', next: 0,
      ackedVersion: 0, registeredAtMs: store.nowMs(),
    });
    this.log.info('metalogger registered', {
      name, peer: link.peer, haveVersion: have, streamFrom: reply.streamFrom,
      dumpVersion: reply.dumpBytes > 0 ? reply.dumpVersion : undefined,
    });
    return { body: reply };
  }

  /** The changelog files hold every record after `have`, and `have` is this master's history. */
  private canStreamAfter(have: number): boolean {
    if (have === 0) return false; // nothing held: a master can only start from a dump
    if (have > this.opts.store.durableVersion) {
      this.log.warn('a metalogger holds versions this master does not: it gets a dump', {
        haveVersion: have, durableVersion: this.opts.store.durableVersion,
      });
      return false;
    }
    const oldest = listChangelogFiles(this.opts.dataPath)[0];
    return oldest !== undefined && oldest.firstVersion <= have + 1;
  }

  /**
   * The current dump to download first. A metalogger must be able to tell a dump from "no
   * dump" by dumpVersion alone, so a dump of version 0 (a new file system) is never offered:
   * the cluster id is stated once more in the changelog and a dump written after it.
   */
  private async dumpReply(have: number): Promise<RegisterReply> {
    const { store } = this.opts;
    for (let attempt = 0; attempt < DUMP_ATTEMPTS_MAX; attempt++) {
      const dump = await this.currentDump();
      if (dump !== null && dump.version > 0) {
        return {
          clusterId: store.clusterId, metaVersion: store.version, streamFrom: dump.version + 1,
          dumpVersion: dump.version, dumpBytes: dump.bytes,
        };
      }
      if (store.version === 0) {
        // Its durability is awaited by the dump itself (on this disk only).
        store.commit({ kind: 'clusterId', clusterId: store.clusterId }).durable.catch(() => {});
      }
      await store.writeDump('metalogger');
    }
    throw new FsError('EAGAIN', `no dump newer than version 0 to offer (metalogger at ${have})`);
  }

  private async currentDump(): Promise<{ version: number; bytes: number } | null> {
    const file = path.join(this.opts.dataPath, DUMP_FILE);
    const version = readDumpVersion(file);
    if (version === null) return null;
    const st = await fsp.stat(file).catch(() => null);
    return st === null ? null : { version, bytes: st.size };
  }

  private dumpRead(
    body: Struct<typeof MLTOMA_DUMP_READ.fields>, link: Link,
  ): Promise<{ data: Buffer }> {
    this.registered(link);
    return this.readDumpPiece(body).catch(asStatus);
  }

  private async readDumpPiece(
    body: Struct<typeof MLTOMA_DUMP_READ.fields>,
  ): Promise<{ data: Buffer }> {
    if (body.size === 0 || body.size > DUMP_READ_MAX_BYTES) {
      throw new FsError('EINVAL',
        `dump piece of ${body.size} bytes (at most ${DUMP_READ_MAX_BYTES})`);
    }
    const file = path.join(this.opts.dataPath, DUMP_FILE);
    const fh = await fsp.open(file, 'r').catch(() => null);
    if (fh === null) throw new FsError('ENOENT', 'no dump');
    try {
      // One descriptor for the version check and the read: a dump installed meanwhile (a
      // rename) cannot mix two versions.
      const header = Buffer.alloc(16);
      await fh.read(header, 0, 16, 0);
      const version = header.readUInt32BE(8) * 0x100000000 + header.readUInt32BE(12);
      if (version !== body.dumpVersion) {
        throw new FsError('ENOENT', `dump ${body.dumpVersion} replaced by ${version}`);
      }
      const sizeBytes = (await fh.stat()).size;
      if (body.offset > sizeBytes) {
        throw new FsError('EINVAL', `offset ${body.offset} past the dump's ${sizeBytes} bytes`);
      }
      const data = Buffer.allocUnsafe(Math.min(body.size, sizeBytes - body.offset));
      const { bytesRead } = await fh.read(data, 0, data.length, body.offset);
      assert(bytesRead === data.length, `read ${bytesRead} of ${data.length} dump bytes`);
      return { data };
    } finally {
      await fh.close();
    }
  }

  private stream(fromVersion: number, link: Link): object {
    const ml = this.registered(link);
    if (ml.state !== 'registered') throw new FsError('EINVAL', 'already streaming');
    const durable = this.opts.store.durableVersion;
    if (fromVersion < 1 || fromVersion > durable + 1) {
      throw new FsError('EINVAL', `stream from ${fromVersion}: durable version is ${durable}`);
    }
    if (fromVersion <= durable) {
      const oldest = listChangelogFiles(this.opts.dataPath)[0];
      if (oldest === undefined || oldest.firstVersion > fromVersion) {
        throw new FsError('EAGAIN', `records from ${fromVersion} are gone: register again`);
      }
    }
    ml.next = fromVersion;
    ml.ackedVersion = fromVersion - 1;
    ml.state = fromVersion <= durable ? 'catchup' : 'live';
    this.opts.sync.started(ml);
    this.log.info('metalogger streaming', { name: ml.name, fromVersion, durableVersion: durable });
    // After this handler's reply has gone out (it is written when the handler returns).
    if (ml.state === 'catchup') setImmediate(() => void this.catchUp(ml));
    return {};
  }

  /** Sends the records from ml.next read back from the files, then switches to live. */
  private async catchUp(ml: Metalogger): Promise<void> {
    const cursor = new ChangelogCursor(this.opts.dataPath, ml.next);
    try {
      while (!ml.link.closed) {
        const durable = this.opts.store.durableVersion;
        if (ml.next > durable) { // no await between this check and the switch
          ml.state = 'live';
          this.log.info('metalogger caught up', { name: ml.name, version: durable });
          return;
        }
        const r = await cursor.read(durable, CATCHUP_FRAME_MAX_BYTES);
        if ('gone' in r) {
          ml.link.close(`catch-up records gone: ${r.gone}`);
          return;
        }
        assert(r.firstVersion === ml.next && r.count > 0, 'the cursor makes progress');
        this.sendRecords(ml, r.firstVersion, r.count, r.buffers);
        await ml.link.drained();
      }
    } catch (err) {
      this.log.error('metalogger catch-up failed', {
        name: ml.name, error: (err as Error).message,
      });
      ml.link.close(`catch-up failed: ${(err as Error).message}`);
    } finally {
      await cursor.close().catch(() => undefined);
    }
  }

  /** A batch is on this disk: every live metalogger gets it now. */
  private sendLive(batch: DurableBatch): void {
    for (const ml of this.metaloggers.values()) {
      if (ml.state !== 'live' || ml.link.closed) continue;
      assert(batch.firstVersion === ml.next,
        `batch from ${batch.firstVersion} follows ${ml.next - 1} for ${ml.name}`);
      const queued = ml.link.socket.writableLength;
      if (queued + batch.bytes > this.queueMaxBytes) {
        this.log.warn('metalogger too far behind: dropped (it registers again)', {
          name: ml.name, queuedBytes: queued, queueMaxBytes: this.queueMaxBytes,
        });
        ml.link.close(`${queued} bytes queued (METALOGGER_QUEUE_MAX_BYTES)`);
        continue;
      }
      this.sendRecords(ml, batch.firstVersion, batch.lastVersion - batch.firstVersion + 1,
        batch.buffers as Buffer[]);
    }
  }

  private sendRecords(
    ml: Metalogger, firstVersion: number, count: number, records: Buffer[],
  ): void {
    const { store } = this.opts;
    ml.link.send(MATOML_RECORDS, {
      firstVersion, count, metaVersion: store.version, sentMs: store.nowMs(),
    }, count > 0 ? records : undefined);
    ml.next = firstVersion + count;
  }

  private keepalive(): void {
    for (const ml of this.metaloggers.values()) {
      if (ml.state === 'registered' || ml.link.closed) continue;
      if (ml.link.socket.writableLength > this.queueMaxBytes) continue; // dropped by sendLive
      this.sendRecords(ml, ml.next, 0, []);
    }
  }

  private ack(version: number, link: Link): void {
    const ml = this.metaloggers.get(link);
    if (ml === undefined || ml.state === 'registered') return; // nothing sent yet to confirm
    if (version >= ml.next) {
      this.log.warn('metalogger acknowledged records it was never sent: dropped', {
        name: ml.name, version, sentVersion: ml.next - 1,
      });
      link.close(`ack of ${version} beyond ${ml.next - 1}`);
      return;
    }
    if (version <= ml.ackedVersion) return;
    ml.ackedVersion = version;
    this.opts.sync.acked(ml);
  }

  private closed(link: Link, reason: string): void {
    this.links.delete(link);
    const ml = this.metaloggers.get(link);
    if (ml === undefined) return;
    this.metaloggers.delete(link);
    this.opts.sync.ended(ml);
    this.log.info('metalogger gone', { name: ml.name, reason, ackedVersion: ml.ackedVersion });
  }
}
