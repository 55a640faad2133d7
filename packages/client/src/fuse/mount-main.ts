// The antler-mount command: `antler-mount MOUNTPOINT [-H master[:port]] [-o opts]` mounts and
// stays in the foreground until the file system is unmounted (SIGTERM/SIGINT unmount it);
// `antler-mount -u MOUNTPOINT` unmounts. Exit 0 on a clean end, 1 on a failure, 2 on a usage
// error, 70 after a bug. Errors a user can act on are printed as one line, without a stack.
// SIGUSR2 logs the request counters (kernel requests by opcode, master requests by message).
import path from 'node:path';
import {
  ConfigError, formatConfig, helpText, loadConfig, Logger, setLogLevel, type ProgramInfo,
} from '@antlerfs/protocol';
import {
  canMountAsUser, FS_TYPE, kernelUnmount, mountAt, MountError, rootRequiredMessage,
} from './kernel-mount.ts';
import {
  MOUNT_HELP_EXTRA, MOUNT_SCHEMA, mountConfig, parseCommand, VERSION,
} from './mount-options.ts';
import { MountSession } from './mount-session.ts';

/** After a bug, the connection has this long to end before the process kills itself. */
const EMERGENCY_EXIT_MS = 10_000;

const INFO: ProgramInfo = {
  name: 'antler-mount',
  version: VERSION,
  summary: 'mounts the antlerfs tree with FUSE',
  usage: 'antler-mount MOUNTPOINT [-H host[:port]] [-o opt[=value],...] [-c FILE] [--KEY VALUE]\n' +
    '       antler-mount -u MOUNTPOINT',
  defaultConfigFile: '/etc/antlerfs/antler-mount.cfg',
};

export interface MountCliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export async function runMountCli(argv: readonly string[], io: MountCliIo): Promise<number> {
  try {
    if (argv.includes('-h') || argv.includes('--help')) {
      io.stdout.write(helpText(INFO, MOUNT_SCHEMA) + '\n' + MOUNT_HELP_EXTRA);
      return 0;
    }
    const command = parseCommand(argv);
    if (command.unmount !== null) return await unmountCommand(command.unmount, io);
    const loaded = loadConfig(INFO, MOUNT_SCHEMA, command.configArgs);
    if (loaded.printConfig) {
      io.stdout.write(formatConfig(MOUNT_SCHEMA, loaded));
      return 0;
    }
    if (loaded.positionals.length !== 1) {
      throw new ConfigError(loaded.positionals.length === 0
        ? 'a mount point is needed (see --help)'
        : `one mount point expected, got ${loaded.positionals.join(' ')}`);
    }
    const config = mountConfig(loaded.values, loaded.positionals[0]!);
    const root = (process.getuid?.() ?? 0) === 0;
    if (!root && !canMountAsUser()) throw new MountError(rootRequiredMessage());
    return await serve(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`antler-mount: ${err.message}\n`);
      return 2;
    }
    if (err instanceof MountError || (err as { name?: string }).name === 'FsError') {
      io.stderr.write(`antler-mount: ${(err as Error).message}\n`);
      return 1;
    }
    throw err;
  }
}

async function serve(config: ReturnType<typeof mountConfig>): Promise<number> {
  setLogLevel(config.logLevel);
  const log = new Logger('mount');
  log.info('starting', { version: VERSION, mountPoint: config.mountPoint, master: config.master });
  // A signal while mounting is kept and acted on once the mount is up.
  let early: NodeJS.Signals | null = null;
  const onEarlySignal = (signal: NodeJS.Signals): void => { early ??= signal; };
  process.on('SIGTERM', onEarlySignal);
  process.on('SIGINT', onEarlySignal);
  let session: MountSession;
  try {
    session = await MountSession.start(config, log);
  } finally {
    process.off('SIGTERM', onEarlySignal);
    process.off('SIGINT', onEarlySignal);
  }
  const onSignal = (signal: NodeJS.Signals): void => void session.stop(signal);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  if (early !== null) onSignal(early);
  process.on('SIGHUP', () => log.info('SIGHUP ignored: options need a remount'));
  process.on('SIGUSR2', () => session.logStats());
  // A bug that escapes: reader threads blocked on /dev/fuse would keep the process from ever
  // exiting, so the connection is ended first; if even that fails, the kernel ends it when
  // the process dies.
  const emergency = (what: string, err: unknown): void => {
    log.error(`${what}: stopping`, { error: (err as Error)?.stack ?? String(err) });
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), EMERGENCY_EXIT_MS).unref();
    void session.emergencyStop().finally(() => process.exit(70));
  };
  process.on('uncaughtException', (err) => emergency('uncaught exception', err));
  process.on('unhandledRejection', (err) => emergency('unhandled rejection', err));
  // The handlers stay: a signal that comes while the process ends finds the session ended.
  return session.finished;
}

async function unmountCommand(mountPoint: string, io: MountCliIo): Promise<number> {
  const entry = mountAt(path.resolve(mountPoint));
  if (entry !== undefined && entry.fsType !== FS_TYPE) {
    throw new MountError(`${mountPoint} is not an antlerfs mount (${entry.fsType})`);
  }
  let r = await kernelUnmount(mountPoint, { lazy: false });
  if (r.result === 'busy') {
    io.stderr.write(`antler-mount: ${mountPoint} is busy: unmounting lazily\n`);
    r = await kernelUnmount(mountPoint, { lazy: true });
  }
  if (r.result === 'unmounted') return 0;
  throw new MountError(`cannot unmount ${mountPoint}: ${r.message}`);
}
