// How far the metalogger is behind the master, in versions (the master's newest version minus
// the newest one fsynced here) and in ms (from the master sending a record to it being fsynced
// here, by the two machines' clocks). Logs the catch-up after each (re)connection and a `lag`
// line every LAG_LOG_INTERVAL_MS while following. Owns no I/O beyond its log lines.
import type { Logger } from '@antlerfs/protocol';

/** Send times remembered for records not yet on disk; beyond it the oldest are forgotten. */
const SAMPLES_MAX = 65_536;

interface Sample {
  lastVersion: number;
  sentMs: number;
}

export interface LagSnapshot {
  metaVersion: number;
  durableVersion: number;
  lagVersions: number;
  /** Of the last record made durable (or keepalive heard). */
  lagMs: number;
  /** The largest lagMs since the last `lag` line. */
  lagMsMax: number;
}

export class LagMeter {
  private readonly log: Logger;
  private intervalMs: number;
  private timer: NodeJS.Timeout | null = null;
  private master = '';
  private metaVersion = 0;
  private durableVersion = 0;
  private lagMs = 0;
  private lagMsMax = 0;
  private samples: Sample[] = [];
  private samplesHead = 0;
  private catchUp: { fromVersion: number; toVersion: number; startMs: number } | null = null;
  private intervalStart = { ms: 0, version: 0 };

  constructor(log: Logger, intervalMs: number) {
    this.log = log;
    this.intervalMs = intervalMs;
  }

  streamStarted(master: string, haveVersion: number, metaVersion: number): void {
    this.master = master;
    this.metaVersion = metaVersion;
    this.durableVersion = haveVersion;
    this.samples = [];
    this.samplesHead = 0;
    this.lagMsMax = 0;
    this.intervalStart = { ms: Date.now(), version: haveVersion };
    this.catchUp = null;
    if (metaVersion > haveVersion) {
      this.catchUp = { fromVersion: haveVersion, toVersion: metaVersion, startMs: Date.now() };
      this.log.info('catching up', {
        master, fromVersion: haveVersion + 1, toVersion: metaVersion,
        records: metaVersion - haveVersion,
      });
    }
    this.restartTimer();
  }

  streamStopped(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  stop(): void {
    this.streamStopped();
  }

  /** A new LAG_LOG_INTERVAL_MS (a reload): applies at once while following. */
  setIntervalMs(ms: number): void {
    this.intervalMs = ms;
    if (this.timer !== null) this.restartTimer();
  }

  private restartTimer(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = setInterval(() => this.logLag(), this.intervalMs);
  }

  /** A RECORDS message (count 0: keepalive) up to `lastVersion`, sent at the master's sentMs. */
  received(lastVersion: number, metaVersion: number, sentMs: number, durable: number): void {
    this.metaVersion = Math.max(this.metaVersion, metaVersion, lastVersion);
    if (lastVersion <= durable) { // a keepalive: nothing of it waits for our disk
      this.note(Math.max(0, Date.now() - sentMs));
      return;
    }
    if (this.samples.length - this.samplesHead >= SAMPLES_MAX) this.samplesHead++;
    this.samples.push({ lastVersion, sentMs });
  }

  /** Every record up to `version` is fsynced here. */
  durable(version: number): void {
    this.durableVersion = version;
    let sentMs: number | null = null;
    while (this.samplesHead < this.samples.length &&
      this.samples[this.samplesHead]!.lastVersion <= version) {
      sentMs = this.samples[this.samplesHead++]!.sentMs;
    }
    if (this.samplesHead > 1024 && this.samplesHead * 2 > this.samples.length) {
      this.samples = this.samples.slice(this.samplesHead);
      this.samplesHead = 0;
    }
    if (sentMs !== null) this.note(Math.max(0, Date.now() - sentMs));
    const c = this.catchUp;
    if (c !== null && version >= c.toVersion) {
      this.catchUp = null;
      this.log.info('caught up', {
        master: this.master, version, records: version - c.fromVersion,
        ms: Date.now() - c.startMs,
      });
    }
  }

  snapshot(): LagSnapshot {
    return {
      metaVersion: this.metaVersion, durableVersion: this.durableVersion,
      lagVersions: Math.max(0, this.metaVersion - this.durableVersion), lagMs: this.lagMs,
      lagMsMax: this.lagMsMax,
    };
  }

  private note(lagMs: number): void {
    this.lagMs = lagMs;
    this.lagMsMax = Math.max(this.lagMsMax, lagMs);
  }

  private logLag(): void {
    const s = this.snapshot();
    const nowMs = Date.now();
    const seconds = Math.max(0.001, (nowMs - this.intervalStart.ms) / 1000);
    const recordsPerSecond = Math.round((s.durableVersion - this.intervalStart.version) / seconds);
    this.log.info('lag', {
      master: this.master, haveVersion: s.durableVersion, metaVersion: s.metaVersion,
      lagVersions: s.lagVersions, lagMs: s.lagMs, lagMsMax: s.lagMsMax, recordsPerSecond,
    });
    this.lagMsMax = 0;
    this.intervalStart = { ms: nowMs, version: s.durableVersion };
  }
}
