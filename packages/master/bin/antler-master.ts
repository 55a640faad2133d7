// antler-master: reads the config (-c FILE, flags override), then runs the master daemon.
// SIGHUP re-reads the same config; keys marked reloadable take effect, others need a restart.
import {
  ConfigError, Logger, formatConfig, loadConfig, runDaemon, type LoadedConfig,
} from '@antlerfs/protocol';
import {
  MASTER_CONFIG_SCHEMA, MASTER_VERSION, Master, configChanges, masterConfigFrom, type MasterConfig,
} from '../src/index.ts';
import { limitHeapGrowth } from '../src/heap-growth.ts';

limitHeapGrowth();

const info = {
  name: 'antler-master', version: MASTER_VERSION,
  summary: 'the antlerfs metadata master (namespace, chunk registry, changelog, dumps)',
  usage: 'antler-master [-c FILE] [--data-path DIR] [--matocl-listen-port N] ' +
    '[--matoml-listen-port N] [--master-peers HOST:PORT,...] ...',
  defaultConfigFile: '/etc/antlerfs/antler-master.cfg',
};
const argv = process.argv.slice(2);

function load(): LoadedConfig {
  return loadConfig(info, MASTER_CONFIG_SCHEMA, argv);
}

let loaded: LoadedConfig;
let config: MasterConfig;
try {
  loaded = load();
  if (loaded.positionals.length > 0) {
    throw new ConfigError(`unexpected argument ${loaded.positionals[0]} (see --help)`);
  }
  config = masterConfigFrom(loaded.values);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`antler-master: ${err.message}\n`);
  process.exit(2);
}
if (loaded.printConfig) {
  process.stdout.write(formatConfig(MASTER_CONFIG_SCHEMA, loaded));
  process.exit(0);
}

const log = new Logger('master');
const master = new Master(config, { log });

process.on('SIGHUP', () => {
  let next: LoadedConfig;
  try {
    next = load();
    masterConfigFrom(next.values); // refuses a value that does not parse (MASTER_PEERS)
  } catch (err) {
    log.error('config reload rejected: the running config stays', {
      reason: (err as Error).message,
    });
    return;
  }
  const { reloadable, needRestart } = configChanges(loaded.values, next.values);
  const values = { ...next.values };
  for (const key of needRestart) values[key] = loaded.values[key]!;
  loaded = { ...next, values };
  master.applyConfig(masterConfigFrom(values));
  log.info('config reloaded', { applied: reloadable.join(',') || 'none' });
  if (needRestart.length > 0) {
    log.warn('config keys changed that need a restart', { keys: needRestart.join(',') });
  }
});

await runDaemon({
  name: 'antler-master', log, modules: master.modules(), lockDir: config.dataPath,
});
