// Goal: the library end to end against fake daemons on loopback: namespace operations, the
// atomic writeFile, reads of written bytes at every chunk and block boundary, holes, streams.
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BLOCK_SIZE_BYTES, CHUNK_SIZE_BYTES } from '@antlerfs/protocol';
import { Client, FsError, InodeType } from '../src/index.ts';
import { startFakeCluster, type FakeCluster } from './fake-cluster.ts';

let cluster: FakeCluster;
let client: Client;

test.before(async () => {
  cluster = await startFakeCluster(3);
  client = await Client.connect({
    master: cluster.master.address, tuning: { backoffMsMin: 5, backoffMsMax: 20 },
  });
});

test.after(async () => {
  client.close();
  await cluster.stop();
});

async function rejects(p: Promise<unknown>, code: string): Promise<FsError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, FsError);
    assert.is((err as FsError).code, code);
    return err as FsError;
  }
  throw new Error(`expected ${code}`);
}

test('namespace: mkdir -p, readdir, rename, symlinks, links, attributes', async () => {
  await client.mkdir('/a/b/c', { recursive: true });
  await client.mkdir('/a/b/c', { recursive: true }); // exists: fine
  await rejects(client.mkdir('/a/b'), 'EEXIST');
  await client.writeFile('/a/b/f', Buffer.from('hello'));
  assert.equal((await client.readdir('/a/b')).map((e) => e.name), ['c', 'f']);
  await client.symlink('b', '/a/lnk');
  assert.is(await client.readlink('/a/lnk'), 'b');
  assert.is((await client.lstat('/a/lnk')).type, InodeType.SYMLINK);
  assert.is((await client.stat('/a/lnk')).type, InodeType.DIR);
  assert.is((await client.readFile('/a/lnk/f')).toString(), 'hello'); // symlink in the middle
  await client.link('/a/b/f', '/a/hard');
  assert.is((await client.stat('/a/hard')).nlink, 2);
  await client.rename('/a/hard', '/a/b/c/moved');
  assert.is((await client.readFile('/a/b/c/moved')).toString(), 'hello');
  await client.chmod('/a/b/f', 0o600);
  assert.is((await client.stat('/a/b/f')).mode, 0o600);
  await client.utimes('/a/b/f', 1000, 2000);
  assert.is((await client.stat('/a/b/f')).mtimeMs, 2000);
  assert.is(await client.setGoal('/a/b/f', 2), 1);
  assert.is(await client.getGoal('/a/b/f'), 2);
  await rejects(client.setGoal('/a/b/f', 0), 'EINVAL');
  await rejects(client.rmdir('/a/b'), 'ENOTEMPTY');
  await rejects(client.unlink('/a/b'), 'EISDIR');
  const missing = await rejects(client.stat('/a/nope/x'), 'ENOENT');
  assert.match(missing.message, /^ENOENT: No such file or directory: \/a\/nope/);
  await rejects(client.readdir('/a/b/f'), 'ENOTDIR');
  await rejects(client.open('/a/b', 'r'), 'EISDIR');
  await client.symlink('loop2', '/loop1');
  await client.symlink('loop1', '/loop2');
  await rejects(client.stat('/loop1'), 'ELOOP');
});

test('writeFile is atomic: the target appears when complete; failures leave nothing', async () => {
  await client.mkdir('/atomic');
  await client.writeFile('/atomic/x', Buffer.from('old'));
  async function* failing(): AsyncGenerator<Buffer> {
    yield Buffer.alloc(BLOCK_SIZE_BYTES, 1);
    throw new FsError('EIO', 'source broke');
  }
  await rejects(client.writeFile('/atomic/x', failing()), 'EIO');
  assert.equal((await client.readdir('/atomic')).map((e) => e.name), ['x']);
  assert.is((await client.readFile('/atomic/x')).toString(), 'old');
  for (const s of cluster.servers) s.full = true;
  const full = await rejects(client.writeFile('/atomic/y', Buffer.alloc(10)), 'ENOSPC');
  assert.match(full.message, /\/atomic\/y/);
  for (const s of cluster.servers) s.full = false;
  assert.equal((await client.readdir('/atomic')).map((e) => e.name), ['x']);
});

test('writes at every chunk and block boundary read back exactly', async () => {
  const sizes = [
    0, 1, BLOCK_SIZE_BYTES - 1, BLOCK_SIZE_BYTES, BLOCK_SIZE_BYTES + 1,
    CHUNK_SIZE_BYTES - 1, CHUNK_SIZE_BYTES + 1,
  ];
  const data = crypto.randomBytes(CHUNK_SIZE_BYTES + 1);
  for (const size of sizes) {
    const path = `/size-${size}`;
    await client.writeFile(path, data.subarray(0, size));
    assert.is((await client.stat(path)).length, size, `length of ${size}`);
    const back = await client.readFile(path);
    assert.ok(back.equals(data.subarray(0, size)), `bytes of ${size}`);
    const info = await client.fileInfo(path);
    assert.is(info.chunks.length, Math.ceil(size / CHUNK_SIZE_BYTES), `chunks of ${size}`);
    await client.unlink(path);
  }
});

test('stream writes in odd pieces, ranged stream reads, holes read as zeros', async () => {
  const data = crypto.randomBytes(3 * 1024 * 1024 + 12345);
  const pieces: Buffer[] = [];
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = Math.min(data.length - at, [1, 100, 70_000, 65_536, 1_500_000][i % 5]!);
    pieces.push(Buffer.from(data.subarray(at, at + n)));
    at += n;
  }
  await client.writeFile('/streamed', Readable.from(pieces));
  assert.ok((await client.readFile('/streamed')).equals(data));
  const got: Buffer[] = [];
  const ranged = client.createReadStream('/streamed', { start: 1000, end: 2_100_000 });
  await pipeline(ranged, async function* (src) {
    for await (const c of src) got.push(c as Buffer);
  });
  assert.ok(Buffer.concat(got).equals(data.subarray(1000, 2_100_001)));

  const h = await client.open('/holes', 'w');
  await h.write(Buffer.from('end'), CHUNK_SIZE_BYTES + 5);
  await h.close();
  const back = await client.readFile('/holes');
  assert.is(back.length, CHUNK_SIZE_BYTES + 8);
  assert.ok(back.subarray(0, CHUNK_SIZE_BYTES + 5).equals(Buffer.alloc(CHUNK_SIZE_BYTES + 5)));
  assert.is(back.subarray(CHUNK_SIZE_BYTES + 5).toString(), 'end');
  await client.unlink('/holes');
});

test('file handle: small writes gathered, append, read own writes, truncate, flags', async () => {
  const h = await client.open('/fh', 'w');
  for (let i = 0; i < 1000; i++) await h.write(Buffer.from(`line ${i}\n`));
  const expected = Array.from({ length: 1000 }, (_, i) => `line ${i}\n`).join('');
  assert.is((await h.stat()).length, expected.length);
  await h.close();
  const r = await client.open('/fh', 'r');
  const buf = Buffer.alloc(expected.length + 10);
  assert.is(await r.read(buf, 0, buf.length, 0), expected.length);
  assert.is(buf.subarray(0, expected.length).toString(), expected);
  await rejects(r.write(Buffer.from('x')), 'EBADF');
  await r.close();
  const a = await client.open('/fh', 'a+');
  await a.write(Buffer.from('tail'));
  const last = Buffer.alloc(4);
  assert.is(await a.read(last, 0, 4, expected.length), 4);
  assert.is(last.toString(), 'tail');
  await a.truncate(5);
  await a.close();
  assert.is((await client.readFile('/fh')).toString(), 'line ');
  await rejects(client.open('/fh', 'wx'), 'EEXIST');
  const w = await client.open('/fh', 'w');
  assert.is((await w.stat()).length, 0);
  await w.close();
  await rejects(w.write(Buffer.from('x')), 'EBADF');
  const s = client.createWriteStream('/ws');
  const parts = [Buffer.from('ab'), Buffer.alloc(2 * 1024 * 1024, 7), Buffer.from('cd')];
  await pipeline(Readable.from(parts), s);
  const ws = await client.readFile('/ws');
  assert.is(ws.length, 2 * 1024 * 1024 + 4);
  assert.is(ws.subarray(0, 2).toString() + ws.subarray(-2).toString(), 'abcd');
});

test('fsync reaches every copy of the chain; statfs and chunkservers from the master', async () => {
  await client.mkdir('/g3');
  await client.setGoal('/g3', 3);
  const h = await client.open('/g3/f', 'w');
  await h.write(crypto.randomBytes(200_000));
  const before = cluster.servers.map((s) => s.counters.fsync_requests!);
  await h.fsync();
  await h.close();
  assert.equal(cluster.servers.map((s, i) => s.counters.fsync_requests! - before[i]!), [1, 1, 1]);
  const info = await client.fileInfo('/g3/f');
  assert.is(info.chunks[0]!.locations.length, 3);
  assert.is((await client.statfs()).chunkservers, 3);
  assert.is((await client.chunkservers()).length, 3);
});

test('readFile and a read stream take length and locations from the lookup', async () => {
  const data = crypto.randomBytes(64 * 1024 + 5);
  await client.writeFile('/counted', data);
  await client.writeFile('/empty', Buffer.alloc(0));
  const before = client.masterRequestCounts();
  assert.ok((await client.readFile('/counted')).equals(data));
  assert.is((await client.readFile('/empty')).length, 0);
  const parts: Buffer[] = [];
  for await (const c of client.createReadStream('/counted', { start: 5 })) parts.push(c as Buffer);
  assert.ok(Buffer.concat(parts).equals(data.subarray(5)));
  const after = client.masterRequestCounts();
  const sent = (name: string): number => (after[name] ?? 0) - (before[name] ?? 0);
  assert.is(sent('CLTOMA_GETATTR'), 0);
  assert.is(sent('CLTOMA_LOOKUP_PATH_CHUNKS'), 3, 'one lookup per read');
  assert.is(sent('CLTOMA_LOOKUP_PATH'), 0);
  assert.is(sent('CLTOMA_READ_CHUNKS'), 0, 'the locations came with the lookups');
});

test('prefetchStart: the first read from the start uses it; other reads read as before',
  async () => {
    const data = crypto.randomBytes(3 * BLOCK_SIZE_BYTES + 77);
    await client.writeFile('/prefetched', data);
    const reads = (): number => cluster.servers.reduce((n, s) => n + s.counters.read_requests!, 0);
    const fh = await client.open('/prefetched', 'r');
    const before = reads();
    fh.prefetchStart(128 * 1024);
    const buf = Buffer.alloc(BLOCK_SIZE_BYTES);
    assert.is(await fh.read(buf, 0, buf.length, 100), buf.length);
    assert.ok(buf.equals(data.subarray(100, 100 + buf.length)), 'bytes from the prefetch');
    assert.is(reads() - before, 1, 'one chunkserver read: the prefetch, none for the read');
    const tail = Buffer.alloc(4096);
    const n = await fh.read(tail, 0, tail.length, data.length - 77);
    assert.is(n, 77);
    assert.ok(tail.subarray(0, n).equals(data.subarray(data.length - 77)), 'a later read');
    fh.prefetchStart(BLOCK_SIZE_BYTES);
    const far = Buffer.alloc(100);
    assert.is(await fh.read(far, 0, 100, 2 * BLOCK_SIZE_BYTES), 100, 'a read past it');
    assert.ok(far.equals(data.subarray(2 * BLOCK_SIZE_BYTES, 2 * BLOCK_SIZE_BYTES + 100)));
    await fh.close();
    const small = await client.open('/prefetched', 'r');
    small.prefetchStart(10 * 1024 * 1024);
    const whole = Buffer.alloc(data.length + 10);
    assert.is(await small.read(whole, 0, whole.length, 0), data.length, 'trimmed to the file');
    assert.ok(whole.subarray(0, data.length).equals(data));
    await small.close();
  });

test('readahead asks for no bytes past the end; a file grown since is read to its new end',
  async () => {
    const size = 3 * BLOCK_SIZE_BYTES + 500;
    const data = crypto.randomBytes(size);
    await client.writeFile('/short', data);
    const bytesRead = (): number =>
      cluster.servers.reduce((n, s) => n + s.counters.read_bytes!, 0);
    const before = bytesRead();
    const fh = await client.open('/short', 'r');
    const buf = Buffer.alloc(32 * 1024);
    const got: Buffer[] = [];
    for (let at = 0; ; at += buf.length) {
      const n = await fh.read(buf, 0, buf.length, at);
      if (n === 0) break;
      got.push(Buffer.from(buf.subarray(0, n)));
    }
    assert.ok(Buffer.concat(got).equals(data));
    assert.ok(bytesRead() - before <= 2 * 4 * BLOCK_SIZE_BYTES,
      `read ${bytesRead() - before} bytes from the chunkservers for a ${size}-byte file`);
    const more = crypto.randomBytes(BLOCK_SIZE_BYTES);
    const w = await client.open('/short', 'r+');
    await w.write(more, size);
    await w.close();
    const tail = Buffer.alloc(more.length + 100);
    const n = await fh.read(tail, 0, tail.length, size);
    assert.is(n, more.length, 'the grown file read to its new end');
    assert.ok(tail.subarray(0, n).equals(more));
    await fh.close();
  });

test.run();
