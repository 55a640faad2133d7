// One mount from start to end: connect to the master, check the mount point, open /dev/fuse
// and mount (or, without root, have fusermount3 do both and hand the device over), answer INIT,
// serve, and at the end (unmounted by us on a signal, or by anyone else) drain the requests in
// flight, close every open file (pushing its writes) and the client.
// The kernel ends the connection when the mount goes; the reader threads then see ENODEV.
// The mount is never touched synchronously from here: this process is the one that answers.
import { assert, FsError, type Logger } from '@antlerfs/protocol';
import { Client } from '../index.ts';
import { DIR_HANDLERS } from './dir-operations.ts';
import { ENTRY_HANDLERS } from './entry-operations.ts';
import { releaseFile, FILE_HANDLERS } from './file-operations.ts';
import { FuseDevice, type DeviceHandlers } from './fuse-device.ts';
import { DirCache } from './dir-cache.ts';
import { FileAttrs } from './file-attrs.ts';
import { DirHandles } from './dir-handle.ts';
import { negotiateInit, readBufferBytes, type InitAnswer } from './init-negotiation.ts';
import { NotifyCode, Opcode } from './kernel-abi.ts';
import {
  abortConnection, checkMountPoint, kernelMount, kernelUnmount, mountAt, MountError, setReadAhead,
  userAllowOther, userMount, type UserMountOptions,
} from './kernel-mount.ts';
import type { Handler, MountContext } from './mount-context.ts';
import type { MountConfig } from './mount-options.ts';
import { NodeTable } from './node-table.ts';
import { OpenFiles } from './open-file.ts';
import { initOut, invalInodeOut } from './reply.ts';
import { ReadBuffers } from './read-buffers.ts';
import { RequestDispatcher } from './request-dispatcher.ts';
import { RequestStats } from './request-stats.ts';

/** The kernel sends INIT right after mount(2); if it has not come by then, something is off. */
const INIT_TIMEOUT_MS = 15_000;
/** Requests still running at the end get this long to finish before files are closed. */
const DRAIN_TIMEOUT_MS = 30_000;

export class MountSession {
  private readonly config: MountConfig;
  private readonly log: Logger;
  private readonly client: Client;
  private readonly device: FuseDevice;
  private readonly ctx: MountContext;
  private readonly dispatcher: RequestDispatcher;
  private readonly stats = new RequestStats();
  private readonly mountPoint: string;
  /** Mounted already by fusermount3 (no root), which gave us the device. */
  private readonly premounted: boolean;
  private initDone!: (answer: InitAnswer) => void;
  private readonly initialized: Promise<InitAnswer>;
  private stopping = false;
  private ending = false;
  private exitCode = 0;
  /** major:minor of the mounted file system, kept for an abort after a lazy unmount. */
  private deviceId: string | null = null;
  private finish!: (code: number) => void;
  /** Resolves with the exit status once the mount is gone and everything is closed. */
  readonly finished: Promise<number>;

  private constructor(
    config: MountConfig, log: Logger, client: Client, mountPoint: string, userFd: number | null,
  ) {
    this.config = config;
    this.log = log;
    this.client = client;
    this.mountPoint = mountPoint;
    this.premounted = userFd !== null;
    this.device = userFd === null ? FuseDevice.open(log) : FuseDevice.adopt(userFd, log);
    this.ctx = {
      calls: client.inodes, client, nodes: new NodeTable(),
      files: new OpenFiles((inode, mode, attr, located, promised) =>
        client.openInode(inode, mode, attr === null ? undefined : { attr, located, promised })),
      dirs: new DirHandles(), log, hidden: new Map(),
      dirCache: new DirCache({ attrMs: config.attrTimeoutMs, namesMs: config.entryTimeoutMs }),
      fileAttrs: new FileAttrs({ attrMs: config.attrTimeoutMs }),
      readBuffers: new ReadBuffers(config.maxWriteBytes),
      invalidateAttrs: (inode) => {
        this.device.notify(NotifyCode.INVAL_INODE, [invalInodeOut(inode)]);
      },
      settings: {
        timeouts: { entryMs: config.entryTimeoutMs, attrMs: config.attrTimeoutMs },
        negativeTimeoutMs: config.negativeTimeoutMs, readOnly: config.readOnly,
      },
    };
    this.dispatcher = new RequestDispatcher({
      replier: this.device, handlers: this.handlers(), ctx: this.ctx, log, debug: config.debug,
      onBug: (err) => void this.fatal(err), stats: this.stats,
    });
    this.stats.countMasterCallsOf(client);
    this.initialized = new Promise((resolve) => { this.initDone = resolve; });
    this.finished = new Promise((resolve) => { this.finish = resolve; });
  }

  /** Checks, connects and mounts; resolves once the kernel has answered INIT. */
  static async start(config: MountConfig, log: Logger): Promise<MountSession> {
    const mountPoint = checkMountPoint(config.mountPoint, { nonempty: config.nonempty });
    const client = await Client.connect({
      master: config.master, name: `antler-mount ${mountPoint}`, log: log.child('client'),
    });
    let session: MountSession;
    try {
      // The root must answer before anything is mounted on top of the mount point.
      await client.inodes.getattr(1);
      // Without root, fusermount3 mounts first and hands over the device it opened.
      const root = (process.getuid?.() ?? 0) === 0;
      const userFd = root ? null : await userMount(userOptions(config, mountPoint, log));
      session = new MountSession(config, log, client, mountPoint, userFd);
    } catch (err) {
      client.close();
      throw err;
    }
    await session.mount();
    return session;
  }

  private async mount(): Promise<void> {
    const c = this.config;
    const handlers: DeviceHandlers = {
      onRequest: (buf, length) => this.dispatcher.onRequest(buf, length),
      onEnd: (reason) => void this.end(reason),
    };
    const bufferBytes = readBufferBytes(c.maxWriteBytes);
    if (!c.devicePoll || !this.device.startPolling(bufferBytes, handlers)) {
      this.device.startReaders(c.readers, bufferBytes, handlers);
    }
    try {
      if (!this.premounted) {
        await kernelMount({ fd: this.device.fd, ...kernelOptions(c, this.mountPoint) });
      }
    } catch (err) {
      this.device.stopWaitingForMount();
      this.client.close();
      throw err;
    }
    this.deviceId = mountAt(this.mountPoint)?.device ?? null;
    const answer = await Promise.race([
      this.initialized,
      new Promise<null>((resolve) => setTimeout(() => resolve(null), INIT_TIMEOUT_MS).unref()),
    ]);
    if (answer === null || answer.kind !== 'accept') {
      await this.stop('INIT failed');
      const why = answer === null ? 'the kernel sent no INIT' : JSON.stringify(answer);
      throw new MountError(`mount ${this.mountPoint} failed: ${why}`);
    }
    await this.tuneReadAhead();
    this.log.info('ready', {
      mountPoint: this.mountPoint, master: c.master, protocol: `7.${answer.minor}`,
      maxWriteBytes: answer.maxWriteBytes, readOnly: c.readOnly,
      deviceReads: this.device.readMode,
      ...(this.device.readMode === 'threads' ? { readers: c.readers } : {}),
      attrTimeoutMs: c.attrTimeoutMs, entryTimeoutMs: c.entryTimeoutMs,
    });
  }

  private async tuneReadAhead(): Promise<void> {
    const bytes = this.config.readAheadBytes;
    if (bytes === 0 || this.deviceId === null) return;
    if (!(await setReadAhead(this.deviceId, bytes))) {
      this.log.warn('could not set the readahead of the mount', { device: this.deviceId, bytes });
    }
  }

  private handlers(): Map<number, Handler> {
    const table = new Map<number, Handler>();
    const all = { ...ENTRY_HANDLERS, ...FILE_HANDLERS, ...DIR_HANDLERS };
    for (const [name, handler] of Object.entries(all)) {
      const opcode = Opcode[name as keyof typeof Opcode];
      assert(opcode !== undefined && !table.has(opcode), `handler ${name} once`);
      table.set(opcode, handler);
    }
    table.set(Opcode.INIT, async (req) => {
      const answer = negotiateInit({
        major: req.arg.major ?? 0, minor: req.arg.minor ?? 0,
        maxReadahead: req.arg.maxReadahead ?? 0, flags: req.arg.flags ?? 0,
      }, { maxWriteBytes: this.config.maxWriteBytes });
      if (answer.kind === 'refuse') {
        this.log.error('kernel FUSE protocol too old', { reason: answer.reason });
        this.initDone(answer);
        throw new FsError('EPROTO', answer.reason);
      }
      // 'major-only': the kernel sends INIT again with our major.
      return {
        parts: [initOut(answer.reply)],
        delivered: () => { if (answer.kind === 'accept') this.initDone(answer); },
      };
    });
    table.set(Opcode.DESTROY, async () => {
      this.log.info('kernel sent DESTROY');
      return { parts: [] };
    });
    return table;
  }

  /** Logs the request counters (kernel requests by opcode, master requests by message). */
  logStats(): void {
    const s = this.stats.snapshot();
    this.log.info('request counts', {
      kernel: JSON.stringify(s.kernel), master: JSON.stringify(s.master),
      answeredHere: this.ctx.dirCache.hits, writeBuffersKept: this.device.buffersKept,
      writeBuffersReused: this.device.buffersReused,
      writeCopiesReused: this.dispatcher.writeCopies.reused,
      wakeups: this.device.wakeups,
    });
  }

  /** Unmounts: plainly, or lazily when files are still open (they keep working until closed). */
  async stop(why: string): Promise<void> {
    if (this.ending) return;
    if (this.stopping) {
      await this.abort(`${why} again`);
      return;
    }
    this.stopping = true;
    this.log.info('unmounting', { why, mountPoint: this.mountPoint });
    let r = await kernelUnmount(this.mountPoint, { lazy: false });
    if (r.result === 'busy') {
      this.log.warn('mount point busy: unmounting lazily; open files keep working until closed' +
        ' (signal again to abort them)', { openFiles: this.ctx.files.size, message: r.message });
      r = await kernelUnmount(this.mountPoint, { lazy: true });
    }
    if (r.result === 'failed') {
      this.log.error('unmount failed', { message: r.message });
      this.stopping = false;
    }
  }

  /** Ends the connection at once: every process waiting on the mount gets an error. */
  async abort(why: string): Promise<void> {
    this.log.warn('aborting the FUSE connection', { why });
    if (this.ctx.files.size > 0) this.exitCode = Math.max(this.exitCode, 1); // files cut off
    if (this.deviceId !== null && (await abortConnection(this.deviceId))) return;
    this.log.error('could not abort the connection', { device: this.deviceId });
  }

  /** Ends the connection and detaches the mount at once, for an exit after a bug. */
  async emergencyStop(): Promise<void> {
    if (this.ending) return;
    await this.abort('emergency stop');
    await kernelUnmount(this.mountPoint, { lazy: true });
  }

  /** A bug in our code: push what can be pushed, unmount, stop with status 70. */
  private async fatal(err: Error): Promise<void> {
    this.log.error('stopping after a failed assertion', { error: err.stack ?? err.message });
    this.exitCode = 70;
    await this.stop('bug');
  }

  /** The readers ended: the mount is gone. Drains, closes files and the client. */
  private async end(reason: string): Promise<void> {
    if (this.ending) return;
    this.ending = true;
    const clean = reason === 'ENODEV';
    if (!clean) {
      // Nobody answers the mount any more: end it rather than leave processes hanging on it.
      this.log.error('fuse device ended', { reason });
      if (this.deviceId !== null) await abortConnection(this.deviceId);
      await kernelUnmount(this.mountPoint, { lazy: true });
    }
    const drained = await Promise.race([
      this.dispatcher.idle().then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), DRAIN_TIMEOUT_MS).unref()),
    ]);
    if (!drained) this.log.warn('requests still running at unmount', {
      inflight: this.dispatcher.inflightCount,
    });
    for (const file of this.ctx.files.all()) await releaseFile(this.ctx, file);
    this.client.close();
    this.device.close();
    this.logStats();
    this.log.info('unmounted', {
      mountPoint: this.mountPoint, requests: this.dispatcher.requestsTotal,
      nodesHeld: this.ctx.nodes.size, forgetsUnknown: this.ctx.nodes.unknownForgets,
    });
    this.finish(clean ? this.exitCode : Math.max(this.exitCode, 1));
  }

}

function kernelOptions(c: MountConfig, mountPoint: string): UserMountOptions {
  return {
    mountPoint, readOnly: c.readOnly, allowOther: c.allowOther,
    source: `antlerfs:${c.master.split(',')[0]}`,
  };
}

/** Without user_allow_other, fusermount3 refuses allow_other: the mount is then ours alone. */
function userOptions(c: MountConfig, mountPoint: string, log: Logger): UserMountOptions {
  const o = kernelOptions(c, mountPoint);
  if (!o.allowOther || userAllowOther()) return o;
  log.warn('allow_other needs user_allow_other in /etc/fuse.conf: only this user can use ' +
    'the mount', { mountPoint });
  return { ...o, allowOther: false };
}
