// antler put LOCAL REMOTE [--goal N]: copies a local file (or stdin, "-") into antlerfs with
// the client's atomic writeFile; a progress bar on a terminal for files over 8 MiB. When
// REMOTE is a directory the file keeps its local name.
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { FsError, InodeType } from '../../index.ts';
import { parseInteger } from '../args.ts';
import type { Command } from '../command.ts';
import { Progress } from '../progress.ts';
import { localError } from '../local-file.ts';

/** Files larger than this get a progress bar on a terminal. */
const PROGRESS_MIN_BYTES = 8 * 1024 * 1024;
/** Local read size: large reads, each handed to the client without a copy. */
const LOCAL_READ_BYTES = 4 * 1024 * 1024;

export const filePut: Command = {
  name: 'put',
  usage: 'LOCAL REMOTE [--goal N]',
  summary: 'copy a local file ("-" for stdin) into antlerfs',
  flags: [{ long: 'goal', short: 'g', value: 'N', doc: 'copies of each chunk of the new file' }],
  positionalsMin: 2,
  positionalsMax: 2,
  async run(ctx, args) {
    const [local, remoteArg] = args.positionals as [string, string];
    const goalFlag = args.flags.get('goal');
    const goal = typeof goalFlag === 'string' ? parseInteger(goalFlag, '--goal', 1, 9) : undefined;
    let sizeBytes = -1;
    if (local !== '-') {
      try {
        const st = await fs.promises.stat(local);
        if (st.isDirectory()) throw new FsError('EISDIR', local);
        sizeBytes = st.size;
      } catch (err) {
        throw localError(err, local);
      }
    }
    const client = await ctx.client();
    let remote = remoteArg;
    const existing = await client.stat(remote).catch(() => null); // absent: remote is the new name
    if (existing?.type === InodeType.DIR) {
      if (local === '-') {
        throw new FsError('EISDIR', `${remote} (name the file when reading stdin)`);
      }
      remote = `${remote.replace(/\/+$/, '')}/${path.basename(local)}`;
    }
    const source: Readable = local === '-'
      ? ctx.io.stdin
      : fs.createReadStream(local, { highWaterMark: LOCAL_READ_BYTES });
    source.on('error', () => undefined); // reported through the iteration below
    const progress = ctx.io.stderrIsTty && sizeBytes > PROGRESS_MIN_BYTES
      ? new Progress(ctx.io.stderr, sizeBytes, path.basename(remote))
      : null;
    const data = progress === null ? source : Readable.from(counted(source, progress));
    try {
      await client.writeFile(remote, data, { goal });
    } catch (err) {
      if (err instanceof FsError && err.context.includes(remote)) throw err;
      throw localError(err, local === '-' ? 'stdin' : local);
    } finally {
      progress?.finish();
    }
    if (ctx.json) ctx.printJson({ path: remote, bytes: (await client.stat(remote)).length });
  },
};

async function* counted(source: Readable, progress: Progress): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    progress.add((chunk as Buffer).length);
    yield chunk as Buffer;
  }
}
