// Shared by the master's tests: temporary folders, a canonical view of the metadata for
// comparing two states, captured log lines, and a random workload of changes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InodeType, SetAttr } from '@antlerfs/protocol';
import type { Change } from '../src/change.ts';
import { CHANGELOG_HEADER_BYTES, RECORD_HEAD_BYTES } from '../src/changelog.ts';
import type { Node } from '../src/inode-table.ts';
import type { Metadata } from '../src/metadata.ts';
import type { MetaStore } from '../src/meta-store.ts';

const made: string[] = [];

/**
 * A changelog file's bytes up to the end of its records: a writer that has not closed the file
 * keeps zeros after them (see PREPARE_BYTES).
 */
export function changelogRecords(file: string): Buffer {
  const bytes = fs.readFileSync(file);
  let o = CHANGELOG_HEADER_BYTES;
  while (o + RECORD_HEAD_BYTES <= bytes.length && bytes.readUInt32BE(o) !== 0) {
    o += RECORD_HEAD_BYTES + bytes.readUInt32BE(o);
  }
  return bytes.subarray(0, Math.min(o, bytes.length));
}

/** Writes `garbage` just after the records of a changelog file: a torn last write. */
export function tearChangelog(file: string, garbage: Buffer): number {
  const end = changelogRecords(file).length;
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, garbage, 0, garbage.length, end);
  } finally {
    fs.closeSync(fd);
  }
  return end;
}

/** Flips a bit of the record byte in the middle of a changelog file's records. */
export function flipMidRecords(file: string): void {
  const bytes = fs.readFileSync(file);
  bytes[changelogRecords(file).length >> 1]! ^= 0x10;
  fs.writeFileSync(file, bytes);
}

export function tempDir(prefix = 'antler-master-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

export function removeTempDirs(): void {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

function describeNode(n: Node): unknown[] {
  const base = [
    n.inode, n.type, n.mode, n.uid, n.gid, n.atimeMs, n.mtimeMs, n.ctimeMs, n.nlink, n.goal,
    n.trashtimeS,
  ];
  if (n.type === InodeType.FILE) {
    return [...base, n.lengthBytes, [...n.chunks].sort((a, b) => a[0] - b[0])];
  }
  if (n.type === InodeType.SYMLINK) return [...base, n.target];
  return [...base, n.parent, [...n.children].sort((a, b) => (a[0] < b[0] ? -1 : 1))];
}

/** Everything persistent in the metadata, in a fixed order, as JSON. */
export function canonical(md: Metadata): string {
  const nodes = [...md.namespace.inodes.values()].sort((a, b) => a.inode - b.inode);
  const chunks = [...md.chunks.values()].filter((c) => !c.deleting)
    .map((c) => [c.id, c.version, c.refs]).sort((a, b) => a[0]! - b[0]!);
  const requests = [...md.requests.windows()].map(([clientId, entries]) => [
    clientId.toString(16), entries.map((e) => [e.requestId, e.version, e.kind, e.changed, e.attr]),
  ]);
  return JSON.stringify({
    version: md.version, clusterId: md.clusterId, nextInode: md.nextInode,
    chunkIdLimit: md.chunkIdLimit, nextCsId: md.nextCsId,
    csIds: [...md.csIds].sort((a, b) => a - b), nodes: nodes.map(describeNode), chunks, requests,
  });
}

/** Runs `fn` and returns what it logged (Logger writes lines to stdout). */
export async function captureLog(fn: () => Promise<void> | void): Promise<string[]> {
  const lines: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array): boolean => {
    lines.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    await fn();
  } finally {
    process.stdout.write = write;
  }
  return lines;
}

export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** One random change (maybe invalid: POSIX may refuse it) against the current tree. */
async function randomChange(
  store: MetaStore, i: number, timeMs: number, random: () => number,
): Promise<Change> {
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
  const nodes = [...store.md.namespace.inodes.values()];
  const dirs = nodes.filter((n) => n.type === InodeType.DIR);
  const files = nodes.filter((n) => n.type === InodeType.FILE);
  const dir = pick(dirs);
  const entries = [...dir.children.keys()];
  const r = random();
  if (r < 0.3 || entries.length === 0) {
    const kind = random();
    const type = kind < 0.3 ? InodeType.DIR : kind < 0.9 ? InodeType.FILE : InodeType.SYMLINK;
    const target = type === InodeType.SYMLINK ? `/t${i}` : '';
    return {
      kind: 'create', parent: dir.inode, name: `n${i}`, inode: store.nextInode(), type,
      mode: 0o640, uid: i % 5, gid: 1, timeMs, target,
    };
  }
  if (r < 0.4 && files.length > 0) {
    const f = pick(files);
    const chunkIndex = Math.floor(random() * 4);
    const existing = f.chunks.get(chunkIndex);
    const chunkId = existing ?? await store.allocateChunkId();
    const version = existing === undefined ? 1 : store.md.chunks.live(existing)!.version + 1;
    return { kind: 'writeChunk', inode: f.inode, chunkIndex, chunkId, version };
  }
  const length = Math.floor(random() * 2 ** 28);
  if (r < 0.5 && files.length > 0) {
    return { kind: 'writeEnd', inode: pick(files).inode, length, timeMs };
  }
  if (r < 0.55 && files.length > 0) {
    const inode = pick(files).inode;
    return { kind: 'truncate', inode, length: length >> 1, timeMs, cutChunkId: 0, cutVersion: 0 };
  }
  if (r < 0.65) return { kind: 'unlink', parent: dir.inode, name: pick(entries), timeMs };
  if (r < 0.7) return { kind: 'rmdir', parent: dir.inode, name: pick(entries), timeMs };
  if (r < 0.79) {
    const dstName = random() < 0.5 ? `m${i}` : pick(entries);
    return {
      kind: 'rename', srcParent: dir.inode, srcName: pick(entries), dstParent: pick(dirs).inode,
      dstName, timeMs,
    };
  }
  if (r < 0.82) {
    const other = pick(dirs);
    const otherEntries = [...other.children.keys()];
    return {
      kind: 'exchange', srcParent: dir.inode, srcName: pick(entries), dstParent: other.inode,
      dstName: otherEntries.length > 0 ? pick(otherEntries) : pick(entries), timeMs,
    };
  }
  if (r < 0.88 && files.length > 0) {
    const inode = pick(files).inode;
    return { kind: 'link', inode, parent: pick(dirs).inode, name: `l${i}`, timeMs };
  }
  if (r < 0.94) {
    return {
      kind: 'setattr', inode: pick(nodes).inode, setMask: SetAttr.MODE | SetAttr.MTIME,
      mode: i & 0o777, uid: 0, gid: 0, atimeMs: 0, mtimeMs: timeMs - 5, timeMs,
    };
  }
  return { kind: 'setGoal', inode: dir.inode, goal: 1 + (i % 5), recursive: 1, timeMs };
}

/**
 * Applies `count` random changes through the store (creates, mkdirs, links, renames, exchanges,
 * unlinks, setattr, chunk writes, truncates, goals), awaiting each one's durability. Changes POSIX
 * refuses are skipped. Every other change is made for one of three retrying clients (an
 * origin), so the applied-request windows fill too.
 */
export async function randomWorkload(
  store: MetaStore, count: number, random: () => number,
): Promise<void> {
  let timeMs = 1_700_000_000_000;
  for (let i = 0; i < count; i++) {
    timeMs += 7;
    const change = await randomChange(store, i, timeMs, random);
    if (i % 2 === 0) change.origin = { clientId: BigInt(1 + (i % 3)), requestId: i };
    try {
      await store.commit(change).durable;
    } catch (err) {
      if ((err as Error).name !== 'FsError') throw err;
    }
  }
}
