// The S3 gateway daemon: one HTTP listener (S3_LISTEN_PORT) and one library client of the
// master. Each request is authenticated (SigV4 header or presigned query, anonymous only for
// reads of listed buckets), routed, and answered by its handler; every failure becomes an S3
// error document. Connections are bounded (S3_CONNECTIONS_MAX) and idle ones time out; a stop
// stops accepting, lets requests in flight finish for a while, then closes what is left.
import crypto from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { assert, FsError, InodeType, type DaemonModule, type Logger } from '@antlerfs/protocol';
import { Client } from '../index.ts';
import { authenticate, queryPairs } from './auth-sigv4.ts';
import type { S3Config } from './config.ts';
import { loadCredentials } from './credentials.ts';
import { S3Error, toS3Error } from './errors.ts';
import type { GatewayContext } from './gateway-context.ts';
import { KeyLocks } from './key-locks.ts';
import { ObjectLayout } from './object-layout.ts';
import { authorize, routeOf } from './router.ts';
import { addressingOf, S3Request } from './s3-request.ts';

/** In-flight requests get this long to finish at a stop before connections are cut. */
const STOP_DRAIN_MS = 10_000;
/** A request's headers must arrive within this. */
const HEADERS_TIMEOUT_MS = 60_000;
/** Temporary files older than this are leftovers of a gateway that died; removed at start. */
const TMP_STALE_MS = 24 * 3600 * 1000;
/** Temporary files looked at by that sweep at most. */
const TMP_SWEEP_MAX = 100_000;

export class S3Gateway {
  private readonly config: S3Config;
  private readonly log: Logger;
  private client: Client | null = null;
  private server: http.Server | null = null;
  private secrets = new Map<string, string>();
  private anonymousRead = new Set<string>();
  private readonly locks = new KeyLocks();
  private inflight = 0;
  private boundPort = 0;

  constructor(config: S3Config, opts: { log: Logger }) {
    this.config = config;
    this.log = opts.log;
    this.applyAccess(config.credentialsFile, config.anonymousReadBuckets);
  }

  /** Reads the credentials file and the anonymous buckets again (SIGHUP); throws if bad. */
  applyAccess(credentialsFile: string, anonymousReadBuckets: string[]): void {
    this.secrets = loadCredentials(credentialsFile);
    this.anonymousRead = new Set(anonymousReadBuckets);
  }

  get port(): number {
    return this.boundPort;
  }

  modules(): DaemonModule[] {
    return [
      { name: 'client', start: () => this.startClient(), stop: () => this.client?.close() },
      { name: 'http', start: () => this.listen(), stop: () => this.stopHttp() },
    ];
  }

  private async startClient(): Promise<void> {
    this.client = await Client.connect({
      master: this.config.master, name: `antler-s3 pid ${process.pid}`,
      tuning: { writeBehindMaxBytes: this.config.writeBehindMaxBytes },
    });
    const layout = new ObjectLayout(this.config.root);
    for (const dir of [layout.root, layout.tmpRoot(), layout.multipartRoot(), layout.metaRoot()]) {
      await this.client.mkdir(dir, { recursive: true });
    }
    await this.sweepTmp(layout);
  }

  /** Removes temporary files that no live upload can still be writing. */
  private async sweepTmp(layout: ObjectLayout): Promise<void> {
    const client = this.client!;
    const entries = (await client.readdir(layout.tmpRoot())).slice(0, TMP_SWEEP_MAX);
    const before = Date.now() - TMP_STALE_MS;
    let removed = 0;
    for (const e of entries) {
      if (e.attr.type !== InodeType.FILE || e.attr.mtimeMs > before) continue;
      await client.unlink(`${layout.tmpRoot()}/${e.name}`).catch(() => undefined);
      removed++;
    }
    if (removed > 0) this.log.info('removed stale temporary files', { count: removed });
  }

  private context(): GatewayContext {
    assert(this.client !== null, 'the client is connected before the listener starts');
    return {
      client: this.client, layout: new ObjectLayout(this.config.root), config: this.config,
      log: this.log, locks: this.locks,
    };
  }

  private async listen(): Promise<void> {
    const ctx = this.context();
    const server = http.createServer({ requestTimeout: 0, headersTimeout: HEADERS_TIMEOUT_MS });
    server.maxConnections = this.config.connectionsMax;
    server.timeout = this.config.idleTimeoutMs;
    const serve = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void => {
      this.handle(ctx, req, res, expectsContinue).catch((err: unknown) => {
        // handle() answers every failure itself; reaching here is a bug, not peer input.
        this.log.error('request handler failed', { error: (err as Error)?.stack ?? String(err) });
        res.destroy();
      });
    };
    server.on('request', (req, res) => serve(req, res, false));
    server.on('checkContinue', (req, res) => serve(req, res, true));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.listenPort, this.config.listenHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error('listener error', { error: err.message }));
    this.boundPort = (server.address() as AddressInfo).port;
    this.log.info('ready', {
      port: this.boundPort, host: this.config.listenHost, root: this.config.root,
      keys: this.secrets.size,
    });
  }

  private async stopHttp(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const deadline = Date.now() + STOP_DRAIN_MS;
    // Polls until requests in flight end or the drain time is up.
    while (this.inflight > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    server.closeAllConnections();
    await closed;
  }

  private async handle(
    ctx: GatewayContext, req: IncomingMessage, res: ServerResponse, expectsContinue: boolean,
  ): Promise<void> {
    this.inflight++;
    const started = performance.now();
    const id = crypto.randomBytes(8).toString('hex').toUpperCase();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const rawPath = q < 0 ? url : url.slice(0, q);
    const rawQuery = q < 0 ? '' : url.slice(q + 1);
    let r: S3Request | null = null;
    let name = 'unknown';
    try {
      if (!rawPath.startsWith('/')) throw new S3Error('InvalidURI');
      const auth = authenticate({
        method: req.method ?? 'GET', rawPath, rawQuery, headers: req.headersDistinct,
      }, { region: this.config.region, secretOf: (k) => this.secrets.get(k), nowMs: Date.now() });
      r = this.requestOf(req, res, id, rawPath, rawQuery, expectsContinue);
      r.auth = auth;
      const operation = routeOf(r);
      name = operation.name;
      authorize(operation, r, this.anonymousRead);
      await operation.run(ctx, r);
    } catch (err) {
      this.fail(err, req, res, r, { id, rawPath, rawQuery, expectsContinue, name });
    } finally {
      this.inflight--;
      this.log.debug('request', {
        id, op: name, method: req.method, path: rawPath, status: res.statusCode,
        ms: Math.round(performance.now() - started),
      });
    }
  }

  private requestOf(
    req: IncomingMessage, res: ServerResponse, id: string, rawPath: string, rawQuery: string,
    expectsContinue: boolean,
  ): S3Request {
    const addressing = rawPath.startsWith('/')
      ? addressingOf(req.headers.host ?? '', rawPath, this.config.domain)
      : { bucket: null, key: null };
    const query = queryPairs(rawQuery);
    return new S3Request({ id, req, res, addressing, query, expectsContinue });
  }

  private fail(
    err: unknown, req: IncomingMessage, res: ServerResponse, known: S3Request | null,
    at: { id: string; rawPath: string; rawQuery: string; expectsContinue: boolean; name: string },
  ): void {
    const e = toS3Error(err);
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    const gone = code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' ||
      (err as Error | undefined)?.message === 'aborted';
    if (gone) {
      this.log.debug('client went away', { id: at.id, op: at.name });
    } else if (e.httpStatus >= 500) {
      const detail = err instanceof FsError || err instanceof S3Error ? e.message
        : (err as Error)?.stack ?? String(err);
      this.log.warn('request failed', { id: at.id, op: at.name, code: e.code, error: detail });
    }
    if (res.writableEnded || res.destroyed) return;
    let r = known;
    if (r === null) {
      try {
        r = this.requestOf(req, res, at.id, at.rawPath, at.rawQuery, at.expectsContinue);
      } catch {
        r = this.requestOf(req, res, at.id, '/', '', at.expectsContinue);
      }
    }
    r.sendError(e);
  }
}
