// antler-s3: reads the config (-c FILE, flags override), then runs the S3 gateway daemon.
// SIGHUP re-reads the credentials file and the anonymous buckets; other keys need a restart.
import {
  ConfigError, Logger, formatConfig, loadConfig, runDaemon, type LoadedConfig,
} from '@antlerfs/protocol';
import { S3_CONFIG_SCHEMA, S3_VERSION, s3ConfigFrom } from '../src/s3/config.ts';
import { CredentialsError } from '../src/s3/credentials.ts';
import { S3Gateway } from '../src/s3/server.ts';

const info = {
  name: 'antler-s3', version: S3_VERSION,
  summary: 'S3-compatible HTTP gateway over antlerfs (buckets are folders of S3_ROOT)',
  usage: 'antler-s3 [-c FILE] [--master HOST:PORT] [--s3-listen-port N] [--s3-root DIR] ...',
  defaultConfigFile: '/etc/antlerfs/antler-s3.cfg',
};
const argv = process.argv.slice(2);

function load(): LoadedConfig {
  const loaded = loadConfig(info, S3_CONFIG_SCHEMA, argv);
  if (loaded.positionals.length > 0) {
    throw new ConfigError(`unexpected argument ${loaded.positionals[0]} (see --help)`);
  }
  return loaded;
}

function fatal(err: unknown): never {
  if (!(err instanceof ConfigError) && !(err instanceof CredentialsError)) throw err;
  process.stderr.write(`antler-s3: ${err.message}\n`);
  process.exit(2);
}

let loaded: LoadedConfig;
let gateway: S3Gateway;
try {
  loaded = load();
  if (loaded.printConfig) {
    process.stdout.write(formatConfig(S3_CONFIG_SCHEMA, loaded));
    process.exit(0);
  }
  gateway = new S3Gateway(s3ConfigFrom(loaded.values), { log: new Logger('s3') });
} catch (err) {
  fatal(err);
}
const log = new Logger('s3');

process.on('SIGHUP', () => {
  try {
    const next = s3ConfigFrom(load().values);
    gateway.applyAccess(next.credentialsFile, next.anonymousReadBuckets);
    log.info('access reloaded', { credentialsFile: next.credentialsFile });
  } catch (err) {
    log.error('reload rejected: the keys in force stay', { reason: (err as Error).message });
  }
});

await runDaemon({ name: 'antler-s3', log, modules: gateway.modules() });
