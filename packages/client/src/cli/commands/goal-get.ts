// antler getgoal [-r] PATH...: the goal of paths; with -r, how many files and directories
// under each path have each goal.
import { InodeType, type Client } from '../../index.ts';
import type { Command } from '../command.ts';
import { walkTree } from '../tree-walk.ts';

export const goalGet: Command = {
  name: 'getgoal',
  usage: '[-r] PATH...',
  summary: 'show the goal of files and directories',
  flags: [{ long: 'recursive', short: 'r', doc: 'count the goals of everything under each path' }],
  positionalsMin: 1,
  positionalsMax: Infinity,
  async run(ctx, args) {
    const client = await ctx.client();
    const out: Record<string, unknown>[] = [];
    for (const p of args.positionals) {
      if (!args.flags.has('recursive')) {
        const goal = await client.getGoal(p);
        out.push({ path: p, goal });
        if (!ctx.json) ctx.print(`${p}: ${goal}`);
        continue;
      }
      const { files, directories } = await countGoals(client, p);
      const directoriesJson = Object.fromEntries(directories);
      out.push({ path: p, files: Object.fromEntries(files), directories: directoriesJson });
      if (ctx.json) continue;
      ctx.print(`${p}:`);
      for (const [goal, n] of files) ctx.print(` files with goal ${goal}: ${n}`);
      for (const [goal, n] of directories) ctx.print(` directories with goal ${goal}: ${n}`);
    }
    if (ctx.json) ctx.printJson(out);
  },
};

type GoalCounts = [goal: number, count: number][];

async function countGoals(
  client: Client, root: string,
): Promise<{ files: GoalCounts; directories: GoalCounts }> {
  const files = new Map<number, number>();
  const dirs = new Map<number, number>();
  await walkTree(client, root, false, async (e) => {
    const counts = e.attr.type === InodeType.DIR ? dirs : files;
    counts.set(e.attr.goal, (counts.get(e.attr.goal) ?? 0) + 1);
  });
  const sorted = (m: Map<number, number>): GoalCounts => [...m].sort((a, b) => a[0] - b[0]);
  return { files: sorted(files), directories: sorted(dirs) };
}
