// One chunk folder ("disk"): its 00..FF subfolders, its space (statfs) less the reserve kept
// free, the listing of its chunk files at start, and its health. It knows names, not chunk
// contents: the chunk store reads headers and keeps the map of chunks. Every I/O the store does
// on a folder runs through io(), which counts device errors (EIO and the like, not a missing chunk
// file or a full disk; but the folder's own root or subfolders missing, as when a disk is
// unmounted or the folder removed, count); past HDD_IO_ERRORS_MAX the folder is damaged: it
// takes no new chunks and the store gives up the chunks on it. A test hook injects errors.
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  FsError, assert, statusFromSystemError, type Logger, type StatusName,
} from '@antlerfs/protocol';
import { chunkSubfolder, fsCall, parseChunkFileName, tempChunkFileTarget } from './chunk-file.ts';
import type { HddFolder } from './hdd-config.ts';
import { SPARE_FILES_MAX, SpareFiles } from './spare-files.ts';

/** 00..FF: the id's low byte picks the subfolder, so none grows past 1/256 of the chunks. */
export const SUBFOLDER_COUNT = 256;

export interface FoundChunkFile {
  chunkId: number;
  version: number;
  path: string;
}

/**
 * Statuses that say the device failed. A missing file (ENOENT), a full disk (ENOSPC) and our own
 * refusals (checksum, version) say nothing about the device and are not counted.
 */
const DEVICE_ERRORS: ReadonlySet<StatusName> = new Set(['EIO', 'EACCES', 'EPERM']);

export function isDeviceError(err: unknown): boolean {
  return err instanceof FsError && DEVICE_ERRORS.has(err.code);
}

export class Disk {
  readonly path: string;
  readonly reserveBytes: number;
  totalBytes = 0;
  /** Free bytes an unprivileged writer can use (statfs bavail). */
  availBytes = 0;
  chunkCount = 0;
  /** When totalBytes and availBytes were last measured (0: never). */
  spaceMeasuredAtMs = 0;
  /** Device errors seen on this folder since start. */
  ioErrors = 0;
  /** Too many device errors: no new chunks, its chunks are given up. Never cleared while up. */
  damaged = false;
  /** Called once, when the folder becomes damaged. */
  onDamaged: (disk: Disk, lastError: string) => void = () => undefined;
  /** Emptied files of deleted chunks, for new chunks. */
  readonly spares: SpareFiles;
  private readonly ioErrorsMax: number;
  private injectedFault: string | null = null;

  constructor(folder: HddFolder, ioErrorsMax: number, spareFilesMax = SPARE_FILES_MAX) {
    assert(path.isAbsolute(folder.path), `chunk folder ${folder.path} is absolute`);
    assert(folder.reserveBytes >= 0, 'reserve is not negative');
    assert(Number.isInteger(ioErrorsMax) && ioErrorsMax >= 1, `HDD_IO_ERRORS_MAX ${ioErrorsMax}`);
    this.path = folder.path;
    this.reserveBytes = folder.reserveBytes;
    this.ioErrorsMax = ioErrorsMax;
    this.spares = new SpareFiles(this.path, spareFilesMax);
  }

  /** Free space above the reserve: what new chunks may use (0 when below the reserve). */
  get usableBytes(): number {
    return this.damaged ? 0 : Math.max(0, this.availBytes - this.reserveBytes);
  }

  /**
   * Test hook: from now on every io() on this folder fails with the errno `code` (as a failing
   * device would), or works again with null. Not reachable from config or the wire.
   */
  injectFault(code: string | null): void {
    this.injectedFault = code;
  }

  /**
   * Runs I/O on this folder; a device error is counted (and may damage the folder). `structural`
   * I/O needs the folder's own paths (its root, a subfolder), so ENOENT counts there as well.
   */
  async io<T>(call: () => Promise<T>, structural = false): Promise<T> {
    try {
      if (this.injectedFault !== null) {
        const code = this.injectedFault;
        const status = statusFromSystemError({ code });
        throw new FsError(status, `${this.path}: injected ${code}`);
      }
      return await call();
    } catch (err) {
      const missing = err instanceof FsError && err.code === 'ENOENT';
      if (isDeviceError(err) || (structural && missing)) {
        this.noteDeviceError((err as Error).message);
      }
      throw err;
    }
  }

  /** Counts a device error; the one that reaches the limit marks the folder damaged. */
  noteDeviceError(message: string): void {
    this.ioErrors++;
    if (this.ioErrors >= this.ioErrorsMax) this.markDamaged(message);
  }

  /** Takes the folder out of service (once): no new chunks, its chunks given up. */
  markDamaged(reason: string): void {
    if (this.damaged) return;
    this.damaged = true;
    this.onDamaged(this, reason);
  }

  /** Creates the folder and its 256 subfolders if missing; takes in the spare files there. */
  async prepare(): Promise<void> {
    await fsCall('mkdir', this.path, () => fs.mkdir(this.path, { recursive: true }));
    const made: Promise<unknown>[] = [];
    for (let i = 0; i < SUBFOLDER_COUNT; i++) {
      const sub = path.join(this.path, i.toString(16).toUpperCase().padStart(2, '0'));
      made.push(fsCall('mkdir', sub, () => fs.mkdir(sub, { recursive: true })));
    }
    await Promise.all(made);
    await this.io(() => this.spares.load(), true);
    await this.refreshSpace();
  }

  async refreshSpace(): Promise<void> {
    if (this.damaged) return;
    const st = await this.io(() => fsCall('statfs', this.path, () => fs.statfs(this.path)), true);
    this.totalBytes = st.blocks * st.bsize;
    this.availBytes = st.bavail * st.bsize;
    this.spaceMeasuredAtMs = Date.now();
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
        if (tempChunkFileTarget(name) !== null) {
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
