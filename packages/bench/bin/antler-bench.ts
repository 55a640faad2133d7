// antler-bench: measures the machine's limits and every read and write path of antlerfs, then
// prints one table and writes a JSON file. Flags only; the work is in src/.
import { ConfigError, loadConfig } from '@antlerfs/protocol';
import { benchMain } from '../src/bench-run.ts';
import { BENCH_SCHEMA, BENCH_VERSION, resolveParams } from '../src/config.ts';

const info = {
  name: 'antler-bench',
  version: BENCH_VERSION,
  summary: 'throughput of the antlerfs read and write paths beside the machine\'s own limits',
  usage: 'antler-bench [--quick] [--size 1G] [--only a,b] [--master host:port] ' +
    '[--out FILE] [--html FILE] [--compare OLD.json]\n\n' +
    'Without --master it starts a master and 3 chunkservers in a temporary folder on this\n' +
    'machine and stops them at the end. The fuse path mounts antler-mount itself (root and\n' +
    '/dev/fuse needed; otherwise its figures fail with the reason). Progress goes to stderr,\n' +
    'the table to stdout; each figure shows its limit ratio, the MooseFS reference and the\n' +
    'target (1.2 x MooseFS), and CPU seconds per GiB or per 1000 ops of every process.\n' +
    'Exit code: 0 when every check passed, 1 when one failed, 2 on bad flags.',
};

async function main(): Promise<number> {
  let params;
  try {
    const loaded = loadConfig(info, BENCH_SCHEMA, process.argv.slice(2));
    if (loaded.positionals.length > 0) {
      throw new ConfigError(`unexpected argument ${loaded.positionals[0]} (see --help)`);
    }
    params = resolveParams(loaded, new Date());
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`antler-bench: ${err.message}\n`);
    return 2;
  }
  return benchMain(params);
}

process.exitCode = await main();
