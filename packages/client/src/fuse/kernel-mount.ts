// Mounting and unmounting in the kernel, and the checks before: the mount point exists, is a
// directory, is not mounted on already and is empty. Root mounts with mount(8) -i (no helper
// program), passing our /dev/fuse descriptor as fd 3. Without root, mounting needs fusermount3,
// which opens /dev/fuse, mounts, and hands the descriptor back over a unix socket (SCM_RIGHTS):
// Node cannot receive a descriptor, so that path needs the native addon (see userMount). Every
// program is run as a child process, never synchronously on the mounted tree, which this
// process serves.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { addon } from '@antlerfs/native';

export const FS_TYPE = 'fuse.antlerfs';
export const FS_SOURCE = 'antlerfs';
/** fusermount3 names the type fuse.<subtype>: the same type as a mount by root. */
const FS_SUBTYPE = 'antlerfs';
/** mount(8) and umount(8) get this long before they count as failed. */
const PROGRAM_TIMEOUT_MS = 30_000;

/** A failure a user can act on: printed as it is, without a stack. */
export class MountError extends Error {
  override name = 'MountError';
}

export function rootRequiredMessage(): string {
  return 'mounting needs root: the mount(2) system call is reserved to root, and the ' +
    "unprivileged way (fusermount3) passes the /dev/fuse descriptor back over a unix socket " +
    '(SCM_RIGHTS), which Node cannot receive without the native addon. Run antler-mount as ' +
    'root (or build the addon with a recvmsg/SCM_RIGHTS call).';
}

/** Whether this process can mount without root: the addon has the socket calls it needs. */
export function canMountAsUser(): boolean {
  return addon?.socketpair !== undefined && addon.recvFd !== undefined;
}

export interface MountEntry {
  /** major:minor of the mounted file system (the FUSE connection is the minor). */
  device: string;
  mountPoint: string;
  fsType: string;
  source: string;
}

/** The mount table of this process's namespace (/proc/self/mountinfo). */
export function readMountTable(): MountEntry[] {
  return parseMountInfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
}

/** Parses mountinfo text; lines it cannot read are skipped. */
export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superopts
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const left = line.slice(0, dash).split(' ');
    const right = line.slice(dash + 3).split(' ');
    if (left.length < 5 || right.length < 2) continue;
    out.push({
      device: left[2]!, mountPoint: unescapeMountField(left[4]!), fsType: right[0]!,
      source: unescapeMountField(right[1]!),
    });
  }
  return out;
}

/** mountinfo writes space, tab, newline and backslash as \ooo octal escapes. */
export function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The newest mount on `mountPoint` (absolute, resolved), if any. */
export function mountAt(mountPoint: string): MountEntry | undefined {
  return readMountTable().filter((m) => m.mountPoint === mountPoint).at(-1);
}

/**
 * Checks the mount point before mounting; returns its resolved absolute path. Runs before the
 * mount exists, so synchronous calls on it cannot block on this process.
 */
export function checkMountPoint(mountPoint: string, opts: { nonempty: boolean }): string {
  let resolved: string;
  try {
    resolved = fs.realpathSync(path.resolve(mountPoint));
    const st = fs.statSync(resolved);
    if (!st.isDirectory()) throw new MountError(`mount point ${mountPoint} is not a directory`);
  } catch (err) {
    if (err instanceof MountError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new MountError(`mount point ${mountPoint} does not exist`);
    if (code === 'ENOTCONN') {
      throw new MountError(`mount point ${mountPoint} is a dead FUSE mount (transport endpoint ` +
        `is not connected): unmount it first (antler-mount -u ${mountPoint})`);
    }
    throw new MountError(`mount point ${mountPoint}: ${(err as Error).message}`);
  }
  const existing = mountAt(resolved);
  if (existing !== undefined) {
    throw new MountError(`mount point ${mountPoint} is busy: ${existing.source} ` +
      `(${existing.fsType}) is already mounted there`);
  }
  if (!opts.nonempty && fs.readdirSync(resolved).length > 0) {
    throw new MountError(`mount point ${mountPoint} is not empty (mount option nonempty ` +
      'mounts over it anyway)');
  }
  return resolved;
}

export interface KernelMountOptions extends UserMountOptions {
  fd: number;
}

export interface UserMountOptions {
  mountPoint: string;
  readOnly: boolean;
  allowOther: boolean;
  /** The master address, shown as the mount's source. */
  source: string;
}

/** mount(8) -i -t fuse.antlerfs with our /dev/fuse descriptor as its fd 3. */
export async function kernelMount(o: KernelMountOptions): Promise<void> {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const options = [
    'fd=3', 'rootmode=40000', `user_id=${uid}`, `group_id=${gid}`, ...commonOptions(o),
  ];
  const args = ['-i', '-t', FS_TYPE, '-o', options.join(','), o.source, o.mountPoint];
  const r = await runProgram('mount', args, [o.fd]);
  if (r.code !== 0) {
    throw new MountError(`mount ${o.mountPoint} failed (mount exit ${r.code}): ` +
      (r.stderr.trim() || 'no message'));
  }
}

/** The options root and fusermount3 mounts share (fusermount3 adds fd, rootmode and ids). */
function commonOptions(o: UserMountOptions): string[] {
  return ['default_permissions', ...(o.allowOther ? ['allow_other'] : []),
    o.readOnly ? 'ro' : 'rw', 'nosuid', 'nodev'];
}

/** Whether fusermount3 lets users other than root ask for allow_other (/etc/fuse.conf). */
export function userAllowOther(): boolean {
  try {
    return /^\s*user_allow_other\s*$/m.test(fs.readFileSync('/etc/fuse.conf', 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Mounts without root through fusermount3 (setuid), which gets one end of a socket pair as its
 * fd 3 (_FUSE_COMMFD) and sends the mounted /dev/fuse descriptor back on it. Returns that
 * descriptor, to be served like the one root opens.
 */
export async function userMount(o: UserMountOptions): Promise<number> {
  const native = addon;
  if (native?.socketpair === undefined || native.recvFd === undefined) {
    throw new MountError(rootRequiredMessage());
  }
  const options = [...commonOptions(o), `fsname=${o.source}`, `subtype=${FS_SUBTYPE}`];
  const [keep, give] = native.socketpair();
  let exited: Promise<ProgramResult>;
  try {
    exited = collectResult(spawn('fusermount3', ['-o', options.join(','), '--', o.mountPoint], {
      stdio: ['ignore', 'ignore', 'pipe', give], env: { ...process.env, _FUSE_COMMFD: '3' },
    }));
  } finally {
    // Only the child may hold this end: if it ends without sending, recvFd sees the close.
    fs.closeSync(give);
  }
  // Blocks this thread until fusermount3 has mounted (or ended): it sends right after mount(2).
  const fd = native.recvFd(keep);
  fs.closeSync(keep);
  const r = await exited;
  if (r.code === 0 && fd >= 0) return fd;
  if (fd >= 0) fs.closeSync(fd);
  const why = r.stderr.trim() ||
    (fd < 0 ? `no /dev/fuse descriptor came back (errno ${-fd})` : 'no message');
  throw new MountError(`mount ${o.mountPoint} failed (fusermount3 exit ${r.code}): ${why}`);
}

export type UnmountResult = 'unmounted' | 'busy' | 'not-mounted' | 'failed';

/** umount(8) (root) or fusermount3 -u; `lazy` detaches now and ends when the last file closes. */
export async function kernelUnmount(
  mountPoint: string, opts: { lazy: boolean },
): Promise<{ result: UnmountResult; message: string }> {
  const root = (process.getuid?.() ?? 0) === 0;
  const args = root
    ? [...(opts.lazy ? ['-l'] : []), mountPoint]
    : ['-u', ...(opts.lazy ? ['-z'] : []), mountPoint];
  const r = await runProgram(root ? 'umount' : 'fusermount3', args, []);
  const message = r.stderr.trim();
  if (r.code === 0) return { result: 'unmounted', message };
  if (/busy/i.test(message)) return { result: 'busy', message };
  if (/not mounted|not found|no mount point/i.test(message)) {
    return { result: 'not-mounted', message };
  }
  return { result: 'failed', message: message || `exit ${r.code}` };
}

/**
 * Ends the FUSE connection at once (every waiting request and reader gets an error), through
 * the fusectl file system, mounting it if the system has not. Returns false if impossible.
 */
export async function abortConnection(device: string): Promise<boolean> {
  const minor = device.split(':')[1];
  if (minor === undefined || !/^\d+$/.test(minor)) return false;
  const dir = '/sys/fs/fuse/connections';
  const file = `${dir}/${minor}/abort`;
  if (!fs.existsSync(file)) {
    await runProgram('mount', ['-t', 'fusectl', 'fusectl', dir], []);
  }
  try {
    await fs.promises.writeFile(file, '1');
    return true;
  } catch {
    return false;
  }
}

/** Sets the kernel's readahead for the mount (its backing device info), in bytes. */
export async function setReadAhead(device: string, bytes: number): Promise<boolean> {
  try {
    await fs.promises.writeFile(`/sys/class/bdi/${device}/read_ahead_kb`,
      String(Math.max(0, Math.round(bytes / 1024))));
    return true;
  } catch {
    return false;
  }
}

/** Waits until `check` holds, polling; false after `timeoutMs`. */
export async function pollUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const intervalMs = 20;
  for (let waited = 0; waited <= timeoutMs; waited += intervalMs) {
    if (check()) return true;
    await sleep(intervalMs);
  }
  return check();
}

interface ProgramResult {
  code: number;
  stderr: string;
}

/** Runs a program with `fds` as its descriptors 3, 4, ...; collects stderr. */
function runProgram(file: string, args: string[], fds: number[]): Promise<ProgramResult> {
  if (fds.length === 0) {
    return new Promise((resolve) => {
      execFile(file, args, { timeout: PROGRAM_TIMEOUT_MS }, (err, _stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stderr: stderr || (err?.message ?? '') });
      });
    });
  }
  return collectResult(spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe', ...fds] }));
}

/** Waits for `child` (stderr piped) to end, killing it after PROGRAM_TIMEOUT_MS. */
function collectResult(child: ChildProcess): Promise<ProgramResult> {
  return new Promise((resolve) => {
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), PROGRAM_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: 127, stderr: err.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, stderr: signal ? `${stderr} (killed by ${signal})` : stderr });
    });
  });
}
