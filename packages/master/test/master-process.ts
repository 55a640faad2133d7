// Shared by the master's tests that run the real binary: start antler-master on 127.0.0.1 with
// every port 0, wait for its ready line (or its exit), read key=value fields from its log
// lines, talk to it as a client or a metalogger over real links, and stop every process at
// the end of the test file.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CLTOMA_REGISTER, CLTOMA_SESSION, Logger, PAYLOAD_MAX_CLIENT_MASTER_BYTES,
  PAYLOAD_MAX_METALOGGER_BYTES, PROTOCOL_VERSION, connectLink, type Link, type Router,
} from '@antlerfs/protocol';

export const MASTER_BIN = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)), '../bin/antler-master');
const log = new Logger('test');
/** tsx compiles the master on start: generous, and only ever reached on a failure. */
const READY_TIMEOUT_MS = 30_000;
/** Waits on log lines end after this long (a failure, never a measurement). */
export const WAIT_MS = 10_000;

export interface MasterProcess {
  child: ChildProcess;
  /** key=value fields of the ready line. */
  ready: Record<string, string>;
  output: string[];
  exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();

/** The fields of a structured log line after its message. */
export function lineFields(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of line.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)) {
    out[m[1]!] = m[2]!.startsWith('"') ? JSON.parse(m[2]!) as string : m[2]!;
  }
  return out;
}

export function masterArgs(dataPath: string, extra: string[] = []): string[] {
  return [
    '--data-path', dataPath, '--listen-host', '127.0.0.1', '--matocl-listen-port', '0',
    '--matocs-listen-port', '0', '--monitor-listen-port', '0', '--matoml-listen-port', '0',
    ...extra,
  ];
}

/** Spawns the binary; `output` fills as lines arrive. */
export function spawnMaster(dataPath: string, extra: string[] = []): MasterProcess {
  const child = spawn(MASTER_BIN, masterArgs(dataPath, extra), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    running.delete(child);
    resolve(code);
  }));
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    partial += d.toString();
    const lines = partial.split('\n');
    partial = lines.pop()!;
    output.push(...lines);
  });
  child.stderr!.on('data', (d: Buffer) => output.push(...d.toString().split('\n')));
  return { child, ready: {}, output, exited };
}

/** Resolves with the first output line matching `pattern`; rejects if the process exits. */
export async function waitForLine(
  proc: MasterProcess, pattern: RegExp, timeoutMs = WAIT_MS,
): Promise<string> {
  let exitedWith: number | null | undefined;
  void proc.exited.then((code) => { exitedWith = code; });
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; Date.now() < deadline; i++) {
    const line = proc.output.find((l) => pattern.test(l));
    if (line !== undefined) return line;
    if (exitedWith !== undefined) break;
    await new Promise((r) => setTimeout(r, Math.min(50, 5 + i)));
  }
  const why = exitedWith !== undefined ? `exited ${exitedWith}` : `no line within ${timeoutMs} ms`;
  throw new Error(`${why} matching ${pattern}:\n${proc.output.slice(-30).join('\n')}`);
}

/** Starts the binary and waits for its ready line. */
export async function startMaster(dataPath: string, extra: string[] = []): Promise<MasterProcess> {
  const proc = spawnMaster(dataPath, extra);
  proc.ready = lineFields(await waitForLine(proc, / info  master ready /, READY_TIMEOUT_MS));
  return proc;
}

/** SIGTERM and the exit code. */
export async function stopMaster(proc: MasterProcess): Promise<number | null> {
  proc.child.kill('SIGTERM');
  return proc.exited;
}

/** SIGKILL: nothing is flushed, no final dump. */
export async function killMaster(proc: MasterProcess): Promise<void> {
  proc.child.kill('SIGKILL');
  await proc.exited;
}

/** For test.after: no master outlives its test file. */
export function killAllMasters(): void {
  for (const child of running) child.kill('SIGKILL');
}

export async function clientLink(port: number | string, firstRequestId?: number): Promise<Link> {
  return connectLink('127.0.0.1', Number(port), {
    kind: 'client-master', payloadMaxBytes: PAYLOAD_MAX_CLIENT_MASTER_BYTES, log, firstRequestId,
  });
}

/** A CLTOMA_REGISTER session (no request ids recorded). */
export async function registeredClient(port: number | string): Promise<Link> {
  const link = await clientLink(port);
  await link.call(CLTOMA_REGISTER, { clientName: 'test', protocolVersion: PROTOCOL_VERSION });
  return link;
}

/**
 * A CLTOMA_SESSION session of `clientId` whose first request after the session is
 * `firstRequestId` (the SESSION request itself takes the id before it).
 */
export async function retryingClient(
  port: number | string, clientId: bigint, firstRequestId: number,
): Promise<{ link: Link; metaVersion: number; clusterId: string }> {
  const link = await clientLink(port, firstRequestId - 1);
  const r = await link.call(CLTOMA_SESSION, {
    clientId, clientName: 'retrying', protocolVersion: PROTOCOL_VERSION,
  });
  return { link, metaVersion: r.body.metaVersion, clusterId: r.body.clusterId };
}

export async function metaloggerLink(port: number | string, router?: Router): Promise<Link> {
  return connectLink('127.0.0.1', Number(port), {
    kind: 'master-metalogger', payloadMaxBytes: PAYLOAD_MAX_METALOGGER_BYTES, log, router,
  });
}

/** Polls `check` until it holds (bounded). */
export async function until(
  check: () => boolean | Promise<boolean>, what: string, timeoutMs = WAIT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; Date.now() < deadline; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, Math.min(50, 2 + i)));
  }
  throw new Error(`timed out waiting for ${what}`);
}
