// antler settrashtime [-r] SECONDS PATH...: how long deleted files stay in the trash.
import { parseInteger } from '../args.ts';
import type { Command } from '../command.ts';

export const trashtimeSet: Command = {
  name: 'settrashtime',
  usage: '[-r] SECONDS PATH...',
  summary: 'set how long deleted files stay in the trash',
  flags: [{ long: 'recursive', short: 'r', doc: 'also everything under the directories' }],
  positionalsMin: 2,
  positionalsMax: Infinity,
  async run(ctx, args) {
    const [secondsText, ...paths] = args.positionals as [string, ...string[]];
    const seconds = parseInteger(secondsText, 'SECONDS', 0, 0xffffffff);
    const client = await ctx.client();
    const recursive = args.flags.has('recursive');
    const out = [];
    for (const p of paths) {
      const changed = await client.setTrashtime(p, seconds, { recursive });
      out.push({ path: p, trashtimeS: seconds, changed });
      if (!ctx.json) ctx.print(`${p}: ${seconds}${recursive ? ` (${changed} changed)` : ''}`);
    }
    if (ctx.json) ctx.printJson(out);
  },
};
