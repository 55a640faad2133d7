// `antler-metalogger promote`: readies a metalogger's folder to become a master's DATA_PATH.
// It stops nothing: a metalogger still running on the folder is named and must be stopped
// first. It runs the master's recovery in place (as antler-metarestore does: newest dump,
// every record after it, a torn tail cut), writes a fresh dump at the newest version and
// prints the exact antler-master command that serves the namespace from there.
import path from 'node:path';
import type { Logger } from '@antlerfs/protocol';
import {
  RestoreError, formatRestoreReport, lockHolder, restoreMetadata, type RestoreReport,
} from '../restore.ts';

export interface PromoteOptions {
  dataPath: string;
  backMetaKeepPrevious: number;
  log: Logger;
}

export interface Promotion {
  report: RestoreReport;
  /** The command line that starts a master on the folder. */
  command: string;
}

/** Quotes a path for a POSIX shell only when it needs it. */
function shellWord(text: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

export async function promoteFolder(opts: PromoteOptions): Promise<Promotion> {
  const dir = path.resolve(opts.dataPath);
  const pid = lockHolder(dir);
  if (pid !== null) {
    throw new RestoreError(`a daemon (pid ${pid}) still runs on ${dir}: stop it first ` +
      `(kill -TERM ${pid}); a metalogger keeps following its master until then`);
  }
  const report = await restoreMetadata({
    dataPath: dir, outputPath: null, check: false,
    backMetaKeepPrevious: opts.backMetaKeepPrevious, log: opts.log,
  });
  return { report, command: `antler-master --data-path ${shellWord(dir)}` };
}

export function formatPromotion(p: Promotion): string {
  return [
    formatRestoreReport(p.report, 'antler-metalogger promote').trimEnd(),
    '',
    `The folder is ready to serve as a master's DATA_PATH at version ${p.report.finalVersion}.`,
    'Start the master on it (add -c FILE for the rest of your master configuration):',
    '',
    `  ${p.command}`,
    '',
    'then point clients, chunkservers and metaloggers (MASTER_HOST) at this host.',
    '',
  ].join('\n');
}
