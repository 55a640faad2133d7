// antler ln [-s] TARGET PATH: a hard link, or with -s a symlink holding TARGET as written.
import type { Command } from '../command.ts';

export const fileLink: Command = {
  name: 'ln',
  usage: '[-s] TARGET PATH',
  summary: 'make a hard link (or a symlink with -s)',
  flags: [{ long: 'symbolic', short: 's', doc: 'make a symlink' }],
  positionalsMin: 2,
  positionalsMax: 2,
  async run(ctx, args) {
    const [target, linkPath] = args.positionals as [string, string];
    const client = await ctx.client();
    if (args.flags.has('symbolic')) await client.symlink(target, linkPath);
    else await client.link(target, linkPath);
  },
};
