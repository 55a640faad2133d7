// antler mv SRC DST: renames; into DST/name when DST is an existing directory.
import path from 'node:path';
import { InodeType } from '../../index.ts';
import type { Command } from '../command.ts';

export const fileMove: Command = {
  name: 'mv',
  usage: 'SRC DST',
  summary: 'rename or move a file or directory',
  flags: [],
  positionalsMin: 2,
  positionalsMax: 2,
  async run(ctx, args) {
    const [src, dstArg] = args.positionals as [string, string];
    const client = await ctx.client();
    const dst = await client.stat(dstArg).catch(() => null); // absent: DST is the new name
    const intoDir = dst?.type === InodeType.DIR;
    const target = intoDir ? path.posix.join(dstArg, path.posix.basename(src)) : dstArg;
    await client.rename(src, target);
  },
};
