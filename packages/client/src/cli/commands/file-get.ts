// antler get REMOTE LOCAL: copies a file out of antlerfs to a local file ("-" for stdout). The
// local file is written under a temporary name and renamed when complete, so a failed get
// leaves no partial file. When LOCAL is a directory the file keeps its remote name.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FsError, InodeType } from '../../index.ts';
import type { Command } from '../command.ts';
import { Progress } from '../progress.ts';
import { localError } from '../local-file.ts';
import { copyToStdout } from './file-cat.ts';

const PROGRESS_MIN_BYTES = 8 * 1024 * 1024;

export const fileGet: Command = {
  name: 'get',
  usage: 'REMOTE LOCAL',
  summary: 'copy a file out of antlerfs to a local file ("-" for stdout)',
  flags: [],
  positionalsMin: 2,
  positionalsMax: 2,
  async run(ctx, args) {
    const [remote, localArg] = args.positionals as [string, string];
    const client = await ctx.client();
    const attr = await client.stat(remote);
    if (attr.type === InodeType.DIR) throw new FsError('EISDIR', remote);
    if (localArg === '-') {
      await copyToStdout(ctx, client, remote);
      return;
    }
    let local = localArg;
    const st = await fs.promises.stat(local).catch(() => null); // absent: local is the new name
    if (st?.isDirectory()) local = path.join(local, path.basename(remote));
    const random = crypto.randomBytes(4).toString('hex');
    const partial = path.join(path.dirname(local), `.${path.basename(local)}.antler-${random}`);
    const progress = ctx.io.stderrIsTty && attr.length > PROGRESS_MIN_BYTES
      ? new Progress(ctx.io.stderr, attr.length, path.basename(local))
      : null;
    try {
      const source = client.createReadStream(remote);
      const sink = fs.createWriteStream(partial);
      if (progress === null) await pipeline(source, sink);
      else await pipeline(source, counter(progress), sink);
      await fs.promises.rename(partial, local);
    } catch (err) {
      await fs.promises.rm(partial, { force: true });
      throw localError(err, local);
    } finally {
      progress?.finish();
    }
    if (ctx.json) ctx.printJson({ path: local, bytes: attr.length });
  },
};

function counter(progress: Progress): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      progress.add(chunk.length);
      done(null, chunk);
    },
  });
}
