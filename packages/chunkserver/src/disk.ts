// One chunk folder ("disk"): its 00..FF subfolders, its space (statfs) less the reserve kept
// free, and the listing of its chunk files at start. It knows names, not chunk contents: the
// chunk store reads headers and keeps the map of chunks.
import fs from 'node:fs/promises';
import path from 'node:path';
import { assert, type Logger } from '@antlerfs/protocol';
import { TEMP_SUFFIX, chunkSubfolder, fsCall, parseChunkFileName } from './chunk-file.ts';
import type { HddFolder } from './hdd-config.ts';

/** 00..FF: the id's low byte picks the subfolder, so none grows past 1/256 of the chunks. */
export const SUBFOLDER_COUNT = 256;

export interface FoundChunkFile {
  chunkId: number;
  version: number;
  path: string;
}

export class Disk {
  readonly path: string;
  readonly reserveBytes: number;
  totalBytes = 0;
  /** Free bytes an unprivileged writer can use (statfs bavail). */
  availBytes = 0;
  chunkCount = 0;

  constructor(folder: HddFolder) {
    assert(path.isAbsolute(folder.path), `chunk folder ${folder.path} is absolute`);
    assert(folder.reserveBytes >= 0, 'reserve is not negative');
    this.path = folder.path;
    this.reserveBytes = folder.reserveBytes;
  }

  /** Free space above the reserve: what new chunks may use (0 when below the reserve). */
  get usableBytes(): number {
    return Math.max(0, this.availBytes - this.reserveBytes);
  }

  /** Creates the folder and its 256 subfolders if missing. */
  async prepare(): Promise<void> {
    await fsCall('mkdir', this.path, () => fs.mkdir(this.path, { recursive: true }));
    const made: Promise<unknown>[] = [];
    for (let i = 0; i < SUBFOLDER_COUNT; i++) {
      const sub = path.join(this.path, i.toString(16).toUpperCase().padStart(2, '0'));
      made.push(fsCall('mkdir', sub, () => fs.mkdir(sub, { recursive: true })));
    }
    await Promise.all(made);
    await this.refreshSpace();
  }

  async refreshSpace(): Promise<void> {
    const st = await fsCall('statfs', this.path, () => fs.statfs(this.path));
    this.totalBytes = st.blocks * st.bsize;
    this.availBytes = st.bavail * st.bsize;
  }

  /**
   * Lists the chunk files of every subfolder. Half-created chunks (temporary names left by a
   * crash) are removed; other unknown names are logged and left alone.
   */
  async listChunkFiles(log: Logger): Promise<FoundChunkFile[]> {
    const found: FoundChunkFile[] = [];
    for (let i = 0; i < SUBFOLDER_COUNT; i++) {
      const sub = path.join(this.path, i.toString(16).toUpperCase().padStart(2, '0'));
      const names = await fsCall('readdir', sub, () => fs.readdir(sub));
      for (const name of names) {
        const filePath = path.join(sub, name);
        if (name.endsWith(TEMP_SUFFIX) && parseChunkFileName(name.slice(0, -TEMP_SUFFIX.length))) {
          log.warn('removing half-created chunk', { path: filePath });
          await fsCall('unlink', filePath, () => fs.unlink(filePath));
          continue;
        }
        const parsed = parseChunkFileName(name);
        if (parsed === null || chunkSubfolder(parsed.chunkId) !== path.basename(sub)) {
          log.warn('ignoring unknown or misplaced file in chunk folder', { path: filePath });
          continue;
        }
        found.push({ ...parsed, path: filePath });
      }
    }
    return found;
  }
}
