// Every limit of the client library in one place, with its unit and why it has its value.
// Client.connect({ tuning }) may override any of them (tests use small backoffs and windows).
import { BLOCK_SIZE_BYTES, FsError, READ_SIZE_MAX_BYTES, assert } from '@antlerfs/protocol';

assert(READ_SIZE_MAX_BYTES % BLOCK_SIZE_BYTES === 0, 'read requests are whole blocks');

export interface Tuning {
  /** Master: rounds over the address list at Client.connect before it fails (~0.5 s). */
  masterConnectFirstRoundsMax: number;
  /**
   * Rounds over the address list in one reconnect at most. The time bound below usually ends a
   * reconnect first; this only caps the rounds when the backoff is tiny.
   */
  masterConnectRoundsMax: number;
  /**
   * How long the session keeps trying the masters after its link dropped before the requests
   * waiting for it fail with ENOTCONN: long enough for a master restart or a failover.
   */
  masterReconnectMs: number;
  /**
   * Request ids between the oldest unanswered master request and the next one, at most. Must
   * not exceed the master's applied-request window per client (256) nor its in-flight limit
   * per session (SESSION_REQUESTS_INFLIGHT_MAX, 256), or a retried change could be applied twice.
   */
  masterRequestSpanMax: number;
  connectTimeoutMs: number;
  /** A metadata request or a block request that takes longer fails with ETIMEDOUT. */
  requestTimeoutMs: number;
  /** Retry waits double from min to max. */
  backoffMsMin: number;
  backoffMsMax: number;
  /** Sockets per chunkserver: parallel reads and chunk writes to one server. */
  connectionsPerServerMax: number;
  /** Chunkservers with open sockets before idle ones are closed. */
  serversMax: number;
  /** Requests in flight on one chunkserver socket. */
  inflightPerConnectionMax: number;
  /**
   * Blocks in flight on one write chain: 64 x 64 KiB = 4 MiB keeps a loopback chain busy, and
   * matches what a chunkserver takes per connection (WRITES_INFLIGHT_MAX, 64): more would only
   * wait in its socket, fewer leave it smaller batches of disk writes.
   */
  writeWindowBlocks: number;
  /** Chunks of one handle written at the same time (each holds its write lease). */
  chunkWritersMax: number;
  /** Bytes a handle has sent and not yet seen acknowledged before write() waits. */
  writeBehindMaxBytes: number;
  /** Write-back buffer that gathers small writes into whole blocks. */
  stagingBytes: number;
  /** Writes this large are sent from the caller's buffer; smaller ones are staged (copied). */
  directWriteMinBytes: number;
  /**
   * Fresh chains asked for in a row without progress before a chunk write fails: with the
   * backoff about 9 s, so the master has noticed a chunkserver that stopped answering.
   */
  writeChainRetriesMax: number;
  /**
   * CLTOMA_WRITE_CHUNK attempts on retryable statuses (CHUNK_BUSY, NO_CHUNKSERVERS, CHUNK_LOST):
   * with the backoff about 11 s, so a restarted master has its chunkservers back.
   */
  writeOpenAttemptsMax: number;
  /** Chunks located per CLTOMA_READ_CHUNKS. */
  locateBatchChunks: number;
  /** CLTOCS_READ requests in flight for one read call or one read stream. */
  readsInflightMax: number;
  /** Locations fetched again after every copy of a chunk failed. */
  locateRetriesMax: number;
  /** Readahead segments (of READ_SIZE_MAX_BYTES) kept for sequential handle reads. */
  readAheadSegments: number;
  /** Chunks written and not yet fsynced that a handle remembers before it fsyncs them. */
  unsyncedChunksMax: number;
}

export const DEFAULT_TUNING: Readonly<Tuning> = {
  masterConnectFirstRoundsMax: 3,
  masterConnectRoundsMax: 1_000,
  masterReconnectMs: 30_000,
  masterRequestSpanMax: 256,
  connectTimeoutMs: 5_000,
  requestTimeoutMs: 60_000,
  backoffMsMin: 100,
  backoffMsMax: 2_000,
  connectionsPerServerMax: 4,
  serversMax: 1024,
  inflightPerConnectionMax: 256,
  writeWindowBlocks: 64,
  chunkWritersMax: 4,
  writeBehindMaxBytes: 64 * 1024 * 1024,
  stagingBytes: 1024 * 1024,
  directWriteMinBytes: 1024 * 1024,
  writeChainRetriesMax: 8,
  writeOpenAttemptsMax: 10,
  locateBatchChunks: 16,
  readsInflightMax: 8,
  locateRetriesMax: 3,
  readAheadSegments: 8,
  unsyncedChunksMax: 1024,
};

/** The defaults with `overrides` applied; a bad option is EINVAL naming it. */
export function resolveTuning(overrides: Partial<Tuning> | undefined): Tuning {
  const t: Tuning = { ...DEFAULT_TUNING, ...overrides };
  const check = (ok: boolean, what: string): void => {
    if (!ok) throw new FsError('EINVAL', `option tuning.${what}`);
  };
  for (const [key, value] of Object.entries(t)) {
    const ok = Number.isSafeInteger(value) && value >= 0;
    check(ok, `${key} must be an integer >= 0, got ${value}`);
  }
  check(t.stagingBytes >= BLOCK_SIZE_BYTES && t.stagingBytes % BLOCK_SIZE_BYTES === 0,
    'stagingBytes must be whole blocks of 64 KiB');
  check(t.writeBehindMaxBytes >= t.stagingBytes, 'writeBehindMaxBytes must be >= stagingBytes');
  const positive = [
    'locateBatchChunks', 'readsInflightMax', 'writeWindowBlocks', 'chunkWritersMax',
    'masterConnectRoundsMax', 'masterConnectFirstRoundsMax', 'connectionsPerServerMax',
    'readAheadSegments', 'serversMax', 'masterRequestSpanMax',
    'inflightPerConnectionMax', 'writeOpenAttemptsMax',
  ] as const;
  for (const key of positive) {
    check(t[key] >= 1, `${key} must be >= 1`);
  }
  return t;
}
