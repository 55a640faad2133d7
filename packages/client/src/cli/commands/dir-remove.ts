// antler rmdir PATH...: removes empty directories.
import type { Command } from '../command.ts';

export const dirRemove: Command = {
  name: 'rmdir',
  usage: 'PATH...',
  summary: 'remove empty directories',
  flags: [],
  positionalsMin: 1,
  positionalsMax: Infinity,
  async run(ctx, args) {
    const client = await ctx.client();
    for (const p of args.positionals) await client.rmdir(p);
  },
};
