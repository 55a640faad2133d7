// Goal: flags become the right BenchParams: defaults of a full and of a quick run, --only with
// the limits its paths need, and the errors for values that do not fit. Method: loadConfig on
// argument lists, as the binary calls it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, loadConfig } from '@antlerfs/protocol';
import { BENCH_SCHEMA, resolveParams, selectNames } from '../src/config.ts';

const INFO = { name: 'antler-bench', version: '0.1.0', summary: 's', usage: 'u' };
const NOW = new Date('2025-02-03T04:05:06.789Z');
const MIB = 1024 * 1024;

function params(argv: string[]): ReturnType<typeof resolveParams> {
  return resolveParams(loadConfig(INFO, BENCH_SCHEMA, argv), NOW);
}

test('a full run by default: 1 GiB, every limit and path, own cluster', () => {
  const p = params([]);
  assert.is(p.sizeBytes, 1024 * MIB);
  assert.is(p.ioSizeBytes, MIB);
  assert.is(p.master, null);
  assert.is(p.chunkservers, 3);
  assert.is(p.metadataOpsPerClient, 2000);
  assert.equal(p.metadataClientCounts, [1, 8]);
  assert.equal(p.limits, ['raw-disk', 'loopback-tcp', 'checksum-speed']);
  assert.equal(p.paths, ['seq-write', 'seq-read', 'random-read', 'small-files', 'metadata-ops',
    'cs-direct', 'fuse', 's3-put-get', 'master-memory']);
  assert.is(p.smallFiles, 2000);
  assert.is(p.randomReads, 20_000);
  assert.is(p.htmlFile, null);
  assert.is(p.outFile, 'bench-results/2025-02-03T04-05-06Z.json');
  assert.is(p.compareFile, null);
});

test('--quick shrinks the defaults but keeps what is given', () => {
  const q = params(['--quick']);
  assert.is(q.sizeBytes, 64 * MIB);
  assert.is(q.metadataOpsPerClient, 200);
  assert.is(q.smallFiles, 200);
  assert.is(q.randomReads, 2000);
  const sized = params(['--quick', '--size', '128M', '--metadata-ops', '50', '--small-files', '7',
    '--random-reads', '9', '--html', 'r.html']);
  assert.is(sized.sizeBytes, 128 * MIB);
  assert.is(sized.metadataOpsPerClient, 50);
  assert.is(sized.smallFiles, 7);
  assert.is(sized.randomReads, 9);
  assert.is(sized.htmlFile, 'r.html');
});

test('--only adds the limits its paths need, and the cheap ones unless limits are named', () => {
  assert.equal(selectNames('seq-read'), {
    limits: ['raw-disk', 'loopback-tcp', 'checksum-speed'], paths: ['seq-read'],
  });
  assert.equal(selectNames('master-memory'), {
    limits: ['loopback-tcp', 'checksum-speed'], paths: ['master-memory'],
  });
  // Metadata changes are fsynced: the disk's fdatasync rate (a raw-disk figure) is their limit.
  assert.equal(selectNames('metadata-ops,fuse'), {
    limits: ['raw-disk', 'loopback-tcp', 'checksum-speed'], paths: ['metadata-ops', 'fuse'],
  });
  assert.equal(selectNames('checksum-speed, master-memory'), {
    limits: ['checksum-speed'], paths: ['master-memory'],
  });
  assert.throws(() => selectNames('seq-write,bogus'), /unknown "bogus"/);
});

test('values that do not fit are refused with a ConfigError', () => {
  const bad = (argv: string[], re: RegExp): void => {
    try {
      params(argv);
      assert.unreachable(`${argv.join(' ')} accepted`);
    } catch (err) {
      assert.instance(err, ConfigError);
      assert.match((err as Error).message, re);
    }
  };
  bad(['--size', '1M', '--io-size', '4M'], /larger than --size/);
  bad(['--master', 'nohost'], /host:port/);
  bad(['--metadata-clients', '0'], /client count/);
  bad(['--metadata-clients', ''], /1 to 8 numbers/);
  bad(['--size', 'huge'], /size like 1G/);
  bad(['--bogus'], /unknown option --bogus/);
  assert.is(params(['--master', '10.0.0.1:9421']).master, '10.0.0.1:9421');
});

test.run();
