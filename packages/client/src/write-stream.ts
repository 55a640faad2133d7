// A Writable into a file, written in place at increasing positions through a FileHandle.
// Chunks buffered by the stream are written together (_writev), so many blocks are in flight;
// a chunk's callback fires once the handle no longer needs its buffer.
import { Writable } from 'node:stream';
import type { FileHandle, OpenFlags } from './file-handle.ts';
import { FsError } from './errors.ts';

export interface WriteStreamOptions {
  /** How the file is opened (default 'w': create and truncate). */
  flags?: Exclude<OpenFlags, 'r'>;
  mode?: number;
  goal?: number;
  highWaterMark?: number;
}

/** Bytes the stream buffers before write() returns false (backpressure). */
const WRITE_STREAM_HIGH_WATER_BYTES = 8 * 1024 * 1024;

type Callback = (error?: Error | null) => void;

export class WriteStream extends Writable {
  private readonly openHandle: () => Promise<FileHandle>;
  private handle: FileHandle | null = null;
  bytesWritten = 0;

  constructor(open: () => Promise<FileHandle>, opts: WriteStreamOptions) {
    const highWaterMark = opts.highWaterMark ?? WRITE_STREAM_HIGH_WATER_BYTES;
    super({ highWaterMark, decodeStrings: true });
    this.openHandle = open;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    this.openHandle().then((handle) => {
      this.handle = handle;
      callback();
    }, (err: unknown) => callback(err as Error));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: Callback): void {
    this.writeAll([chunk]).then(() => callback(), (err: unknown) => callback(err as Error));
  }

  override _writev(chunks: { chunk: Buffer }[], callback: Callback): void {
    const buffers = chunks.map((c) => c.chunk);
    this.writeAll(buffers).then(() => callback(), (err: unknown) => callback(err as Error));
  }

  override _final(callback: (error?: Error | null) => void): void {
    const handle = this.handle;
    this.handle = null;
    if (handle === null) {
      callback();
      return;
    }
    handle.close().then(() => callback(), (err: unknown) => callback(err as Error));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const handle = this.handle;
    this.handle = null;
    if (handle === null) {
      callback(error);
      return;
    }
    const done = (err?: unknown): void => callback(error ?? (err as Error | undefined) ?? null);
    if (error === null) {
      handle.close().then(() => done(), done);
      return;
    }
    const reason = error instanceof FsError ? error : new FsError('EIO', error.message);
    handle.abort(reason).then(() => done(), done);
  }

  private async writeAll(chunks: Buffer[]): Promise<void> {
    const handle = this.handle;
    if (handle === null) throw new FsError('EBADF', 'write stream is closed');
    // Started in order (positions are taken at call time), awaited together.
    await Promise.all(chunks.map((c) => handle.write(c)));
    for (const c of chunks) this.bytesWritten += c.length;
  }
}
