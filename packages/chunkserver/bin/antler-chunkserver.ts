// antler-chunkserver: reads flags and the config file, then runs the chunkserver daemon.
// UV_THREADPOOL_SIZE must be set in the environment that starts the process: Node sizes the
// pool while loading the entry module, before any line of ours runs.
import {
  ConfigError, Logger, formatConfig, loadConfig, runDaemon, setLogLevel,
} from '@antlerfs/protocol';
import { Chunkserver } from '../src/chunkserver.ts';
import { CHUNKSERVER_SCHEMA, VERSION, chunkserverConfig } from '../src/config.ts';
import { loadHddFolders } from '../src/hdd-config.ts';

const info = {
  name: 'antler-chunkserver',
  version: VERSION,
  summary: 'stores chunks on local disks and serves them on the data port',
  usage: 'antler-chunkserver [-c FILE] [--KEY VALUE ...]',
  defaultConfigFile: '/etc/antlerfs/antler-chunkserver.cfg',
};

/** Node's default thread pool size when UV_THREADPOOL_SIZE is not set. */
const THREAD_POOL_DEFAULT = 4;

function main(): void {
  const loaded = loadConfig(info, CHUNKSERVER_SCHEMA, process.argv.slice(2));
  if (loaded.positionals.length > 0) {
    throw new ConfigError(`unexpected argument ${loaded.positionals[0]} (see --help)`);
  }
  const config = chunkserverConfig(loaded.values);
  const folders = loadHddFolders(config);
  if (loaded.printConfig) {
    process.stdout.write(formatConfig(CHUNKSERVER_SCHEMA, loaded));
    process.exit(0);
  }
  setLogLevel(config.logLevel);
  const log = new Logger('chunkserver');
  log.info('starting', {
    version: VERSION, dataPath: config.dataPath, disks: folders.map((f) => f.path).join(','),
    masters: config.masters.map((m) => `${m.host}:${m.port}`).join(','),
    threadPool: Number(process.env.UV_THREADPOOL_SIZE ?? THREAD_POOL_DEFAULT),
  });
  const chunkserver = new Chunkserver(config, folders, log);
  void runDaemon({
    name: 'antler-chunkserver', log, modules: chunkserver.modules, lockDir: config.dataPath,
  });
}

try {
  main();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`antler-chunkserver: ${err.message}\n`);
  process.exit(2);
}
