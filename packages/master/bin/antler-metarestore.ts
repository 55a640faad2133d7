// antler-metarestore: offline. Loads the newest valid dump of a master's or a metalogger's
// folder, replays every changelog record after it and writes a fresh metadata.amd at the final
// version (in place, or into -o OUTFOLDER); --check only reports. Exit 0 ok, 1 failed.
import { Logger, loadConfig, type LoadedConfig } from '@antlerfs/protocol';
import {
  RESTORE_OPTIONS_SCHEMA, formatRestoreReport, restoreMetadata,
} from '../src/restore.ts';

const info = {
  name: 'antler-metarestore', version: '0.1.0',
  summary: 'rebuilds metadata.amd from a master\'s or a metalogger\'s dump and changelog files',
  usage: 'antler-metarestore -d FOLDER [-o OUTFOLDER] [--check]',
};

const argv = process.argv.slice(2).map((arg) => {
  if (arg === '-d') return '--data-path';
  if (arg === '-o') return '--output-path';
  return arg;
});

function fail(message: string): never {
  process.stderr.write(`antler-metarestore: ${message}\n`);
  process.exit(1);
}

let loaded: LoadedConfig;
try {
  loaded = loadConfig(info, RESTORE_OPTIONS_SCHEMA, argv);
} catch (err) {
  fail((err as Error).message);
}
if (loaded.positionals.length > 0) {
  fail(`unexpected argument ${loaded.positionals[0]} (see --help)`);
}
const v = loaded.values;
if (typeof v.DATA_PATH !== 'string' || v.DATA_PATH === '') {
  fail('-d FOLDER is required (see --help)');
}

try {
  const report = await restoreMetadata({
    dataPath: v.DATA_PATH,
    outputPath: typeof v.OUTPUT_PATH === 'string' && v.OUTPUT_PATH !== '' ? v.OUTPUT_PATH : null,
    check: v.CHECK === true,
    backMetaKeepPrevious: Number(v.BACK_META_KEEP_PREVIOUS),
    log: new Logger('metarestore'),
  });
  process.stdout.write(formatRestoreReport(report));
} catch (err) {
  fail((err as Error).message);
}
