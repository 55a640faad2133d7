// Which folders hold chunks, and the free space each keeps in reserve. Read once at start from
// HDD_CONF_FILENAME (one folder per line, `#` comments, optional `reserve=SIZE`, like MooseFS
// mfshdd.cfg) and HDD_PATHS; with neither, DATA_PATH/chunks. A folder is listed at most once.
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, parseBytes } from '@antlerfs/protocol';
import type { ChunkserverConfig } from './config.ts';

export interface HddFolder {
  /** Absolute path of the folder that holds the 00..FF subfolders. */
  path: string;
  /** Free space kept; below it the folder takes no new chunks. */
  reserveBytes: number;
}

/** Parses the text of an hdd config file; errors name file:line. */
export function parseHddConfig(
  text: string, file: string, reserveDefaultBytes: number,
): HddFolder[] {
  const folders: HddFolder[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const where = `${file}:${i + 1}`;
    const words = line.split(/\s+/);
    const folderPath = words[0]!;
    if (!path.isAbsolute(folderPath)) {
      throw new ConfigError(`${where}: folder must be an absolute path, got "${folderPath}"`);
    }
    let reserveBytes = reserveDefaultBytes;
    for (const word of words.slice(1)) {
      const m = /^reserve=(.+)$/i.exec(word);
      const bytes = m ? parseBytes(m[1]!) : null;
      if (bytes === null) {
        throw new ConfigError(`${where}: expected "reserve=SIZE" (like reserve=2G), got "${word}"`);
      }
      reserveBytes = bytes;
    }
    folders.push({ path: path.resolve(folderPath), reserveBytes });
  }
  return folders;
}

/** Every chunk folder of this chunkserver (reads HDD_CONF_FILENAME at start-up). */
export function loadHddFolders(config: ChunkserverConfig): HddFolder[] {
  let folders: HddFolder[] = [];
  if (config.hddConfFilename !== '') {
    let text: string;
    try {
      text = fs.readFileSync(config.hddConfFilename, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `cannot read HDD_CONF_FILENAME ${config.hddConfFilename}: ${(err as Error).message}`);
    }
    folders = parseHddConfig(text, config.hddConfFilename, config.hddReserveBytes);
  }
  for (const p of config.hddPaths) {
    folders.push({ path: path.resolve(p), reserveBytes: config.hddReserveBytes });
  }
  if (folders.length === 0) {
    const fallback = path.join(config.dataPath, 'chunks');
    folders.push({ path: fallback, reserveBytes: config.hddReserveBytes });
  }
  const seen = new Set<string>();
  for (const f of folders) {
    if (seen.has(f.path)) throw new ConfigError(`chunk folder ${f.path} is listed twice`);
    seen.add(f.path);
  }
  return folders;
}
