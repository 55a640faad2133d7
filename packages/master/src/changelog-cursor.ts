// Reads changelog records back from the files, from a version on, exactly as they lie on disk:
// the metalogger stream sends them unchanged. Only records the writer has made durable are
// asked for, so every one is whole (zeros written ahead of them end a file's records, as its
// end does); a file removed meanwhile (pruned after a dump) or a record that fails its
// checksum ends the cursor with a reason, never the process.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { assert } from '@antlerfs/protocol';
import {
  CHANGELOG_HEADER_BYTES, CHANGELOG_MAGIC, RECORD_MAX_BYTES, listChangelogFiles, peekRecord,
} from './changelog.ts';

/** Bytes read from a file at once (many records; at least one whole record). */
const CURSOR_READ_BYTES = 1024 * 1024;
/** File reads one read() call makes at most (skipping to the start may cross a whole file). */
const CURSOR_ROUNDS_MAX = 1_000_000;

export interface CursorBatch {
  firstVersion: number;
  count: number;
  /** The records' bytes, views into read buffers. */
  buffers: Buffer[];
  bytes: number;
}

/** The records are gone (or damaged): the reader must start over from a dump. */
export interface CursorGone {
  gone: string;
}

export class ChangelogCursor {
  private readonly dir: string;
  private fh: fsp.FileHandle | null = null;
  private file = '';
  private positionBytes = 0;
  /** The file read to its end last: the next record must be in a newer one. */
  private finishedFile = '';
  /** The next version to return. */
  next: number;

  constructor(dir: string, fromVersion: number) {
    assert(Number.isSafeInteger(fromVersion) && fromVersion >= 1, `cursor from ${fromVersion}`);
    this.dir = dir;
    this.next = fromVersion;
  }

  /** Records from `next` up to `lastVersion` (all durable), about `maxBytes` at most. */
  async read(lastVersion: number, maxBytes: number): Promise<CursorBatch | CursorGone> {
    assert(this.next <= lastVersion, `cursor at ${this.next} reads up to ${lastVersion}`);
    const batch: CursorBatch = { firstVersion: this.next, count: 0, buffers: [], bytes: 0 };
    for (let round = 0; round < CURSOR_ROUNDS_MAX; round++) {
      if (this.next > lastVersion || batch.bytes >= maxBytes) break;
      if (this.fh === null) {
        const gone = await this.openFileFor(this.next);
        if (gone !== null) return { gone };
      }
      const gone = await this.readRound(lastVersion, maxBytes, batch);
      if (gone !== null) return { gone };
    }
    return batch;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    if (fh !== null) await fh.close();
  }

  /** One read from the open file; records before `next` are skipped. */
  private async readRound(
    lastVersion: number, maxBytes: number, batch: CursorBatch,
  ): Promise<string | null> {
    assert(this.fh !== null, 'a file is open');
    const buf = Buffer.allocUnsafe(CURSOR_READ_BYTES);
    const { bytesRead } = await this.fh.read(buf, 0, buf.length, this.positionBytes);
    const data = buf.subarray(0, bytesRead);
    let o = 0;
    let zeros = false;
    while (this.next <= lastVersion && batch.bytes < maxBytes) {
      const rec = peekRecord(data, o);
      if (!rec.ok) {
        if (rec.incomplete) break;
        // Zeros the writer put ahead of its records: the end of this file's records so far.
        zeros = data.readUInt32BE(o) === 0;
        if (zeros) break;
        return `${this.file}: offset ${this.positionBytes + o}: ${rec.reason}`;
      }
      if (rec.version > this.next) {
        return `${this.file}: version ${rec.version} where ${this.next} was expected`;
      }
      if (rec.version === this.next) {
        batch.buffers.push(data.subarray(o, o + rec.bytes));
        batch.bytes += rec.bytes;
        batch.count++;
        this.next++;
      }
      o += rec.bytes;
    }
    this.positionBytes += o;
    if (o === 0 && (bytesRead < buf.length || zeros)) {
      // Nothing whole is left in this file: the records that follow are in the next one.
      this.finishedFile = this.file;
      await this.close();
    }
    return null;
  }

  /** Opens the file holding `version` (the newest whose first version is not above it). */
  private async openFileFor(version: number): Promise<string | null> {
    const files = listChangelogFiles(this.dir).filter((f) => f.firstVersion <= version);
    const found = files[files.length - 1];
    if (found === undefined) return `no changelog file holds version ${version} any more`;
    if (path.basename(found.path) === this.finishedFile) {
      return `version ${version} is in no changelog file (${this.finishedFile} ends before it)`;
    }
    const fh = await fsp.open(found.path, 'r');
    const header = Buffer.alloc(CHANGELOG_HEADER_BYTES);
    const { bytesRead } = await fh.read(header, 0, header.length, 0);
    const firstVersion = header.readUInt32BE(8) * 0x100000000 + header.readUInt32BE(12);
    if (bytesRead < header.length || !header.subarray(0, 8).equals(CHANGELOG_MAGIC) ||
      firstVersion !== found.firstVersion) {
      await fh.close();
      return `${found.path}: bad changelog header`;
    }
    this.fh = fh;
    this.file = path.basename(found.path);
    this.positionBytes = CHANGELOG_HEADER_BYTES;
    return null;
  }
}

assert(CURSOR_READ_BYTES >= 2 * RECORD_MAX_BYTES, 'a read holds at least one whole record');
