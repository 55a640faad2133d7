// The metalogger's link to the master (port 9419), dialled and kept forever: MASTER_HOST lists
// masters tried in turn, and the one that answers is kept until its link is lost. On each link:
// register with the newest version held, download the master's dump when it no longer has the
// records after it, stream from the next version, and ACK each version once it is fsynced here.
// A lost or silent link is redialled with backoff (at most MASTER_RECONNECT_DELAY_MAX_MS).
import {
  FsError, MATOML_RECORDS, MLTOMA_ACK, MLTOMA_REGISTER, MLTOMA_STREAM,
  PAYLOAD_MAX_METALOGGER_BYTES, Router, Status, assert, connectLink, type Link, type Logger,
  type Struct,
} from '@antlerfs/protocol';
import type { MasterAddress } from './config.ts';
import { DumpGoneError, downloadDump } from './dump-download.ts';
import type { LogMirror } from './log-mirror.ts';
import { LagMeter } from './lag-meter.ts';

/** First retry delay after a failed round or a lost link; doubles up to the configured max. */
const RECONNECT_DELAY_MIN_MS = 100;
/** While no master answers, one log line per this many rounds. */
const UNREACHABLE_LOG_EVERY = 10;
/** Quick re-registrations in a row (the master keeps moving its records) before backing off. */
const RESYNC_ATTEMPTS_MAX = 4;
/** Records waiting for the disk beyond which the socket stops reading (TCP backpressure). */
export const QUEUED_BYTES_MAX = PAYLOAD_MAX_METALOGGER_BYTES;

/** The link must be dialled again at once: the master's dump or records moved on meanwhile. */
class ResyncError extends Error {
  override name = 'ResyncError';
}

export interface MasterLinkOptions {
  masters: MasterAddress[];
  name: string;
  dir: string;
  mirror: LogMirror;
  log: Logger;
  reconnectDelayMaxMs: number;
  timeoutMs: number;
  lagLogIntervalMs: number;
}

type Register = Struct<typeof MLTOMA_REGISTER.reply.fields>;

export class MasterLink {
  private readonly opts: MasterLinkOptions;
  private readonly log: Logger;
  private readonly mirror: LogMirror;
  private readonly router = new Router();
  private link: Link | null = null;
  /** The link records are accepted from (set just before MLTOMA_STREAM). */
  private streamLink: Link | null = null;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private wakeSleep: (() => void) | null = null;
  private paused = false;
  private lastHeardMs = 0;
  private readyLogged = false;
  readonly lag: LagMeter;
  reconnectDelayMaxMs: number;
  /** Address of the master followed now, for logs and the ready line. */
  current: string | null = null;

  constructor(opts: MasterLinkOptions) {
    assert(opts.masters.length > 0, 'at least one master');
    this.opts = opts;
    this.log = opts.log;
    this.mirror = opts.mirror;
    this.reconnectDelayMaxMs = opts.reconnectDelayMaxMs;
    this.lag = new LagMeter(opts.log, opts.lagLogIntervalMs);
    this.router.onMessage(MATOML_RECORDS, (body, ctx) => this.onRecords(body, ctx.link, ctx.data));
    this.mirror.onDurable = (version) => this.onDurable(version);
    this.mirror.onBroken = (reason) => this.streamLink?.close(`mirror broken: ${reason}`);
  }

  /** Starts dialling; runs until stop(). */
  start(): void {
    assert(this.loop === null, 'start once');
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeSleep?.();
    this.link?.close('metalogger stopping');
    this.lag.stop();
    await this.loop;
  }

  private async run(): Promise<void> {
    let delayMs = RECONNECT_DELAY_MIN_MS;
    let failedRounds = 0;
    let first = 0; // the master that answered last is tried first
    while (!this.stopped) {
      const masters = this.opts.masters;
      let answered = false;
      for (let i = 0; i < masters.length && !this.stopped; i++) {
        const index = (first + i) % masters.length;
        const addr = masters[index]!;
        try {
          const reason = await this.follow(addr);
          answered = true;
          first = index;
          if (!this.stopped) this.log.warn('master link lost: reconnecting', { reason });
          break;
        } catch (err) {
          if (failedRounds === 0 || (failedRounds + 1) % UNREACHABLE_LOG_EVERY === 0) {
            this.log.warn('master not usable: trying the next', {
              master: `${addr.host}:${addr.port}`, error: (err as Error).message,
            });
          }
        }
      }
      if (this.stopped) break;
      if (answered) {
        failedRounds = 0;
        delayMs = RECONNECT_DELAY_MIN_MS;
      } else {
        failedRounds++;
      }
      await this.sleep(delayMs);
      delayMs = Math.min(delayMs * 2, this.reconnectDelayMaxMs);
    }
  }

  /** Links to one master until one that followed it closes (returns why) or one fails. */
  private async follow(addr: MasterAddress): Promise<string> {
    for (let resync = 0; ; resync++) {
      try {
        return await this.session(addr);
      } catch (err) {
        if (!(err instanceof ResyncError) || resync >= RESYNC_ATTEMPTS_MAX || this.stopped) {
          throw err;
        }
        this.log.info('registering again', { reason: err.message });
      }
    }
  }

  /** One link: dial, synchronize, stream until it closes; returns why it closed. */
  private async session(addr: MasterAddress): Promise<string> {
    const master = `${addr.host}:${addr.port}`;
    const link = await connectLink(addr.host, addr.port, {
      kind: 'master-metalogger', payloadMaxBytes: PAYLOAD_MAX_METALOGGER_BYTES, log: this.log,
      router: this.router, requestTimeoutMs: this.opts.timeoutMs,
      connectTimeoutMs: this.opts.timeoutMs, peer: master,
    });
    this.link = link;
    const closed = new Promise<string>((resolve) => link.onClose(resolve));
    if (this.stopped) link.close('metalogger stopping');
    let watchdog: NodeJS.Timeout | null = null;
    try {
      const reg = await this.synchronize(link, master);
      this.current = master;
      this.lastHeardMs = Date.now();
      watchdog = setInterval(() => this.checkSilence(link), Math.max(50, this.opts.timeoutMs / 4));
      this.log.info('following master', {
        master, clusterId: reg.clusterId, haveVersion: this.mirror.version,
        metaVersion: reg.metaVersion,
      });
      if (!this.readyLogged) {
        this.readyLogged = true;
        this.log.info('ready', { master, haveVersion: this.mirror.version });
      }
      this.lag.streamStarted(master, this.mirror.version, reg.metaVersion);
      return await closed;
    } catch (err) {
      link.close(`synchronization failed: ${(err as Error).message}`);
      throw err;
    } finally {
      if (watchdog !== null) clearInterval(watchdog);
      if (this.streamLink === link) this.streamLink = null;
      this.link = null;
      this.current = null;
      this.lag.streamStopped();
      this.resume();
    }
  }

  /**
   * Registers once and brings the mirror to a point the master can stream from (downloading
   * its dump if needed), then starts the stream. Returns the registration reply; throws
   * ResyncError when a new link must register again.
   */
  private async synchronize(link: Link, master: string): Promise<Register> {
    await this.mirror.whenIdle();
    const broken = this.mirror.broken;
    if (broken !== null) await this.mirror.reset(broken);
    const have = this.mirror.version;
    const reg = (await link.call(MLTOMA_REGISTER, { name: this.opts.name, haveVersion: have }))
      .body;
    const heldCluster = this.mirror.metadata?.clusterId ?? '';
    if (reg.clusterId !== '' && heldCluster !== '' && reg.clusterId !== heldCluster) {
      await this.mirror.reset(`these files belong to cluster ${heldCluster}; master ${master} ` +
        `serves cluster ${reg.clusterId}`);
      throw new ResyncError('the master serves another cluster: its dump is needed');
    }
    let from: number;
    if (reg.dumpVersion > 0 || reg.dumpBytes > 0) {
      await this.installMasterDump(link, reg, master);
      from = reg.dumpVersion + 1;
    } else {
      if (!this.mirror.holdsMetadata) {
        throw new FsError('EPROTO', 'the master offers no dump to a metalogger that holds none');
      }
      if (reg.metaVersion < have) {
        await this.mirror.reset(`this metalogger held version ${have} but master ${master} ` +
          `is at version ${reg.metaVersion}: the master does not have those changes`);
        throw new ResyncError('this metalogger was ahead of the master: its dump is needed');
      }
      if (reg.streamFrom !== have + 1) {
        throw new FsError('EPROTO', `the master streams from ${reg.streamFrom}, ` +
          `this metalogger holds ${have}`);
      }
      from = have + 1;
    }
    assert(this.mirror.version === from - 1, 'the mirror ends just before the stream');
    this.streamLink = link;
    const r = await link.request(MLTOMA_STREAM, { fromVersion: from });
    if (r.status === Status.OK) return reg;
    this.streamLink = null;
    if (r.status === Status.EAGAIN) throw new ResyncError(`records from ${from} are gone`);
    throw new FsError(r.status, 'MLTOMA_STREAM');
  }

  /** Downloads and installs the dump offered (ResyncError if the master replaced it). */
  private async installMasterDump(link: Link, reg: Register, master: string): Promise<void> {
    const have = this.mirror.version;
    this.log.info('downloading the master\'s metadata dump', {
      master, haveVersion: have, dumpVersion: reg.dumpVersion, dumpBytes: reg.dumpBytes,
      metaVersion: reg.metaVersion,
    });
    let dump;
    try {
      dump = await downloadDump({
        link, dir: this.opts.dir, dumpVersion: reg.dumpVersion, dumpBytes: reg.dumpBytes,
        log: this.log,
      });
    } catch (err) {
      if (err instanceof DumpGoneError) throw new ResyncError(err.message);
      throw err;
    }
    const dumpCluster = dump.metadata.clusterId;
    if (reg.clusterId !== '' && dumpCluster !== '' && dumpCluster !== reg.clusterId) {
      throw new FsError('EPROTO', `the dump is of cluster ${dumpCluster}, the master ` +
        `says ${reg.clusterId}`);
    }
    // Held records past the master's version are a history the master does not share.
    const diverged = this.mirror.holdsMetadata && have > reg.metaVersion;
    await this.mirror.replaceWithDump(dump.metadata, diverged
      ? { setAsideReason: `held version ${have}, master ${master} is at ${reg.metaVersion}` }
      : 'remove');
  }

  private onRecords(
    body: Struct<typeof MATOML_RECORDS.fields>, link: Link, data: Buffer,
  ): void {
    if (link !== this.streamLink || link.closed) return; // a link already given up
    this.lastHeardMs = Date.now();
    const refused = this.mirror.accept(body.firstVersion, body.count, data);
    if (refused !== null) {
      this.log.warn('records refused: dropping the link', { master: link.peer, reason: refused });
      link.close(`records refused: ${refused}`);
      return;
    }
    this.lag.received(body.firstVersion + body.count - 1, body.metaVersion, body.sentMs,
      this.mirror.version);
    if (this.mirror.queuedBytes > QUEUED_BYTES_MAX && !this.paused) {
      this.paused = true;
      link.socket.pause();
    }
  }

  private onDurable(version: number): void {
    this.lag.durable(version);
    const link = this.streamLink;
    if (link !== null && !link.closed) link.send(MLTOMA_ACK, { version });
    if (this.mirror.queuedBytes <= QUEUED_BYTES_MAX / 2) this.resume();
  }

  private resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.link?.socket.resume();
  }

  private checkSilence(link: Link): void {
    if (this.paused) { // our own disk holds it up, not the master
      this.lastHeardMs = Date.now();
      return;
    }
    const silentMs = Date.now() - this.lastHeardMs;
    if (silentMs > this.opts.timeoutMs) link.close(`master silent for ${silentMs} ms`);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.wakeSleep = null; resolve(); }, ms);
      this.wakeSleep = () => { clearTimeout(timer); this.wakeSleep = null; resolve(); };
    });
  }
}
