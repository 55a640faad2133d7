// Path handling of the client: normalising user paths to absolute ones, splitting a path into
// its parent and last name, and resolving a symlink target against the link's directory.
// Pure functions; no I/O. A normalised path starts with "/" and has no ".", ".." or "//".
import { FsError, NAME_MAX_BYTES, PATH_MAX_BYTES } from '@antlerfs/protocol';

/** Components of a path: relative paths count from the root; "." and ".." are applied. */
export function pathComponents(path: string): string[] {
  if (path.includes('\0')) {
    throw new FsError('EINVAL', `path contains NUL: ${JSON.stringify(path)}`);
  }
  if (Buffer.byteLength(path) > PATH_MAX_BYTES) {
    throw new FsError('ENAMETOOLONG', `path longer than ${PATH_MAX_BYTES} bytes`);
  }
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      out.pop(); // ".." of the root is the root, as in POSIX
      continue;
    }
    if (Buffer.byteLength(part) > NAME_MAX_BYTES) {
      const context = `${part.slice(0, 32)}...: name longer than ${NAME_MAX_BYTES} bytes`;
      throw new FsError('ENAMETOOLONG', context);
    }
    out.push(part);
  }
  return out;
}

export function normalizePath(path: string): string {
  return '/' + pathComponents(path).join('/');
}

export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

export interface ParentAndName {
  /** Normalised path of the directory that holds the entry. */
  parentPath: string;
  name: string;
  /** Normalised path of the entry itself. */
  path: string;
}

/** Splits a path into its directory and last name; the root has neither (EINVAL). */
export function splitParent(path: string, operation: string): ParentAndName {
  const parts = pathComponents(path);
  const name = parts.pop();
  if (name === undefined) throw new FsError('EINVAL', `${operation} of the root directory`);
  const parentPath = '/' + parts.join('/');
  return { parentPath, name, path: joinPath(parentPath, name) };
}

/** Path a symlink at `linkPath` points to: absolute targets count from the file system root. */
export function resolveSymlinkTarget(linkPath: string, target: string): string {
  const parent = linkPath.slice(0, linkPath.lastIndexOf('/')) || '/';
  return normalizePath(target.startsWith('/') ? target : `${parent}/${target}`);
}

/** A hidden name beside `name` for a file that is renamed over `name` when complete. */
export function temporaryName(name: string, random: string): string {
  const suffix = `.antler-${random}`;
  let base = name;
  while (Buffer.byteLength(`.${base}${suffix}`) > NAME_MAX_BYTES && base.length > 0) {
    base = base.slice(0, -1);
  }
  return `.${base}${suffix}`;
}
