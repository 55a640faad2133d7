// A real antlerfs cluster for tests and benchmarks: one master and N chunkservers as separate
// processes on 127.0.0.1 (every port 0 at first start, then kept across restarts), each on its
// own folders under one temporary root, plus connected clients and a CLI runner.
// `await using cluster = await startCluster()` stops everything even when the test throws;
// folders are removed when the process exits, unless a test failed: then the logs are kept
// and the tail of every daemon log is printed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@antlerfs/client';
import {
  CLTOCS_STATS, ChunkserverState, Logger, PAYLOAD_MAX_DATA_BYTES, assert, connectLink,
} from '@antlerfs/protocol';
import { isAlive, stopProcess } from './faults.ts';
import { LOG_TAIL_LINES, logTail, waitForReady, waitUntil } from './wait.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const HOST = '127.0.0.1';

/** A daemon (tsx compiles on start) gets this long to log `ready`. */
export const READY_TIMEOUT_MS = 30_000;
/** Chunkservers get this long to show up online at the master (reconnect backoff is 2 s). */
export const REGISTER_TIMEOUT_MS = 30_000;
/** After SIGTERM, a daemon gets this long to stop before SIGKILL. */
export const STOP_TIMEOUT_MS = 15_000;
/** A CLI command gets this long before it is killed (and the test fails with its output). */
export const CLI_TIMEOUT_MS = 180_000;

export interface DaemonProc {
  /** "master" or "chunkserver <i>". */
  name: string;
  child: ChildProcess;
  /** key=value fields of the current run's `ready` line. */
  ready: Record<string, string>;
  /** stdout and stderr of every run, appended. */
  logFile: string;
  /** DATA_PATH. */
  dataPath: string;
  /** Chunk folders (HDD paths) of a chunkserver; empty for the master. */
  dataDirs: string[];
  /** Resolves with the exit code or signal of the current run. */
  exited: Promise<number | string>;
}

export interface ClusterOptions {
  chunkservers?: number;
  /** --hdd-reserve-bytes of every chunkserver. */
  reserveBytes?: number;
  masterArgs?: string[];
  chunkserverArgs?: string[];
  /** Start a metalogger right after the master, before the chunkservers. */
  metalogger?: boolean;
  /**
   * Reserve ports for a second (standby) master: chunkservers and clients are given both
   * addresses, so a promoted metalogger copy can take over without restarting them.
   */
  standby?: boolean;
  /**
   * Run each daemon on its own host: inside the network namespace `ns`, listening on and
   * advertising `addr` (spawned as `ip netns exec NS node BIN ...`). The test process must be
   * able to reach every address. Not combined with `standby`.
   */
  hosts?: { master: NetHost; chunkservers: NetHost[] };
}

/** A host of the cluster: a network namespace and the address the daemon uses there. */
export interface NetHost {
  ns: string;
  addr: string;
}

export interface CliResult {
  code: number;
  stdout: string;
  /** stdout as bytes (for `get - ` and `cat`). */
  stdoutBytes: Buffer;
  stderr: string;
}

export interface Cluster extends AsyncDisposable {
  /** Temporary root of every folder and log of this cluster. */
  dir: string;
  /** '127.0.0.1:<client port>' of the master (both masters, comma-separated, with a standby). */
  masterAddr: string;
  master: DaemonProc;
  metalogger: DaemonProc | undefined;
  startMetalogger(): Promise<void>;
  stopMetalogger(signal?: NodeJS.Signals): Promise<number | string>;
  /**
   * Takeover: stops the metalogger, runs `antler-metalogger promote` on its folder and starts a
   * master there on the standby ports (with `masterArgs` instead of the cluster's, when given).
   * Needs `standby: true`.
   */
  promoteMetalogger(opts?: { masterArgs?: string[] }): Promise<void>;
  chunkservers: DaemonProc[];
  /** A connected client; closed when the cluster stops. */
  client(name?: string): Promise<Client>;
  /** Runs `antler -H <masterAddr> ...args`; `input` goes to its stdin. */
  cli(args: string[], opts?: { input?: Buffer | string }): Promise<CliResult>;
  stopMaster(signal?: NodeJS.Signals): Promise<number | string>;
  /** Starts the master again on its DATA_PATH and its earlier ports. */
  startMaster(): Promise<void>;
  stopChunkserver(i: number, signal?: NodeJS.Signals): Promise<number | string>;
  /** Starts chunkserver i again on its folders and its earlier data port. */
  startChunkserver(i: number): Promise<void>;
  /** Waits until the master lists every running chunkserver as online. */
  waitForChunkservers(): Promise<void>;
  /** Chunk files on chunkserver i's disks (all chunkservers when i is omitted). */
  chunkFiles(i?: number): string[];
  /** CLTOCS_STATS counters of chunkserver i, by name. */
  csStats(i: number): Promise<Record<string, number>>;
  /** The master's chunk pool counters (ready, taken, promised, redeemed...) from /api/status. */
  chunkPoolCounters(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

// Every cluster of this process, for the exit hook.
const clusters: ClusterImpl[] = [];
let exitHookSet = false;

/**
 * ANTLER_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=DIR") as node flags for the processes a test
 * or the bench starts: flags NODE_OPTIONS refuses, for profiling them.
 */
export function nodeArgsFromEnv(): string[] {
  return (process.env.ANTLER_NODE_ARGS ?? '').split(/\s+/).filter((a) => a !== '');
}

/** Starts a master and `chunkservers` chunkservers and waits until all are online. */
export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  setExitHook();
  const cluster = new ClusterImpl(opts);
  clusters.push(cluster);
  try {
    await cluster.start();
  } catch (err) {
    cluster.failed = true;
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/**
 * On exit: kill what is left, then remove the folders, or, if the process is failing (uvu sets
 * the exit code when a test failed), keep them and print every daemon's log tail.
 */
function setExitHook(): void {
  if (exitHookSet) return;
  exitHookSet = true;
  process.on('exit', (code) => {
    const failing = code !== 0 || (process.exitCode ?? 0) !== 0;
    for (const c of clusters) {
      c.killNow();
      if (failing || c.failed) c.printLogs();
      else fs.rmSync(c.dir, { recursive: true, force: true });
    }
  });
}

interface MasterPorts { client: number; chunkserver: number; monitor: number; metalogger: number }

/** `count` ports free right now on 127.0.0.1 (bound to 0, then released). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () =>
    new Promise<net.Server>((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen(0, HOST, () => resolve(srv));
    })));
  const ports = servers.map((srv) => (srv.address() as net.AddressInfo).port);
  await Promise.all(servers.map((srv) => new Promise((resolve) => srv.close(resolve))));
  return ports;
}

/** `key` of a ready line as a port number. */
function readyPort(proc: DaemonProc, key: string): number {
  const port = Number(proc.ready[key]);
  assert(Number.isInteger(port) && port > 0 && port < 65536,
    `${proc.name} ready line has ${key}=${proc.ready[key]}`);
  return port;
}

/** Registered and connected as the master reports it: online, or online but full. */
function isConnected(state: number): boolean {
  return state === ChunkserverState.ONLINE || state === ChunkserverState.FULL ||
    state === ChunkserverState.DRAINING || state === ChunkserverState.DRAINED;
}

class ClusterImpl implements Cluster {
  readonly dir: string;
  masterAddr = '';
  master!: DaemonProc;
  chunkservers: DaemonProc[] = [];
  /** Set when starting failed; the logs are then kept. */
  failed = false;
  private opts: Required<Omit<ClusterOptions, 'hosts'>>;
  private readonly hosts: ClusterOptions['hosts'];
  private readonly clients: Client[] = [];
  private readonly cliChildren = new Set<ChildProcess>();
  /** Every daemon process ever started, so none outlives the test, even one never ready. */
  private readonly spawned = new Set<ChildProcess>();
  metalogger: DaemonProc | undefined;
  private masterPorts: MasterPorts | null = null;
  private standbyPorts: MasterPorts | null = null;
  private stopped = false;

  constructor(opts: ClusterOptions) {
    this.opts = {
      chunkservers: opts.chunkservers ?? 3, reserveBytes: opts.reserveBytes ?? 0,
      masterArgs: opts.masterArgs ?? [], chunkserverArgs: opts.chunkserverArgs ?? [],
      metalogger: opts.metalogger ?? false, standby: opts.standby ?? false,
    };
    assert(this.opts.chunkservers >= 0 && this.opts.chunkservers <= 32, 'chunkserver count');
    this.hosts = opts.hosts;
    assert(this.hosts === undefined || (!this.opts.standby &&
      this.hosts.chunkservers.length >= this.opts.chunkservers), 'a host for every daemon');
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'antler-cluster-'));
  }

  async start(): Promise<void> {
    if (this.opts.standby) {
      const [client, chunkserver, monitor, metalogger] = await freePorts(4);
      this.standbyPorts = { client: client!, chunkserver: chunkserver!, monitor: monitor!, metalogger: metalogger! };
    }
    await this.startMaster();
    if (this.opts.metalogger) await this.startMetalogger();
    const count = this.opts.chunkservers;
    this.chunkservers = new Array<DaemonProc>(count);
    await Promise.all(Array.from({ length: count }, (_, i) => this.startChunkserver(i)));
    await this.waitForChunkservers();
  }

  async startMaster(dataPath = path.join(this.dir, 'master')): Promise<void> {
    assert(this.master === undefined || !isAlive(this.master.child), 'master already running');
    const p = this.masterPorts ?? { client: 0, chunkserver: 0, monitor: 0, metalogger: 0 };
    const args = [
      '--data-path', dataPath, '--listen-host', this.masterHost(),
      '--matocl-listen-port', String(p.client), '--matocs-listen-port', String(p.chunkserver),
      '--monitor-listen-port', String(p.monitor), '--matoml-listen-port', String(p.metalogger),
      ...this.opts.masterArgs,
    ];
    this.master = await this.spawnDaemon({
      name: 'master', pkg: 'master', bin: 'antler-master', args, dataPath, dataDirs: [],
      host: this.hosts?.master,
    });
    this.masterPorts = {
      client: readyPort(this.master, 'clientPort'),
      chunkserver: readyPort(this.master, 'chunkserverPort'),
      monitor: readyPort(this.master, 'monitorPort'),
      metalogger: readyPort(this.master, 'metaloggerPort'),
    };
    this.masterAddr = this.addressList('client');
  }

  /** host:port of every master (the active one first) for the given port kind. */
  private addressList(kind: keyof MasterPorts): string {
    const all = [this.masterPorts, this.standbyPorts].filter((p) => p !== null);
    return all.map((p) => `${this.masterHost()}:${p[kind]}`).join(',');
  }

  /** The address the master listens on. */
  private masterHost(): string {
    return this.hosts?.master.addr ?? HOST;
  }

  /** The address chunkserver i listens on. */
  private csHost(i: number): string {
    return this.hosts?.chunkservers[i]?.addr ?? HOST;
  }

  async startMetalogger(): Promise<void> {
    assert(this.masterPorts !== null, 'the master has started once');
    const dataPath = path.join(this.dir, 'metalogger');
    const args = [
      '--data-path', dataPath, '--master-host', this.addressList('metalogger'),
      '--metalogger-name', 'harness',
    ];
    this.metalogger = await this.spawnDaemon({
      name: 'metalogger', pkg: 'master', bin: 'antler-metalogger', args, dataPath, dataDirs: [],
    });
  }

  async stopMetalogger(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string> {
    assert(this.metalogger !== undefined, 'a metalogger was started');
    return stopProcess(this.metalogger.child, signal, STOP_TIMEOUT_MS);
  }

  async promoteMetalogger(opts: { masterArgs?: string[] } = {}): Promise<void> {
    assert(this.standbyPorts !== null && this.metalogger !== undefined, 'standby and metalogger');
    const folder = this.metalogger.dataPath;
    await this.stopMetalogger('SIGTERM');
    const bin = path.join(REPO_ROOT, 'packages', 'master', 'bin', 'antler-metalogger');
    const promoted = spawnSync(process.execPath, [bin, 'promote', '-d', folder], {
      encoding: 'utf8', timeout: CLI_TIMEOUT_MS,
    });
    fs.appendFileSync(this.metalogger.logFile, promoted.stdout + promoted.stderr);
    assert(promoted.status === 0, `promote failed: ${promoted.stdout}${promoted.stderr}`);
    // The standby becomes the active master; the old ports stay in the lists as the standby.
    [this.masterPorts, this.standbyPorts] = [this.standbyPorts, this.masterPorts];
    this.metalogger = undefined;
    if (opts.masterArgs) this.opts = { ...this.opts, masterArgs: opts.masterArgs };
    await this.startMaster(folder);
  }

  async startChunkserver(i: number): Promise<void> {
    assert(Number.isInteger(i) && i >= 0 && i < this.opts.chunkservers, `chunkserver ${i} exists`);
    const earlier = this.chunkservers[i];
    assert(earlier === undefined || !isAlive(earlier.child), `chunkserver ${i} already running`);
    assert(this.masterPorts !== null, 'the master has started once');
    const dataPath = path.join(this.dir, `cs${i}`);
    const hdd = path.join(dataPath, 'hdd1');
    fs.mkdirSync(hdd, { recursive: true });
    const port = earlier ? readyPort(earlier, 'dataPort') : 0;
    const args = [
      '--data-path', dataPath, '--hdd-paths', hdd,
      '--hdd-reserve-bytes', String(this.opts.reserveBytes),
      '--csserv-listen-host', this.csHost(i), '--csserv-listen-port', String(port),
      '--master-host', this.addressList('chunkserver'),
      ...this.opts.chunkserverArgs,
    ];
    this.chunkservers[i] = await this.spawnDaemon({
      name: `chunkserver ${i}`, pkg: 'chunkserver', bin: 'antler-chunkserver', args, dataPath,
      dataDirs: [hdd], host: this.hosts?.chunkservers[i],
    });
  }

  private async spawnDaemon(d: {
    name: string; pkg: string; bin: string; args: string[]; dataPath: string; dataDirs: string[];
    host?: NetHost | undefined;
  }): Promise<DaemonProc> {
    assert(!this.stopped, 'cluster is running');
    fs.mkdirSync(d.dataPath, { recursive: true });
    const logFile = path.join(this.dir, `${d.name.replace(' ', '')}.log`);
    const fromByte = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
    const fd = fs.openSync(logFile, 'a');
    const binPath = path.join(REPO_ROOT, 'packages', d.pkg, 'bin', d.bin);
    fs.writeSync(fd, `# ${new Date().toISOString()} harness: ${binPath} ${d.args.join(' ')}\n`);
    const listen = d.host?.addr ?? HOST;
    // `ip netns exec` execs node in place, so the child's pid is the daemon's own.
    const nodeArgs = nodeArgsFromEnv();
    const [cmd, argv] = d.host === undefined
      ? [process.execPath, [...nodeArgs, binPath, ...d.args]]
      : ['ip', ['netns', 'exec', d.host.ns, process.execPath, ...nodeArgs, binPath, ...d.args]];
    const child = spawn(cmd, argv, {
      cwd: d.dataPath, stdio: ['ignore', fd, fd],
      env: {
        UV_THREADPOOL_SIZE: '16', ...process.env, LISTEN_HOST: listen, CSSERV_LISTEN_HOST: listen,
      },
    });
    fs.closeSync(fd);
    const exited = new Promise<number | string>((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? signal ?? 'gone'));
      child.once('error', (err) => resolve(`spawn error: ${err.message}`));
    });
    this.spawned.add(child);
    let ready: Record<string, string>;
    try {
      ready = await waitForReady({
        name: d.name, logFile, fromByte, timeoutMs: READY_TIMEOUT_MS, exited,
      });
    } catch (err) {
      await stopProcess(child, 'SIGTERM', STOP_TIMEOUT_MS);
      throw err;
    }
    return {
      name: d.name, child, ready, logFile, dataPath: d.dataPath, dataDirs: d.dataDirs, exited,
    };
  }

  async waitForChunkservers(): Promise<void> {
    const running = this.chunkservers.filter((cs) => cs !== undefined && isAlive(cs.child));
    if (running.length === 0) return;
    const ports = running.map((cs) => readyPort(cs, 'dataPort'));
    // Its own client, connected inside the poll: the master may still be coming up.
    let client: Client | null = null;
    try {
      await waitUntil(`${running.length} chunkservers online at the master`, async () => {
        client ??= await Client.connect({ master: this.masterAddr, name: 'harness' });
        const servers = await client.chunkservers();
        const online = servers.filter((s) => isConnected(s.state)).map((s) => s.port);
        return ports.every((p) => online.includes(p)) || undefined;
      }, { timeoutMs: REGISTER_TIMEOUT_MS });
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${this.logTails()}`);
    } finally {
      (client as Client | null)?.close();
    }
  }

  async client(name = 'test'): Promise<Client> {
    assert(!this.stopped, 'cluster is running');
    const client = await Client.connect({ master: this.masterAddr, name: `test ${name}` });
    this.clients.push(client);
    return client;
  }

  cli(args: string[], opts: { input?: Buffer | string } = {}): Promise<CliResult> {
    const bin = path.join(REPO_ROOT, 'packages', 'client', 'bin', 'antler');
    const child = spawn(process.execPath, [bin, '-H', this.masterAddr, ...args], {
      cwd: this.dir, stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.cliChildren.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.stdin!.on('error', () => { /* the command may exit before reading all input */ });
    child.stdin!.end(opts.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), CLI_TIMEOUT_MS);
    return new Promise((resolve) => {
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        this.cliChildren.delete(child);
        const stderr = Buffer.concat(err).toString('utf8') +
          (signal ? `\n[harness: antler ${args.join(' ')} ended by ${signal}]` : '');
        const stdoutBytes = Buffer.concat(out);
        resolve({ code: code ?? 128, stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr });
      });
    });
  }

  async stopMaster(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string> {
    return stopProcess(this.master.child, signal, STOP_TIMEOUT_MS);
  }

  async stopChunkserver(i: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string> {
    const cs = this.chunkservers[i];
    assert(cs !== undefined, `chunkserver ${i} exists`);
    return stopProcess(cs.child, signal, STOP_TIMEOUT_MS);
  }

  chunkFiles(i?: number): string[] {
    const servers = i === undefined ? this.chunkservers : [this.chunkservers[i]];
    const files: string[] = [];
    for (const cs of servers) {
      assert(cs !== undefined, `chunkserver ${i} exists`);
      for (const dir of cs.dataDirs) files.push(...chunkFilesIn(dir));
    }
    return files;
  }

  async csStats(i: number): Promise<Record<string, number>> {
    const cs = this.chunkservers[i];
    assert(cs !== undefined, `chunkserver ${i} exists`);
    const link = await connectLink(this.csHost(i), readyPort(cs, 'dataPort'), {
      kind: 'data', payloadMaxBytes: PAYLOAD_MAX_DATA_BYTES, log: harnessLog,
    });
    try {
      const { body } = await link.call(CLTOCS_STATS, {});
      const out: Record<string, number> = {};
      for (const c of body.counters) out[c.name] = c.value;
      return out;
    } finally {
      link.close('stats read');
    }
  }

  async chunkPoolCounters(): Promise<Record<string, number>> {
    const port = readyPort(this.master, 'monitorPort');
    const res = await fetch(`http://${HOST}:${port}/api/status`);
    assert(res.status === 200, `monitor status answered ${res.status}`);
    return ((await res.json()) as { chunkPool: Record<string, number> }).chunkPool;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const c of this.clients) c.close();
    for (const child of this.cliChildren) child.kill('SIGKILL');
    // Stop order of an operator: clients, chunkservers, master.
    await Promise.all(this.chunkservers.filter((cs) => cs !== undefined)
      .map((cs) => stopProcess(cs.child, 'SIGTERM', STOP_TIMEOUT_MS)));
    if (this.metalogger !== undefined) {
      await stopProcess(this.metalogger.child, 'SIGTERM', STOP_TIMEOUT_MS);
    }
    if (this.master !== undefined) await stopProcess(this.master.child, 'SIGTERM', STOP_TIMEOUT_MS);
    // Daemons still starting when a start failed are not in the lists above.
    await Promise.all([...this.spawned].filter(isAlive)
      .map((child) => stopProcess(child, 'SIGTERM', STOP_TIMEOUT_MS)));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** Synchronous last resort at process exit. */
  killNow(): void {
    for (const child of this.spawned) if (isAlive(child)) child.kill('SIGKILL');
    for (const child of this.cliChildren) child.kill('SIGKILL');
  }

  logTails(): string {
    const parts: string[] = [];
    for (const p of [this.master, this.metalogger, ...this.chunkservers]) {
      if (p === undefined) continue;
      parts.push(`----- ${p.name}: last ${LOG_TAIL_LINES} lines of ${p.logFile}\n` +
        logTail(p.logFile));
    }
    return parts.join('\n');
  }

  printLogs(): void {
    process.stderr.write(`\n===== cluster ${this.dir} kept (a test failed)\n${this.logTails()}\n`);
  }
}

const harnessLog = new Logger('harness');

/** Files in the 00..FF folders of one chunk folder. */
export function chunkFilesIn(dir: string): string[] {
  const files: string[] = [];
  let subdirs: string[];
  try {
    subdirs = fs.readdirSync(dir);
  } catch {
    return files;
  }
  for (const sub of subdirs) {
    if (!/^[0-9A-Fa-f]{2}$/.test(sub)) continue;
    const full = path.join(dir, sub);
    if (!fs.statSync(full).isDirectory()) continue;
    for (const name of fs.readdirSync(full)) files.push(path.join(full, name));
  }
  return files;
}
