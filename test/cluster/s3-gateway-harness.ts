// An antler-s3 gateway for S3 tests: the real binary as its own process in front of a test
// cluster, on 127.0.0.1 with port 0 (the port comes from its `ready` line), with a fresh
// credentials file. `await using gw = await startGateway(cluster)` stops it even when a test
// throws; its log sits in the cluster's folder, whose logs the harness prints on failure.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  HOST, READY_TIMEOUT_MS, REPO_ROOT, STOP_TIMEOUT_MS, type Cluster,
} from '../harness/cluster.ts';
import { isAlive, stopProcess } from '../harness/faults.ts';
import { logTail, waitForReady } from '../harness/wait.ts';

export const ACCESS_KEY = 'AKIDANTLERTEST';
export const SECRET_KEY = 'antler/secret+key=for-tests';
export const REGION = 'us-east-1';

export interface Gateway extends AsyncDisposable {
  endpoint: string;
  port: number;
  child: ChildProcess;
  logFile: string;
  credentialsFile: string;
  /** The gateway's log so far (its tail). */
  logTail(): string;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export interface GatewayOptions {
  /** Extra flags, e.g. ['--s3-part-min-bytes', '1M']. */
  args?: string[];
  anonymousRead?: string[];
}

const running = new Set<ChildProcess>();
let exitHookSet = false;
let started = 0;

export async function startGateway(cluster: Cluster, opts: GatewayOptions = {}): Promise<Gateway> {
  if (!exitHookSet) {
    exitHookSet = true;
    process.on('exit', () => {
      for (const child of running) if (isAlive(child)) child.kill('SIGKILL');
    });
  }
  const n = started++;
  const credentialsFile = path.join(cluster.dir, `s3-credentials-${n}`);
  fs.writeFileSync(credentialsFile, `# test keys\n${ACCESS_KEY} ${SECRET_KEY}\n`);
  const logFile = path.join(cluster.dir, `s3-${n}.log`);
  const args = [
    '--master', cluster.masterAddr, '--s3-listen-host', HOST, '--s3-listen-port', '0',
    '--s3-credentials-file', credentialsFile, '--s3-region', REGION,
    '--s3-anonymous-read', (opts.anonymousRead ?? []).join(','), ...(opts.args ?? []),
  ];
  const fd = fs.openSync(logFile, 'a');
  const bin = path.join(REPO_ROOT, 'packages', 'client', 'bin', 'antler-s3');
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: cluster.dir, stdio: ['ignore', fd, fd], env: { ...process.env, ANTLER_LOG_LEVEL: 'info' },
  });
  fs.closeSync(fd);
  running.add(child);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'gone'));
  });
  let ready: Record<string, string>;
  try {
    ready = await waitForReady({
      name: 's3 gateway', logFile, fromByte: 0, timeoutMs: READY_TIMEOUT_MS, exited,
    });
  } catch (err) {
    await stopProcess(child, 'SIGKILL', STOP_TIMEOUT_MS);
    throw err;
  }
  const port = Number(ready.port);
  const stop = (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string> =>
    stopProcess(child, signal, STOP_TIMEOUT_MS).finally(() => running.delete(child));
  return {
    endpoint: `http://${HOST}:${port}`, port, child, logFile, credentialsFile,
    logTail: () => logTail(logFile),
    stop,
    [Symbol.asyncDispose]: async () => { await stop(); },
  };
}
