// The cluster a run measures: one the bench starts on this machine through the test harness
// (3 chunkservers in a temporary folder, its daemons' pids known for CPU accounting), or an
// existing one named by its master's address, which the bench only connects to.
import fs from 'node:fs';
import { startCluster } from '@antlerfs/test/harness/cluster.ts';
import type { ClusterProcess } from './cpu-usage.ts';

export interface ClusterTarget {
  kind: 'own' | 'external';
  masterAddr: string;
  /** Chunkservers the bench started; null for an existing cluster. */
  chunkservers: number | null;
  /** host:port of the master's monitor, when the bench started the master. */
  monitorAddr: string | null;
  /** The daemons whose CPU time is measured (empty for an existing cluster). */
  processes: ClusterProcess[];
  stop(): Promise<void>;
}

export async function startOwnCluster(chunkservers: number): Promise<ClusterTarget> {
  const cluster = await startCluster({ chunkservers });
  const processes: ClusterProcess[] = [];
  if (cluster.master.child.pid !== undefined) {
    processes.push({ name: 'master', pid: cluster.master.child.pid });
  }
  cluster.chunkservers.forEach((cs, i) => {
    if (cs.child.pid !== undefined) processes.push({ name: `cs${i}`, pid: cs.child.pid });
  });
  // The harness keeps a failed run's folder for its logs; the chunk data (gigabytes) never
  // helps there, so it goes at exit in every case. Registered after the harness's own exit
  // hook, so the daemons are gone by then.
  const dataDirs = cluster.chunkservers.flatMap((cs) => cs.dataDirs);
  process.once('exit', () => {
    for (const dir of dataDirs) fs.rmSync(dir, { recursive: true, force: true });
  });
  const monitorPort = cluster.master.ready.monitorPort;
  return {
    kind: 'own', masterAddr: cluster.masterAddr, chunkservers, processes,
    monitorAddr: monitorPort === undefined ? null : `127.0.0.1:${monitorPort}`,
    stop: () => cluster.stop(),
  };
}

export function existingCluster(masterAddr: string): ClusterTarget {
  return {
    kind: 'external', masterAddr, chunkservers: null, processes: [], monitorAddr: null,
    stop: () => Promise.resolve(),
  };
}
