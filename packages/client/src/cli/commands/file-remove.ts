// antler rm [-r] PATH...: removes files and symlinks; -r removes directories with everything
// in them (deepest first, walked without recursion).
import { FsError, InodeType } from '../../index.ts';
import type { Command } from '../command.ts';
import { walkTree } from '../tree-walk.ts';

export const fileRemove: Command = {
  name: 'rm',
  usage: '[-r] PATH...',
  summary: 'remove files (and with -r, directories and their contents)',
  flags: [{ long: 'recursive', short: 'r', doc: 'remove directories and their contents' }],
  positionalsMin: 1,
  positionalsMax: Infinity,
  async run(ctx, args) {
    const client = await ctx.client();
    const recursive = args.flags.has('recursive');
    for (const p of args.positionals) {
      const attr = await client.lstat(p);
      if (attr.type !== InodeType.DIR) {
        await client.unlink(p);
        continue;
      }
      if (!recursive) throw new FsError('EISDIR', `${p} (use rm -r)`);
      await walkTree(client, p, true, async (e) => {
        if (e.attr.type === InodeType.DIR) await client.rmdir(e.path);
        else await client.unlink(e.path);
      });
    }
  },
};
