// S3 path: PUT and GET of 4 KiB and 1 MiB objects through an antler-s3 gateway (its own
// process, started here in front of the run's cluster) driven by autocannon: requests/s, MB/s
// and p99 latency per size and method. Every request is SigV4-signed with UNSIGNED-PAYLOAD:
// PUTs are signed one by one for fresh keys (setupRequest), so each PUT creates a new object
// (temporary file, rename, record); GETs repeat one signed request for an object written
// first, which the gateway still verifies in full each time. Hashing a body on the client
// would measure the client, so payloads are unsigned, as SDKs do over TLS.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { assert } from '@antlerfs/protocol';
import { nodeArgsFromEnv, REPO_ROOT } from '@antlerfs/test/harness/cluster.ts';
import { stopProcess } from '@antlerfs/test/harness/faults.ts';
import { logTail, waitForReady } from '@antlerfs/test/harness/wait.ts';
import { cpuDelta, cpuSnapshot, type ClusterProcess } from '../cpu-usage.ts';
import { failedFigure, throughput, type Figure } from '../report.ts';
import type { PathContext } from './path-context.ts';

/** Object sizes measured: a small object (request cost) and a large one (data path). */
const SIZES = [{ name: '4k', bytes: 4 * 1024 }, { name: '1m', bytes: 1024 * 1024 }] as const;
/** Connections autocannon keeps busy: enough to fill two cores' worth of gateway. */
const CONNECTIONS = 16;
/** Seconds per measurement (quick runs: a smoke test). */
const DURATION_S = 10;
const QUICK_DURATION_S = 2;
const REGION = 'us-east-1';
const ACCESS_KEY = 'AKIDANTLERBENCH';
const GATEWAY_READY_MS = 30_000;
const GATEWAY_STOP_MS = 15_000;

/** The part of autocannon's API used here (it ships no types). */
interface CannonRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}
interface CannonResult {
  requests: { average: number; total: number };
  latency: { p99: number; p50: number };
  throughput: { average: number };
  errors: number;
  non2xx: number;
  duration: number;
}
type Autocannon = (opts: {
  url: string; connections: number; duration: number; method?: string;
  headers?: Record<string, string>;
  body?: Buffer; requests?: { setupRequest: (req: CannonRequest) => CannonRequest }[];
}) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

interface Signer {
  host: string;
  secret: string;
}

function hmac(key: Buffer | string, data: string): Buffer {
  return crypto.createHmac('sha256', key).update(data).digest();
}

/** SigV4 headers for one request with an unsigned payload (path must be SigV4-encoded). */
export function signHeaders(s: Signer, method: string, urlPath: string): Record<string, string> {
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${REGION}/s3/aws4_request`;
  const signed = 'host;x-amz-content-sha256;x-amz-date';
  const headers = `host:${s.host}\nx-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:${amzDate}\n`;
  const canonical = [method, urlPath, '', headers, signed, 'UNSIGNED-PAYLOAD'].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope,
    crypto.createHash('sha256').update(canonical).digest('hex')].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${s.secret}`, day), REGION), 's3'), 'aws4_request');
  const signature = hmac(key, toSign).toString('hex');
  return {
    host: s.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-date': amzDate,
    authorization: `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/${scope}, SignedHeaders=${signed}, ` +
      `Signature=${signature}`,
  };
}

interface GatewayProc {
  child: ChildProcess;
  port: number;
  dir: string;
}

async function startGateway(masterAddr: string): Promise<GatewayProc & { secret: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'antler-bench-s3-'));
  const secret = crypto.randomBytes(20).toString('hex');
  const credentials = path.join(dir, 'credentials');
  fs.writeFileSync(credentials, `${ACCESS_KEY} ${secret}\n`);
  const logFile = path.join(dir, 's3.log');
  const fd = fs.openSync(logFile, 'a');
  const bin = path.join(REPO_ROOT, 'packages', 'client', 'bin', 'antler-s3');
  const args = [...nodeArgsFromEnv(), bin, '--master', masterAddr, '--s3-listen-host', '127.0.0.1',
    '--s3-listen-port', '0', '--s3-credentials-file', credentials];
  const child = spawn(process.execPath, args, { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'gone'));
  });
  try {
    const ready = await waitForReady({ name: 'antler-s3', logFile, fromByte: 0,
      timeoutMs: GATEWAY_READY_MS, exited });
    return { child, port: Number(ready.port), dir, secret };
  } catch (err) {
    await stopProcess(child, 'SIGKILL', GATEWAY_STOP_MS);
    throw err;
  }
}

/** One signed request with fetch; throws unless the status is 2xx. */
async function call(s: Signer, method: string, urlPath: string, body?: Buffer): Promise<Buffer> {
  const r = await fetch(`http://${s.host}${urlPath}`, {
    method, headers: signHeaders(s, method, urlPath), body,
  });
  const bytes = Buffer.from(await r.arrayBuffer());
  if (r.status < 200 || r.status > 299) {
    throw new Error(`${method} ${urlPath}: HTTP ${r.status} ${bytes.toString('utf8', 0, 300)}`);
  }
  return bytes;
}

interface Measured {
  result: CannonResult;
  cpuSeconds: Record<string, number>;
}

async function measure(
  processes: ClusterProcess[], opts: Parameters<Autocannon>[0],
): Promise<Measured> {
  const before = cpuSnapshot(processes);
  const result = await autocannon(opts);
  return { result, cpuSeconds: cpuDelta(before, cpuSnapshot(processes)) };
}

/** A PUT's object is on disk before its reply; a GET is one read (sequential when large). */
function limitOf(id: string, large: boolean): string {
  const put = id.startsWith('s3.put');
  if (large) return put ? 'raw-disk.write' : 'raw-disk.read';
  return put ? 'raw-disk.fdatasync' : 'raw-disk.read4k';
}

function figureOf(
  id: string, label: string, sizeBytes: number, m: Measured,
): Figure {
  const r = m.result;
  const seconds = r.duration;
  const ok = r.requests.total - r.non2xx - r.errors;
  const mb = throughput(Math.max(ok, 0) * sizeBytes, seconds);
  const reqPerS = ok / seconds;
  const large = sizeBytes >= 1024 * 1024;
  return {
    id, kind: 'path', label: `${label}, ${large ? 'MB/s' : 'requests/s'}`,
    value: large ? mb.mbPerS : reqPerS, unit: large ? 'MB/s' : 'ops/s',
    ...(large ? { mibPerS: mb.mibPerS } : {}), seconds, ops: ok, bytes: ok * sizeBytes,
    limitId: limitOf(id, large),
    cpuSeconds: m.cpuSeconds,
    latency: { p50Ms: r.latency.p50, p99Ms: r.latency.p99, count: r.requests.total },
    note: `${reqPerS.toFixed(0)} req/s, ${mb.mbPerS.toFixed(1)} MB/s, p50 ${r.latency.p50} ms, ` +
      `p99 ${r.latency.p99} ms`,
    checks: [{ name: 'all 2xx', passed: r.errors === 0 && r.non2xx === 0,
      detail: `${r.errors} errors, ${r.non2xx} non-2xx of ${r.requests.total}` }],
  };
}

/** PUT then GET of each size; one figure per (method, size). */
export async function runS3PutGet(ctx: PathContext, masterAddr: string): Promise<Figure[]> {
  const gw = await startGateway(masterAddr);
  const s: Signer = { host: `127.0.0.1:${gw.port}`, secret: gw.secret };
  const own = gw.child.pid === undefined ? [] : [{ name: 's3', pid: gw.child.pid }];
  const processes = [...ctx.processes, ...own];
  const duration = ctx.params.quick ? QUICK_DURATION_S : DURATION_S;
  const bucket = `bench-${Date.now().toString(36)}-${process.pid}`;
  const figures: Figure[] = [];
  try {
    await call(s, 'PUT', `/${bucket}`);
    for (const size of SIZES) {
      const body = crypto.randomBytes(size.bytes);
      ctx.progress.begin(`s3 PUT ${size.name} objects, ${CONNECTIONS} connections, ${duration} s`);
      let n = 0;
      const put = await measure(processes, {
        url: `http://${s.host}`, connections: CONNECTIONS, duration, requests: [{
          setupRequest: (req) => {
            const p = `/${bucket}/${size.name}/${n++}`;
            return { ...req, method: 'PUT', path: p, headers: signHeaders(s, 'PUT', p), body };
          },
        }],
      });
      figures.push(figureOf(`s3.put.${size.name}`, `s3 PUT ${size.name}`, size.bytes, put));
      ctx.progress.end(figures.at(-1)!.note!);
      const key = `/${bucket}/${size.name}/0`;
      assert((await call(s, 'GET', key)).equals(body), `${key} reads back what was put`);
      ctx.progress.begin(`s3 GET ${size.name} objects, ${CONNECTIONS} connections, ${duration} s`);
      const get = await measure(processes, {
        url: `http://${s.host}${key}`, connections: CONNECTIONS, duration, method: 'GET',
        headers: signHeaders(s, 'GET', key),
      });
      figures.push(figureOf(`s3.get.${size.name}`, `s3 GET ${size.name}`, size.bytes, get));
      ctx.progress.end(figures.at(-1)!.note!);
    }
  } catch (err) {
    // The figures measured stay; the others fail, with the gateway's end when it died.
    const why = gatewayGone(gw) ?? (err as Error).message;
    ctx.progress.note(`s3 failed: ${why}`);
    for (const size of SIZES) {
      for (const method of ['put', 'get']) {
        const id = `s3.${method}.${size.name}`;
        const unit = size.bytes >= 1024 * 1024 ? 'MB/s' : 'ops/s';
        if (!figures.some((f) => f.id === id)) {
          figures.push(failedFigure({ id, kind: 'path', unit }, new Error(why)));
        }
      }
    }
  } finally {
    const died = gatewayGone(gw) !== null;
    await stopProcess(gw.child, 'SIGTERM', GATEWAY_STOP_MS);
    // A gateway that died keeps its log for whoever looks into it.
    if (!died) fs.rmSync(gw.dir, { recursive: true, force: true });
  }
  return figures;
}

/** How the gateway ended when it ended by itself (with its log's tail), else null. */
function gatewayGone(gw: GatewayProc): string | null {
  const how = gw.child.exitCode ?? gw.child.signalCode;
  if (how === null) return null;
  const log = path.join(gw.dir, 's3.log');
  return `antler-s3 ended by itself (${how}); log ${log}:\n${logTail(log)}`;
}
