// antler df: space of the whole cluster as the master counts it.
import type { Command } from '../command.ts';
import { formatBytes } from '../output.ts';

export const clusterSpace: Command = {
  name: 'df',
  usage: '',
  summary: 'show the space, inodes and chunks of the cluster',
  flags: [],
  positionalsMin: 0,
  positionalsMax: 0,
  async run(ctx) {
    const client = await ctx.client();
    const s = await client.statfs();
    if (ctx.json) {
      ctx.printJson(s);
      return;
    }
    const pct = s.totalBytes > 0 ? `${Math.round((s.usedBytes / s.totalBytes) * 100)}%` : '-';
    ctx.print('total       used        available   use%  inodes      chunks      chunkservers');
    ctx.print([formatBytes(s.totalBytes), formatBytes(s.usedBytes), formatBytes(s.availBytes), pct,
      String(s.inodes), String(s.chunks), String(s.chunkservers)]
      .map((c, i) => (i === 3 ? c.padEnd(6) : c.padEnd(12))).join('').trimEnd());
  },
};
