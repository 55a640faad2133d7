// The metalogger process: its modules in start order (the mirrored folder, then the link to
// the master). Stopping runs them in reverse: the link goes first, then every record received
// is fsynced, a final dump is written and the changelog file closed. The `ready` line comes
// from the link once the first master is followed.
import type { DaemonModule, Logger } from '@antlerfs/protocol';
import type { MetaloggerConfig } from './config.ts';
import { LogMirror } from './log-mirror.ts';
import { MasterLink } from './master-link.ts';

export const METALOGGER_VERSION = '0.1.0';

export interface MetaloggerOptions {
  log: Logger;
  /** A write to the folder failed: the process must stop (a restart recovers the folder). */
  onFatal?: (err: Error) => void;
}

export class Metalogger {
  private config: MetaloggerConfig;
  private readonly log: Logger;
  private readonly onFatal: (err: Error) => void;
  private mirrorOrNull: LogMirror | null = null;
  private linkOrNull: MasterLink | null = null;
  private dumpTimer: NodeJS.Timeout | null = null;

  constructor(config: MetaloggerConfig, opts: MetaloggerOptions) {
    this.config = config;
    this.log = opts.log;
    this.onFatal = opts.onFatal ?? ((err) => {
      this.log.error('fatal: exiting now (a restart recovers the folder)', {
        error: err.stack ?? err.message,
      });
      process.exit(70);
    });
  }

  get mirror(): LogMirror {
    if (this.mirrorOrNull === null) throw new Error('the metalogger has not started');
    return this.mirrorOrNull;
  }

  get link(): MasterLink | null {
    return this.linkOrNull;
  }

  /** The modules for runDaemon, in start order. */
  modules(): DaemonModule[] {
    return [
      { name: 'mirror', start: () => this.startMirror(), stop: () => this.stopMirror() },
      {
        name: 'master-link', start: () => this.startLink(),
        stop: () => this.linkOrNull?.stop(),
      },
    ];
  }

  /** Starts every module in order (tests; the daemon uses runDaemon with modules()). */
  async start(): Promise<void> {
    for (const m of this.modules()) await m.start();
  }

  async stop(): Promise<void> {
    for (const m of this.modules().reverse()) await m.stop();
  }

  /** A SIGHUP reload: the keys marked reloadable take their new values. */
  applyConfig(config: MetaloggerConfig): void {
    const freqChanged = config.metadataSaveFreqS !== this.config.metadataSaveFreqS;
    this.config = config;
    if (this.mirrorOrNull !== null) {
      this.mirrorOrNull.settings = {
        changelogRotateRecords: config.changelogRotateRecords, backLogs: config.backLogs,
        backMetaKeepPrevious: config.backMetaKeepPrevious,
      };
      if (freqChanged) this.startDumpTimer();
    }
    if (this.linkOrNull !== null) {
      this.linkOrNull.reconnectDelayMaxMs = config.reconnectDelayMaxMs;
      this.linkOrNull.lag.setIntervalMs(config.lagLogIntervalMs);
    }
  }

  private async startMirror(): Promise<void> {
    const c = this.config;
    this.mirrorOrNull = await LogMirror.open({
      dir: c.dataPath, log: this.log, onFatal: this.onFatal,
      changelogRotateRecords: c.changelogRotateRecords, backLogs: c.backLogs,
      backMetaKeepPrevious: c.backMetaKeepPrevious,
    });
    this.log.info('mirror opened', {
      dataPath: c.dataPath, haveVersion: this.mirror.version,
      holdsMetadata: this.mirror.holdsMetadata,
    });
    this.startDumpTimer();
  }

  private startDumpTimer(): void {
    if (this.dumpTimer !== null) clearInterval(this.dumpTimer);
    this.dumpTimer = setInterval(() => {
      this.mirror.writeDump('periodic').catch((err: unknown) => {
        this.log.error('metadata dump failed (the changelog still holds every change)', {
          error: (err as Error).message,
        });
      });
    }, this.config.metadataSaveFreqS * 1000);
  }

  private async stopMirror(): Promise<void> {
    if (this.dumpTimer !== null) clearInterval(this.dumpTimer);
    this.dumpTimer = null;
    const mirror = this.mirrorOrNull;
    if (mirror === null) return;
    await mirror.close();
    this.log.info('mirror closed', { haveVersion: mirror.version });
  }

  private startLink(): void {
    const c = this.config;
    this.linkOrNull = new MasterLink({
      masters: c.masters, name: c.name, dir: c.dataPath, mirror: this.mirror, log: this.log,
      reconnectDelayMaxMs: c.reconnectDelayMaxMs, timeoutMs: c.masterTimeoutMs,
      lagLogIntervalMs: c.lagLogIntervalMs,
    });
    this.linkOrNull.start();
  }
}
