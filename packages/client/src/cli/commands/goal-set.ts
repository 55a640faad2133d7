// antler setgoal [-r] N PATH...: sets how many copies each chunk should have.
import { parseInteger } from '../args.ts';
import type { Command } from '../command.ts';

export const goalSet: Command = {
  name: 'setgoal',
  usage: '[-r] N PATH...',
  summary: 'set the goal (copies per chunk) of files and directories',
  flags: [{ long: 'recursive', short: 'r', doc: 'also everything under the directories' }],
  positionalsMin: 2,
  positionalsMax: Infinity,
  async run(ctx, args) {
    const [goalText, ...paths] = args.positionals as [string, ...string[]];
    const goal = parseInteger(goalText, 'goal', 1, 9);
    const client = await ctx.client();
    const recursive = args.flags.has('recursive');
    const out = [];
    for (const p of paths) {
      const changed = await client.setGoal(p, goal, { recursive });
      out.push({ path: p, goal, changed });
      if (!ctx.json) ctx.print(`${p}: ${goal}${recursive ? ` (${changed} changed)` : ''}`);
    }
    if (ctx.json) ctx.printJson(out);
  },
};
