// Goal: an open file's handle is opened on first use and shared by concurrent operations;
// ending its writes closes it (only when it wrote) and the next use opens a fresh one; a reset
// closes it even clean; nothing closes a handle while an operation uses it; release is final;
// per inode, the unended length and the end of other opens' writes are what the mount uses.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FileHandle } from '../src/index.ts';
import { OpenFiles, type OpenMode } from '../src/fuse/open-file.ts';

interface FakeHandle {
  id: number;
  closed: boolean;
}

/** An opener of fake handles that counts opens and closes. */
function fakes() {
  const made: FakeHandle[] = [];
  const opener = async (_inode: number, _mode: OpenMode): Promise<FileHandle> => {
    const h = { id: made.length, closed: false };
    made.push(h);
    const handle = { close: async () => { h.closed = true; }, id: h.id };
    return handle as unknown as FileHandle;
  };
  return { made, opener };
}

const idOf = (h: FileHandle): number => (h as unknown as { id: number }).id;

test('lazy open, shared handle, end of writes and reopen', async () => {
  const { made, opener } = fakes();
  const files = new OpenFiles(opener);
  const f = files.add(7, 'r+');
  assert.is(made.length, 0, 'nothing opened before use');
  const [a, b] = await Promise.all([f.use(async (h) => idOf(h)), f.use(async (h) => idOf(h))]);
  assert.equal([a, b, made.length], [0, 0, 1]);
  await f.endWrites();
  assert.is(made[0]!.closed, false, 'a clean handle stays open');
  f.noteWrite(4096, 100);
  assert.is(files.unendedLengthBytes(7), 4196);
  await f.endWrites();
  assert.is(made[0]!.closed, true, 'ending writes closes the handle');
  assert.is(files.unendedLengthBytes(7), 0);
  assert.is(await f.use(async (h) => idOf(h)), 1, 'the next use opens afresh');
  await f.reset();
  assert.is(made[1]!.closed, true, 'reset closes a clean handle too');
});

test('no close while an operation runs; release is final', async () => {
  const { made, opener } = fakes();
  const files = new OpenFiles(opener);
  const f = files.add(8, 'r');
  let finish!: () => void;
  const running = f.use(() => new Promise<void>((resolve) => { finish = resolve; }));
  await new Promise((r) => setImmediate(r));
  const closing = f.close();
  await new Promise((r) => setImmediate(r));
  assert.is(made[0]!.closed, false, 'waits for the running operation');
  finish();
  await running;
  await closing;
  assert.is(made[0]!.closed, true);
  const after = await f.use(async () => 'x').then(() => 'used', (e: Error) => e.message);
  assert.match(after, /EBADF/);
  files.remove(f);
  assert.is(files.isOpen(8), false);
  assert.throws(() => files.get(f.fh), /EBADF/);
});

test('per inode: other opens end their writes first', async () => {
  const { made, opener } = fakes();
  const files = new OpenFiles(opener);
  const writer = files.add(9, 'r+');
  const reader = files.add(9, 'r');
  const other = files.add(10, 'r+');
  await writer.use(async () => writer.noteWrite(0, 10));
  await other.use(async () => other.noteWrite(0, 10));
  await reader.use(async () => undefined);
  await files.endWrites(9, reader);
  assert.equal(made.map((h) => h.closed), [true, false, false],
    'only the writer of inode 9 ended its writes');
  assert.equal(files.ofInode(9).map((f) => f.fh).sort(), [writer.fh, reader.fh].sort());
  assert.is(files.all().length, 3);
});

test.run();
