// Emptied files of deleted chunks, kept to become new chunks. On ext4 without a journal, a new
// file's inode is searched past every inode freed in the last minute (six while the inode's
// table block is dirty), each a buffer-cache lookup: after many chunks were deleted, making a
// chunk file cost more CPU than writing its data. A chunk deleted here is instead cut to nothing
// and renamed into its folder's `spare` subfolder, and a new chunk renames a spare into place:
// no inode is freed or searched for. At most `max` spares per folder (an inode and a name
// each); past that a deleted chunk's file is unlinked. The chunk scan reads only the 00..FF
// subfolders, so spares are never taken for chunks; those found at start are cut again (a
// crash may fall between the cut and the rename) and kept, but one with a second name is not a
// spare (a power cut on a file system without a journal can leave both names of a rename, and
// fsck counts the links): only its name in the spare folder is removed. The spare folder is
// fsynced with the first fsync of a chunk made from a spare (syncTaken), so the old name of an
// fsynced chunk does not come back.
import fs from 'node:fs/promises';
import path from 'node:path';
import { assert } from '@antlerfs/protocol';
import { fsCall, syncFolder } from './chunk-file.ts';

/** Spares kept per chunk folder at most (HDD_SPARE_FILES_MAX). */
export const SPARE_FILES_MAX = 4096;
export const SPARE_FOLDER = 'spare';
const SPARE_NAME = /^[0-9]+$/;

export class SpareFiles {
  readonly folder: string;
  /** Spares ready to take, by path. */
  private readonly ready: string[] = [];
  /** Files being cut and renamed in: they count toward `max` already. */
  private arriving = 0;
  private nextName = 1;
  /** A spare was taken since the folder's last fsync began. */
  private takenUnsynced = false;
  /** The last fsync of the folder (every caller waits for the one covering its take). */
  private lastSync: Promise<void> = Promise.resolve();
  /** Files made spare and spares taken since start. */
  kept = 0;
  taken = 0;

  constructor(chunkFolder: string, readonly max = SPARE_FILES_MAX) {
    assert(Number.isInteger(max) && max >= 0, `spare files max ${max}`);
    this.folder = path.join(chunkFolder, SPARE_FOLDER);
  }

  get count(): number {
    return this.ready.length;
  }

  /** Makes the folder and takes in the spares already there (cut to nothing); extras removed. */
  async load(): Promise<void> {
    await fsCall('mkdir', this.folder, () => fs.mkdir(this.folder, { recursive: true }));
    const names = await fsCall('readdir', this.folder, () => fs.readdir(this.folder));
    for (const name of names) {
      const filePath = path.join(this.folder, name);
      if (SPARE_NAME.test(name)) this.nextName = Math.max(this.nextName, Number(name) + 1);
      const st = await fsCall('stat', filePath, () => fs.lstat(filePath));
      const spare = SPARE_NAME.test(name) && st.isFile() && st.nlink === 1;
      if (!spare || this.ready.length >= this.max) {
        // Only this name goes: a second name of the same file (nlink > 1) keeps its bytes.
        await fsCall('unlink', filePath, () => fs.rm(filePath, { force: true, recursive: true }));
        continue;
      }
      await fsCall('truncate', filePath, () => fs.truncate(filePath, 0));
      this.ready.push(filePath);
    }
  }

  /** A spare's path to rename into place, or null when none is left. */
  take(): string | null {
    const spare = this.ready.pop() ?? null;
    if (spare !== null) {
      this.taken++;
      this.takenUnsynced = true;
    }
    return spare;
  }

  /** fsync of the spare folder if a spare was taken since the last one began. */
  async syncTaken(): Promise<void> {
    if (this.takenUnsynced) {
      this.takenUnsynced = false;
      this.lastSync = syncFolder(this.folder).catch((err: unknown) => {
        this.takenUnsynced = true;
        throw err;
      });
    }
    await this.lastSync;
  }

  /**
   * Cuts `filePath` to nothing and renames it in as a spare. False when the spares are full (the
   * file untouched) or the rename failed (the file cut, in place); ENOENT when the file is gone.
   */
  async keep(filePath: string): Promise<boolean> {
    if (this.ready.length + this.arriving >= this.max) return false;
    this.arriving++;
    try {
      await fsCall('truncate', filePath, () => fs.truncate(filePath, 0));
      const sparePath = path.join(this.folder, String(this.nextName++));
      const moved = await fs.rename(filePath, sparePath).then(() => true, () => false);
      if (!moved) return false;
      this.ready.push(sparePath);
      this.kept++;
      return true;
    } finally {
      this.arriving--;
    }
  }
}

/** Renames a spare (if any) to `filePath`, which then exists empty or not at all. */
export async function takeSpareAs(spares: SpareFiles, filePath: string): Promise<void> {
  const spare = spares.take();
  if (spare === null) return;
  // A spare that cannot be moved is dropped: the caller creates the file as usual.
  await fs.rename(spare, filePath).catch(() => undefined);
}
