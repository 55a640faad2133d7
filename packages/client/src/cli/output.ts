// How the CLI shows things: file types and modes as ls does, sizes in binary units, times in
// ISO form, and errors as "antler: ENOENT: No such file or directory: /a/b".
import { FsError, InodeType, type Attr } from '../index.ts';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

export function typeName(type: number): string {
  switch (type) {
    case InodeType.FILE: return 'file';
    case InodeType.DIR: return 'directory';
    case InodeType.SYMLINK: return 'symlink';
    default: return `type ${type}`;
  }
}

/** "drwxr-xr-x" from the inode type and the permission bits (setuid/setgid/sticky too). */
export function formatMode(type: number, mode: number): string {
  const typeChar = type === InodeType.DIR ? 'd' : type === InodeType.SYMLINK ? 'l' : '-';
  const bits = ['r', 'w', 'x'];
  let out = typeChar;
  for (let i = 8; i >= 0; i--) out += mode & (1 << i) ? bits[(8 - i) % 3] : '-';
  const chars = out.split('');
  if (mode & 0o4000) chars[3] = chars[3] === 'x' ? 's' : 'S';
  if (mode & 0o2000) chars[6] = chars[6] === 'x' ? 's' : 'S';
  if (mode & 0o1000) chars[9] = chars[9] === 'x' ? 't' : 'T';
  return chars.join('');
}

export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
}

export function attrJson(attr: Attr): Record<string, unknown> {
  return { ...attr, typeName: typeName(attr.type), modeOctal: octal(attr.mode) };
}

export function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

/** The one line the CLI prints for a failure. */
export function errorLine(err: unknown): string {
  if (err instanceof FsError) return `antler: ${err.message}`;
  if (err instanceof Error) return `antler: ${err.message}`;
  return `antler: ${String(err)}`;
}
