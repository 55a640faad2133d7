// antler-metalogger: reads the config (-c FILE, flags override), then follows the master and
// keeps its changelog and dumps in DATA_PATH. `antler-metalogger promote -d DIR` (or
// --promote) instead readies a stopped metalogger's folder to start a master and prints how.
import {
  ConfigError, Logger, formatConfig, loadConfig, runDaemon, type LoadedConfig,
} from '@antlerfs/protocol';
import {
  METALOGGER_CONFIG_SCHEMA, metaloggerConfigChanges, metaloggerConfigFrom,
} from '../src/metalogger/config.ts';
import { METALOGGER_VERSION, Metalogger } from '../src/metalogger/metalogger.ts';
import { formatPromotion, promoteFolder } from '../src/metalogger/promote.ts';
import { limitHeapGrowth } from '../src/heap-growth.ts';

limitHeapGrowth(); // a metalogger holds a whole copy of the metadata too

const info = {
  name: 'antler-metalogger', version: METALOGGER_VERSION,
  summary: 'keeps a live copy of the master\'s changelog and metadata dumps',
  usage: 'antler-metalogger [-c FILE] [--data-path DIR] [--master-host HOST[:PORT],...] ...\n' +
    '       antler-metalogger promote -d DIR    (or --promote) check a stopped metalogger\'s ' +
    'folder,\n       write a fresh dump and print the antler-master command that serves it',
  defaultConfigFile: '/etc/antlerfs/antler-metalogger.cfg',
};

// -d is short for --data-path; `promote` and --promote select the promotion command.
let promote = false;
const argv: string[] = [];
for (const arg of process.argv.slice(2)) {
  if (arg === '--promote' || (arg === 'promote' && !promote && argv.length === 0)) {
    promote = true;
  } else {
    argv.push(arg === '-d' ? '--data-path' : arg);
  }
}

function load(): LoadedConfig {
  return loadConfig(info, METALOGGER_CONFIG_SCHEMA, argv);
}

let loaded: LoadedConfig;
let config;
try {
  loaded = load();
  if (loaded.positionals.length > 0) {
    throw new ConfigError(`unexpected argument ${loaded.positionals[0]} (see --help)`);
  }
  config = metaloggerConfigFrom(loaded.values);
} catch (err) {
  if (!(err instanceof Error)) throw err;
  process.stderr.write(`antler-metalogger: ${err.message}\n`);
  process.exit(2);
}
if (loaded.printConfig) {
  process.stdout.write(formatConfig(METALOGGER_CONFIG_SCHEMA, loaded));
  process.exit(0);
}

const log = new Logger('metalogger');

if (promote) {
  try {
    const promotion = await promoteFolder({
      dataPath: config.dataPath, backMetaKeepPrevious: config.backMetaKeepPrevious, log,
    });
    process.stdout.write(formatPromotion(promotion));
    process.exit(0);
  } catch (err) {
    process.stderr.write(`antler-metalogger promote: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

const metalogger = new Metalogger(config, { log });

process.on('SIGHUP', () => {
  let next: LoadedConfig;
  try {
    next = load();
    metaloggerConfigFrom(next.values);
  } catch (err) {
    log.error('config reload rejected: the running config stays', {
      reason: (err as Error).message,
    });
    return;
  }
  const { reloadable, needRestart } = metaloggerConfigChanges(loaded.values, next.values);
  const values = { ...next.values };
  for (const key of needRestart) values[key] = loaded.values[key]!;
  loaded = { ...next, values };
  metalogger.applyConfig(metaloggerConfigFrom(values));
  log.info('config reloaded', { applied: reloadable.join(',') || 'none' });
  if (needRestart.length > 0) {
    log.warn('config keys changed that need a restart', { keys: needRestart.join(',') });
  }
});

await runDaemon({
  name: 'antler-metalogger', log, modules: metalogger.modules(), lockDir: config.dataPath,
});
