// antler mkdir [-p] PATH...: makes directories; -p makes missing parents and accepts existing.
import type { Command } from '../command.ts';

export const dirMake: Command = {
  name: 'mkdir',
  usage: '[-p] PATH...',
  summary: 'make directories',
  flags: [{ long: 'parents', short: 'p', doc: 'make missing parents; no error if existing' }],
  positionalsMin: 1,
  positionalsMax: Infinity,
  async run(ctx, args) {
    const client = await ctx.client();
    const recursive = args.flags.has('parents');
    for (const p of args.positionals) await client.mkdir(p, { recursive });
  },
};
