// What each figure is aimed at: MooseFS 3.0.117 through its FUSE mount on a 2-core machine
// (master, 3 chunkservers and the client on one host), and our target of 1.2 x that figure.
// The same reference applies to the client library's figure and to the mount's figure of the
// same workload. Where MooseFS gave a range, the target is 1.2 x its upper end. Two goals are
// not MooseFS figures but stated directly: the master's memory per million files (a ceiling)
// and the client library's goal-1 write at 80 % of the raw disk write.
import { assert } from '@antlerfs/protocol';

export const TARGET_FACTOR = 1.2;
export const REFERENCE_NAME = 'MooseFS 3.0.117 through its FUSE mount on a 2-core machine';
const MB_PER_MIB = 1.048576;

export type Better = 'higher' | 'lower';

export interface Reference {
  /** The MooseFS figure in the figure's unit (upper end of a range); null for a stated goal. */
  mooseFs: number | null;
  /** As MooseFS's figure was given, e.g. '230-300 MiB/s'. */
  source: string;
  /** TARGET_FACTOR x mooseFs, or the stated goal. */
  target: number;
  better: Better;
  /** Smallest ratio to the figure's limit also asked for, if any. */
  ratioMin?: number;
}

interface Row {
  ids: string[];
  /** MooseFS's figure in the figure's unit (MB/s figures converted from MiB/s). */
  mooseFs: number | null;
  source: string;
  better?: Better;
  /** For a stated goal (mooseFs null): the target itself. */
  goal?: number;
  ratioMin?: number;
}

const GOALS = [1, 2, 3] as const;
const METADATA_KINDS = ['create', 'stat', 'rename', 'unlink'] as const;

/** Library and mount ids of one workload. */
function both(id: string): string[] {
  return [id, `fuse.${id}`];
}

const SEQ_WRITE_MIB: Record<(typeof GOALS)[number], { high: number; source: string }> = {
  1: { high: 600, source: '600 MiB/s' },
  2: { high: 300, source: '230-300 MiB/s' },
  3: { high: 167, source: '155-167 MiB/s' },
};
const SEQ_READ_MIB = { high: 740, source: '565-740 MiB/s (caches dropped)' };
const METADATA_OPS: Record<(typeof METADATA_KINDS)[number], number> = {
  create: 2900, stat: 8300, rename: 2800, unlink: 3700,
};

const ROWS: Row[] = [
  ...GOALS.map((g): Row => ({
    ids: both(`seq-write.goal${g}`), mooseFs: SEQ_WRITE_MIB[g].high * MB_PER_MIB,
    source: SEQ_WRITE_MIB[g].source,
    // The library's own goal: a goal-1 write at 80 % of what the disk takes.
    ...(g === 1 ? { ratioMin: 0.8 } : {}),
  })),
  ...GOALS.map((g): Row => ({
    ids: both(`seq-read.goal${g}`), mooseFs: SEQ_READ_MIB.high * MB_PER_MIB,
    source: SEQ_READ_MIB.source,
  })),
  ...METADATA_KINDS.map((k): Row => ({
    ids: [`metadata.${k}.c1`, `fuse.metadata.${k}`], mooseFs: METADATA_OPS[k],
    source: `${METADATA_OPS[k]} ${k}s/s, one thread`,
  })),
  { ids: both('small-files.write'), mooseFs: 608, source: '608 files/s of 64 KiB' },
  { ids: both('small-files.read'), mooseFs: 1561, source: '1561 files/s of 64 KiB' },
  { ids: both('random-read.4k'), mooseFs: 9000, source: '9k IOPS, iodepth 8' },
  { ids: ['master-memory.rss'], mooseFs: null, goal: 350, better: 'lower',
    source: 'at most 350 MiB per million files' },
];

function referenceOf(row: Row): Reference {
  const better = row.better ?? 'higher';
  const target = row.mooseFs !== null ? row.mooseFs * TARGET_FACTOR : row.goal;
  assert(target !== undefined && target > 0, `a target for ${row.ids[0]}`);
  return {
    mooseFs: row.mooseFs, source: row.source, target, better,
    ...(row.ratioMin !== undefined ? { ratioMin: row.ratioMin } : {}),
  };
}

const BY_ID: ReadonlyMap<string, Reference> = (() => {
  const m = new Map<string, Reference>();
  for (const row of ROWS) {
    const ref = referenceOf(row);
    for (const id of row.ids) {
      assert(!m.has(id), `one reference per figure: ${id}`);
      m.set(id, ref);
    }
  }
  return m;
})();

/** The reference of a figure id, or undefined for figures MooseFS gave no number for. */
export function referenceFor(id: string): Reference | undefined {
  return BY_ID.get(id);
}

/** Every figure id that has a reference (for tests and the report's legend). */
export function referencedIds(): string[] {
  return [...BY_ID.keys()];
}

/** Whether `value` (and its ratio to its limit, when asked for) meets the reference's target. */
export function meetsTarget(ref: Reference, value: number, ratio: number | undefined): boolean {
  const valueMet = ref.better === 'higher' ? value >= ref.target : value <= ref.target;
  if (ref.ratioMin === undefined) return valueMet;
  return valueMet && ratio !== undefined && ratio >= ref.ratioMin;
}
