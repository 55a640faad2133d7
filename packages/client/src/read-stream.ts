// A Readable over a file: aligned read requests of up to READ_SIZE_MAX_BYTES, `inflightMax` of
// them in flight ahead of the consumer, pushed in order as the views the chunk reader returns
// (no copy). The range is [start, end] inclusive as in node:fs, trimmed to the file length.
import { Readable } from 'node:stream';
import { READ_SIZE_MAX_BYTES } from '@antlerfs/protocol';
import { FileHandle } from './file-handle.ts';
import { FsError } from './errors.ts';

export interface ReadStreamOptions {
  start?: number;
  /** Last byte to read (inclusive). */
  end?: number;
  highWaterMark?: number;
}

/** What a stream reads: a handle (its length is asked for), or one with its length known. */
export type ReadStreamSource = FileHandle | { handle: FileHandle; lengthBytes: number };

export class ReadStream extends Readable {
  private readonly openHandle: () => Promise<ReadStreamSource>;
  private readonly inflightMax: number;
  private handle: FileHandle | null = null;
  private nextPosition: number;
  private endExclusive = 0;
  private readonly window: Promise<Buffer>[] = [];
  private readonly endInclusive: number;
  bytesRead = 0;

  constructor(
    open: () => Promise<ReadStreamSource>, opts: ReadStreamOptions, inflightMax: number,
  ) {
    super({ highWaterMark: opts.highWaterMark ?? 4 * READ_SIZE_MAX_BYTES });
    const start = opts.start ?? 0;
    const end = opts.end ?? Number.MAX_SAFE_INTEGER - 1;
    if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(end) || end < -1) {
      throw new FsError('EINVAL', `read stream range ${start}..${end}`);
    }
    this.openHandle = open;
    this.inflightMax = inflightMax;
    this.nextPosition = start;
    this.endInclusive = end;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    this.openHandle().then(async (source) => {
      const known = source instanceof FileHandle ? null : source;
      this.handle = known?.handle ?? (source as FileHandle);
      // A length that came with the open spares a GETATTR round trip.
      const lengthBytes = known?.lengthBytes ?? (await this.handle.stat()).length;
      this.endExclusive = Math.min(lengthBytes, this.endInclusive + 1);
    }).then(() => callback(), (err: unknown) => callback(err as Error));
  }

  override _read(): void {
    this.fill();
    const head = this.window.shift();
    if (head === undefined) {
      this.push(null);
      return;
    }
    head.then((data) => {
      this.bytesRead += data.length;
      this.push(data);
    }, (err: unknown) => this.destroy(err as Error));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Requests still in flight settle into the void; their failures are not this stream's.
    for (const p of this.window) p.catch(() => undefined);
    this.window.length = 0;
    const handle = this.handle;
    this.handle = null;
    if (handle === null) {
      callback(error);
      return;
    }
    handle.close().then(() => callback(error), (err: unknown) => callback(error ?? (err as Error)));
  }

  private fill(): void {
    const handle = this.handle!;
    while (this.window.length < this.inflightMax && this.nextPosition < this.endExclusive) {
      const position = this.nextPosition;
      const toBoundary = READ_SIZE_MAX_BYTES - (position % READ_SIZE_MAX_BYTES);
      const size = Math.min(this.endExclusive - position, toBoundary);
      this.nextPosition += size;
      const request = handle.readRequest(position, size);
      // Awaited in order by _read; this only keeps a failure from counting as unhandled early.
      request.catch(() => undefined);
      this.window.push(request.then((data) => data.subarray(0, size)));
    }
  }
}
