// Shared by the metalogger and restore tests: real daemons as child processes (ready line
// parsed, output kept, bounded waits), a client link with a workload of namespace changes, a
// walk of the whole tree over the protocol for comparing two masters, and FakeFeed: a master's
// metalogger port (9419) served from the files a real master writes in its DATA_PATH.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CLTOMA_CREATE, CLTOMA_LINK, CLTOMA_LIST_METALOGGERS, CLTOMA_MKDIR, CLTOMA_READDIR,
  CLTOMA_READLINK, CLTOMA_REGISTER, CLTOMA_RENAME, CLTOMA_RMDIR, CLTOMA_SETATTR, CLTOMA_SYMLINK,
  CLTOMA_UNLINK, InodeType, Logger, MATOML_RECORDS, MLTOMA_ACK, MLTOMA_DUMP_READ, MLTOMA_REGISTER,
  MLTOMA_STREAM, PAYLOAD_MAX_CLIENT_MASTER_BYTES, PAYLOAD_MAX_METALOGGER_BYTES, PROTOCOL_VERSION,
  Router, SetAttr, Status, connectLink, listenLinks, type Link,
} from '@antlerfs/protocol';
import { CHANGELOG_HEADER_BYTES, listChangelogFiles, parseRecord } from '../src/changelog.ts';
import { DUMP_FILE, loadDump, readDumpVersion } from '../src/metadata-dump.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
export const BIN = {
  master: path.resolve(here, '../bin/antler-master'),
  metalogger: path.resolve(here, '../bin/antler-metalogger'),
  metarestore: path.resolve(here, '../bin/antler-metarestore'),
};
/** A daemon (tsx compiles on start) gets this long to log `ready`. */
export const READY_TIMEOUT_MS = 30_000;
/** Longest wait for a metalogger to catch up or a log line to appear. */
export const WAIT_MS = 60_000;
const POLL_MS = 25;
const log = new Logger('test');

export interface Daemon {
  child: ChildProcess;
  ready: Record<string, string>;
  output: string[];
  exited: Promise<number | string>;
}

export function parseFields(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  const re = /(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    fields[m[1]!] = m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
  }
  return fields;
}

/** Every daemon started, so a failed test leaves none behind (killDaemons). */
const started: ChildProcess[] = [];

export function killDaemons(): void {
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** Starts a bin and waits for `<component> ready k=v...`; rejects with its output otherwise. */
export function startDaemon(bin: string, args: string[], component: string): Promise<Daemon> {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  const output: string[] = [];
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });
  return new Promise((resolve, reject) => {
    const fail = (why: string): void => reject(new Error(`${why}:\n${output.join('\n')}`));
    const timer = setTimeout(() => fail(`${component}: no ready line`), READY_TIMEOUT_MS);
    let partial = '';
    const readyLine = new RegExp(`^\\S+ info  ${component} ready (.*)$`);
    child.stdout!.on('data', (d: Buffer) => {
      partial += d.toString();
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        output.push(line);
        const m = readyLine.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve({ child, ready: parseFields(m[1]!), output, exited });
        }
      }
    });
    child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      fail(`${component} exited ${code} before ready`);
    });
  });
}

export async function stopDaemon(
  d: Daemon, signal: NodeJS.Signals = 'SIGTERM',
): Promise<number | string> {
  if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill(signal);
  return d.exited;
}

/** Polls `cond` until true; fails with `what` (and `evidence`) after WAIT_MS. */
export async function waitUntil(
  what: string, cond: () => boolean | Promise<boolean>, evidence: () => string = () => '',
): Promise<void> {
  const polls = Math.ceil(WAIT_MS / POLL_MS);
  for (let i = 0; i < polls; i++) {
    if (await cond()) return;
    await sleep(POLL_MS);
  }
  throw new Error(`timed out waiting for ${what}\n${evidence()}`);
}

export function waitForLine(d: Daemon, pattern: RegExp, after = 0): Promise<string> {
  let found = '';
  return waitUntil(`a line matching ${pattern}`, () => {
    found = d.output.slice(after).find((l) => pattern.test(l)) ?? '';
    return found !== '';
  }, () => d.output.slice(-40).join('\n')).then(() => found);
}

export interface BinResult { code: number; stdout: string; stderr: string }

export function runBin(bin: string, args: string[]): BinResult {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: WAIT_MS });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A port nobody listens on now (taken and released; the test then binds it). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The master serves metaloggers itself (port 9419) once its help lists the port. */
export const REAL_FEED = runBin(BIN.master, ['--help']).stdout.includes('--matoml-listen-port');

/** Flags of a test master: temporary folder, loopback, every port 0, then `extra`. */
export function masterArgs(dataPath: string, extra: string[] = []): string[] {
  return [
    '--data-path', dataPath, '--listen-host', '127.0.0.1', '--matocl-listen-port', '0',
    '--matocs-listen-port', '0', '--monitor-listen-port', '0',
    ...(REAL_FEED ? ['--matoml-listen-port', '0'] : []), ...extra,
  ];
}

export async function clientLink(
  port: number | string,
): Promise<{ link: Link; metaVersion: number }> {
  const link = await connectLink('127.0.0.1', Number(port), {
    kind: 'client-master', payloadMaxBytes: PAYLOAD_MAX_CLIENT_MASTER_BYTES, log,
  });
  const r = await link.call(CLTOMA_REGISTER,
    { clientName: 'test', protocolVersion: PROTOCOL_VERSION });
  return { link, metaVersion: r.body.metaVersion };
}

/** The master's version now (a fresh registration reports it). */
export async function masterVersion(port: number | string): Promise<number> {
  const { link, metaVersion } = await clientLink(port);
  link.close('done');
  return metaVersion;
}

/** The version the master says a metalogger acknowledged (real feed), or null if unknown. */
export async function ackedAtMaster(port: number | string): Promise<number | null> {
  const { link } = await clientLink(port);
  try {
    const r = await link.request(CLTOMA_LIST_METALOGGERS, {});
    if (r.status !== Status.OK) return null;
    const acked = r.body!.metaloggers.map((m) => m.ackedVersion);
    return acked.length === 0 ? 0 : Math.max(...acked);
  } finally {
    link.close('done');
  }
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Entry { parent: number; name: string; inode: number; type: number }

/**
 * Sends `count` namespace requests from `workers` concurrent workers, each in its own
 * directory: mkdir, create, symlink, hard link, rename, setattr, unlink, rmdir. Returns how
 * many were applied (status OK).
 */
export async function changeNamespace(
  link: Link, count: number, opts: { seed: number; workers?: number; tag: string },
): Promise<number> {
  const workers = opts.workers ?? 4;
  let applied = 0;
  const worker = async (w: number): Promise<void> => {
    const random = seeded(opts.seed * 100 + w);
    const root = await link.call(CLTOMA_MKDIR,
      { parent: 1, name: `${opts.tag}-w${w}`, mode: 0o755, uid: 0, gid: 0 });
    applied++;
    const dirs: number[] = [root.body.attr.inode];
    const entries: Entry[] = [];
    const share = Math.floor(count / workers) - 1;
    for (let i = 0; i < share; i++) {
      if (await oneChange(link, random, { dirs, entries, i, w })) applied++;
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
  return applied;
}

async function oneChange(
  link: Link, random: () => number,
  st: { dirs: number[]; entries: Entry[]; i: number; w: number },
): Promise<boolean> {
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
  const parent = pick(st.dirs);
  const name = `e${st.i}`;
  const r = random();
  const owner = { uid: st.i % 7, gid: 3 };
  if (r < 0.45 || st.entries.length < 4) {
    const kind = random();
    const reply = kind < 0.2
      ? await link.request(CLTOMA_MKDIR, { parent, name, mode: 0o750, ...owner })
      : kind < 0.85
        ? await link.request(CLTOMA_CREATE, {
          parent, name, mode: 0o640, ...owner, exclusive: 1, promise: 0,
        })
        : await link.request(CLTOMA_SYMLINK, { parent, name, target: `../t${st.i}`, ...owner });
    if (reply.status !== Status.OK) return false;
    const attr = reply.body!.attr;
    st.entries.push({ parent, name, inode: attr.inode, type: attr.type });
    if (attr.type === InodeType.DIR) st.dirs.push(attr.inode);
    return true;
  }
  const e = pick(st.entries);
  if (r < 0.6) {
    const mtimeMs = 1_700_000_000_000 + st.i;
    const reply = await link.request(CLTOMA_SETATTR, {
      inode: e.inode, setMask: SetAttr.MODE | SetAttr.MTIME, mode: st.i & 0o777, uid: 0, gid: 0,
      atimeMs: 0, mtimeMs, length: 0,
    });
    return reply.status === Status.OK;
  }
  if (r < 0.72) {
    const dstParent = pick(st.dirs);
    const reply = await link.request(CLTOMA_RENAME,
      { srcParent: e.parent, srcName: e.name, dstParent, dstName: `r${st.i}`, flags: 0 });
    if (reply.status === Status.OK) Object.assign(e, { parent: dstParent, name: `r${st.i}` });
    return reply.status === Status.OK;
  }
  if (r < 0.8 && e.type === InodeType.FILE) {
    const reply = await link.request(CLTOMA_LINK, { inode: e.inode, parent, name: `h${st.i}` });
    if (reply.status === Status.OK) {
      st.entries.push({ parent, name: `h${st.i}`, inode: e.inode, type: e.type });
    }
    return reply.status === Status.OK;
  }
  const def = e.type === InodeType.DIR ? CLTOMA_RMDIR : CLTOMA_UNLINK;
  const reply = await link.request(def, { parent: e.parent, name: e.name });
  if (reply.status === Status.OK) {
    st.entries.splice(st.entries.indexOf(e), 1);
    if (e.type === InodeType.DIR) st.dirs.splice(st.dirs.indexOf(e.inode), 1);
  }
  return reply.status === Status.OK;
}

/** Every path of the tree with its attributes (and symlink target), walked without recursion. */
export async function walkTree(port: number | string): Promise<Map<string, string>> {
  const { link } = await clientLink(port);
  const out = new Map<string, string>();
  const queue: { inode: number; path: string }[] = [{ inode: 1, path: '' }];
  for (let q = 0; q < queue.length; q++) {
    const dir = queue[q]!;
    let cursor = '';
    for (let page = 0; page < 1_000_000; page++) {
      const r = await link.call(CLTOMA_READDIR, { inode: dir.inode, cursor, entriesMax: 1000 });
      for (const { name, attr } of r.body.entries) {
        const p = `${dir.path}/${name}`;
        let target = '';
        if (attr.type === InodeType.SYMLINK) {
          target = (await link.call(CLTOMA_READLINK, { inode: attr.inode })).body.target;
        }
        out.set(p, JSON.stringify({ ...attr, target }));
        if (attr.type === InodeType.DIR) queue.push({ inode: attr.inode, path: p });
      }
      if (r.body.end) break;
      cursor = r.body.nextCursor;
    }
  }
  link.close('done');
  return out;
}

/** Newest record version in a master's changelog files (0 if none). */
export function lastVersionOnDisk(dir: string): number {
  const files = listChangelogFiles(dir);
  for (let i = files.length - 1; i >= 0; i--) {
    const buf = fs.readFileSync(files[i]!.path);
    let last = files[i]!.firstVersion - 1;
    for (let o = CHANGELOG_HEADER_BYTES; ;) {
      const p = parseRecord(buf, o);
      if (!p.ok) break;
      last = p.version;
      o += p.bytes;
    }
    if (last >= files[i]!.firstVersion) return last;
  }
  return readDumpVersion(path.join(dir, DUMP_FILE)) ?? 0;
}

/** How often the fake feed looks for new records in the master's files. */
const FEED_POLL_MS = 10;
/** A keepalive goes out after this long without records. */
const FEED_KEEPALIVE_MS = 500;
/** Bytes of records one MATOML_RECORDS carries at most. */
const FEED_MESSAGE_BYTES_MAX = 1024 * 1024;

/**
 * The master side of port 9419 for tests, served from the files of a real master's DATA_PATH:
 * REGISTER answers with streaming when the changelog files still hold haveVersion + 1 (and
 * with the current metadata.amd otherwise, or when nothing is held), DUMP_READ reads that dump
 * as it was at REGISTER, and STREAM tails the changelog files, following rotations.
 */
export class FakeFeed {
  readonly dir: string;
  /** The cluster id REGISTER answers with; null: the one in the master's dump. */
  clusterId: string | null = null;
  ackedVersion = 0;
  readonly registrations: { name: string; haveVersion: number; dumpVersion: number }[] = [];
  /** Answer every REGISTER with this status instead (NOT_ACTIVE_MASTER tests). */
  refuseWith: number | null = null;
  /** Rewrites a record batch before it is sent (hostile-master tests). */
  mangle: ((data: Buffer, firstVersion: number) => Buffer) | null = null;
  /** No keepalives (a master that went quiet). */
  silent = false;
  /** DUMP_READs answered before the dump counts as replaced (ENOENT) once. */
  dumpReadsBeforeGone: number | null = null;
  private server: net.Server | null = null;
  private readonly links = new Set<Link>();
  private readonly dumps = new Map<number, Buffer>();
  port = 0;

  constructor(dir: string) {
    this.dir = dir;
  }

  async listen(port = 0): Promise<number> {
    const router = new Router();
    router.on(MLTOMA_REGISTER, (b) => this.register(b.name, b.haveVersion));
    router.on(MLTOMA_DUMP_READ, (b) => {
      if (this.dumpReadsBeforeGone !== null && this.dumpReadsBeforeGone-- <= 0) {
        this.dumpReadsBeforeGone = null;
        this.dumps.clear();
      }
      const dump = this.dumps.get(b.dumpVersion);
      if (dump === undefined) return { status: 'ENOENT' };
      return { data: dump.subarray(b.offset, b.offset + b.size) };
    });
    router.on(MLTOMA_STREAM, (b, ctx) => {
      const files = listChangelogFiles(this.dir);
      if (files.length === 0 || files[0]!.firstVersion > b.fromVersion) return { status: 'EAGAIN' };
      void this.tail(ctx.link, b.fromVersion);
      return {};
    });
    router.onMessage(MLTOMA_ACK, (b) => {
      this.ackedVersion = Math.max(this.ackedVersion, b.version);
    });
    this.server = await listenLinks('127.0.0.1', port, {
      kind: 'master-metalogger', payloadMaxBytes: PAYLOAD_MAX_METALOGGER_BYTES, log, router,
    }, (link) => {
      this.links.add(link);
      link.onClose(() => this.links.delete(link));
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const link of [...this.links]) link.close('feed closing');
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private register(name: string, have: number) {
    if (this.refuseWith !== null) return { status: this.refuseWith as 30 };
    const files = listChangelogFiles(this.dir);
    const metaVersion = lastVersionOnDisk(this.dir);
    let dumpVersion = 0;
    let dumpBytes = 0;
    let streamFrom = have + 1;
    const oldest = files[0]?.firstVersion ?? Infinity;
    if (have === 0 || have + 1 < oldest || have > metaVersion) {
      const dump = fs.readFileSync(path.join(this.dir, DUMP_FILE));
      dumpVersion = readDumpVersion(path.join(this.dir, DUMP_FILE))!;
      this.dumps.set(dumpVersion, dump);
      dumpBytes = dump.length;
      streamFrom = dumpVersion + 1;
    }
    this.registrations.push({
      name, haveVersion: have, dumpVersion: dumpBytes > 0 ? dumpVersion : -1,
    });
    const clusterId = this.clusterId ?? loadDump(path.join(this.dir, DUMP_FILE)).metadata.clusterId;
    return { body: { clusterId, metaVersion, streamFrom, dumpVersion, dumpBytes } };
  }

  /** Sends every record from `from` on, file after file, until the link closes. */
  private async tail(link: Link, from: number): Promise<void> {
    let next = from;
    let idleMs = 0;
    while (!link.closed && this.server !== null) {
      const sent = this.sendFrom(link, next);
      if (sent > 0) {
        next += sent;
        idleMs = 0;
        await link.drained();
        continue;
      }
      await sleep(FEED_POLL_MS);
      idleMs += FEED_POLL_MS;
      if (idleMs >= FEED_KEEPALIVE_MS && !this.silent) {
        idleMs = 0;
        link.send(MATOML_RECORDS,
          { firstVersion: next, count: 0, metaVersion: next - 1, sentMs: Date.now() });
      }
    }
  }

  /** Sends the records from `next` found in the file holding it; returns how many. */
  private sendFrom(link: Link, next: number): number {
    const files = listChangelogFiles(this.dir);
    const file = files.filter((f) => f.firstVersion <= next).at(-1);
    if (file === undefined) return 0;
    let buf: Buffer;
    try {
      buf = fs.readFileSync(file.path);
    } catch {
      return 0; // pruned meanwhile: the next pass finds the newer file
    }
    let o = CHANGELOG_HEADER_BYTES;
    let start = -1;
    let count = 0;
    for (;;) {
      const p = parseRecord(buf, o);
      if (!p.ok) break;
      if (p.version === next + count && (start >= 0 || p.version === next)) {
        if (start < 0) start = o;
        count++;
      }
      o += p.bytes;
      if (start >= 0 && o - start >= FEED_MESSAGE_BYTES_MAX) break;
    }
    if (count === 0) return 0;
    let data = buf.subarray(start, o);
    if (this.mangle !== null) data = this.mangle(Buffer.from(data), next);
    link.send(MATOML_RECORDS,
      { firstVersion: next, count, metaVersion: next + count - 1, sentMs: Date.now() }, data);
    return count;
  }
}
