// Port 9425: the HTTP monitor. GET /api/status gives the master's state as JSON, GET
// /api/health the cluster's health (chunk matrix, replication, drains); GET / shows
// the same as a small HTML page. Anything else is 404 (405 for other methods). Read-only,
// bounded (connections, header size, timeouts) and never crashed by what a peer sends.
import http from 'node:http';
import type net from 'node:net';
import type { Logger } from '@antlerfs/protocol';
import type { MetaloggerInfo } from './metalogger-feed.ts';

/** Monitor connections at once; the rest are refused by the listener. */
const MONITOR_CONNECTIONS_MAX = 64;
const MONITOR_REQUEST_TIMEOUT_MS = 10_000;
const MONITOR_HEADERS_MAX_BYTES = 16 * 1024;

export interface ChunkserverStatus {
  csId: number;
  host: string;
  port: number;
  state: string;
  totalBytes: number;
  freeBytes: number;
  copies: number;
  reportedChunks: number;
}

export interface MasterStatus {
  version: string;
  clusterId: string;
  /** False until the other masters said none of them is active. */
  active: boolean;
  uptimeS: number;
  metaVersion: number;
  inodes: number;
  files: number;
  dirs: number;
  symlinks: number;
  chunks: number;
  chunksDeleting: number;
  chunkservers: ChunkserverStatus[];
  sessions: number;
  changelog: Record<string, number | string>;
  dump: Record<string, number>;
  deletionQueue: Record<string, number>;
  /** New chunks made ahead (chunk-pool.ts): ready now, and counters. */
  chunkPool: Record<string, number>;
  metaloggers: MetaloggerInfo[];
  sync: { required: number; timeoutMs: number; streaming: number; syncedVersion: number };
  /** The applied-request windows of retrying clients. */
  requests: Record<string, number>;
}

/** This process's memory (the master's): resident set and V8 heap, in bytes. */
export interface ProcessMemory {
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  arrayBuffersBytes: number;
}

export function processMemory(): ProcessMemory {
  const m = process.memoryUsage();
  return {
    rssBytes: m.rss, heapUsedBytes: m.heapUsed, heapTotalBytes: m.heapTotal,
    externalBytes: m.external, arrayBuffersBytes: m.arrayBuffers,
  };
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

function table(rows: [string, string | number][]): string {
  return '<table>' + rows.map(([k, v]) =>
    `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(String(v))}</td></tr>`).join('') + '</table>';
}

function metaloggerRows(s: MasterStatus): string {
  return s.metaloggers.map((m) => `<tr><td>${escapeHtml(m.name)}</td>` +
    `<td>${escapeHtml(m.host)}</td><td>${escapeHtml(m.state)}</td><td>${m.ackedVersion}</td>` +
    `<td>${m.lagVersions}</td><td>${m.lagMs}</td><td>${m.sync ? 'yes' : 'no'}</td></tr>`).join('');
}

export function statusPage(s: MasterStatus, memory: ProcessMemory = processMemory()): string {
  const servers = s.chunkservers.map((cs) => `<tr><td>${cs.csId}</td>` +
    `<td>${escapeHtml(`${cs.host}:${cs.port}`)}</td><td>${escapeHtml(cs.state)}</td>` +
    `<td>${bytes(cs.totalBytes)}</td><td>${bytes(cs.freeBytes)}</td>` +
    `<td>${cs.copies}</td></tr>`).join('');
  const sync = s.sync.required === 0
    ? 'off'
    : `${s.sync.required} metalogger(s), ${s.sync.timeoutMs} ms timeout`;
  return `<!doctype html><html><head><meta charset="utf-8"><title>antlerfs master</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}
th,td{border:1px solid #ccc;padding:2px 8px;text-align:left}</style></head><body>
<h1>antlerfs master ${escapeHtml(s.version)}</h1>
<h2>Metadata</h2>${table([
    ['cluster id', s.clusterId], ['active', s.active ? 'yes' : 'no'],
    ['metadata version', s.metaVersion], ['inodes', s.inodes], ['files', s.files],
    ['directories', s.dirs],
    ['symlinks', s.symlinks], ['chunks', s.chunks], ['chunks being deleted', s.chunksDeleting],
    ['client sessions', s.sessions], ['uptime (s)', s.uptimeS],
  ])}
<h2>Chunkservers</h2><table><tr><th>id</th><th>address</th><th>state</th><th>total</th><th>free</th>
<th>copies</th></tr>${servers}</table>
<h2>Metaloggers</h2><p>synchronous mode: ${escapeHtml(sync)}</p>
<table><tr><th>name</th><th>host</th><th>state</th><th>acked version</th><th>lag (versions)</th>
<th>lag (ms)</th><th>sync</th></tr>${metaloggerRows(s)}</table>
<h2>Memory</h2>${table(Object.entries(memory).map(([k, v]) => [k, bytes(v)]))}
<h2>Changelog</h2>${table(Object.entries(s.changelog))}
<h2>Last dump</h2>${table(Object.entries(s.dump))}
<h2>Deletion queue</h2>${table(Object.entries(s.deletionQueue))}
<h2>Chunks made ahead</h2>${table(Object.entries(s.chunkPool))}
<h2>Retried requests</h2>${table(Object.entries(s.requests))}
<p><a href="/api/status">/api/status</a> (JSON),
<a href="/api/health">/api/health</a> (chunk health, replication, drains)</p></body></html>
`;
}

export class MonitorHttp {
  private server: http.Server | null = null;
  constructor(
    private readonly status: () => MasterStatus, private readonly log: Logger,
    private readonly health: () => Record<string, unknown> = () => ({}),
  ) {}

  listen(host: string, port: number): Promise<number> {
    const server = http.createServer({
      maxHeaderSize: MONITOR_HEADERS_MAX_BYTES, requestTimeout: MONITOR_REQUEST_TIMEOUT_MS,
    }, (req, res) => this.serve(req, res));
    server.maxConnections = MONITOR_CONNECTIONS_MAX;
    server.headersTimeout = MONITOR_REQUEST_TIMEOUT_MS;
    server.on('clientError', (err, socket) => {
      this.log.debug('monitor: bad request', { reason: err.message });
      const tooLarge = (err as NodeJS.ErrnoException).code === 'HPE_HEADER_OVERFLOW';
      const line = tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
      if (socket.writable) socket.end(`HTTP/1.1 ${line}\r\nConnection: close\r\n\r\n`);
      else socket.destroy();
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.removeListener('error', reject);
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    const server = this.server;
    if (server === null) return Promise.resolve();
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.resume(); // a body is never read; drain it
    const send = (code: number, type: string, body: string): void => {
      res.writeHead(code, {
        'content-type': type, 'content-length': Buffer.byteLength(body),
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, 'text/plain; charset=utf-8', 'method not allowed\n');
      return;
    }
    const pathname = (req.url ?? '/').split('?')[0];
    try {
      if (pathname === '/api/status') {
        const status = { ...this.status(), memory: processMemory() };
        send(200, 'application/json', JSON.stringify(status, null, 1) + '\n');
      } else if (pathname === '/api/health') {
        send(200, 'application/json', JSON.stringify(this.health(), null, 1) + '\n');
      } else if (pathname === '/') {
        send(200, 'text/html; charset=utf-8', statusPage(this.status()));
      } else {
        send(404, 'text/plain; charset=utf-8', 'not found\n');
      }
    } catch (err) {
      this.log.error('monitor: status failed', { error: (err as Error).stack });
      if (!res.headersSent) send(500, 'text/plain; charset=utf-8', 'internal error\n');
    }
  }
}
