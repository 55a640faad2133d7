// antler health: is every chunk at its goal? The chunk matrix, the replication and deletion
// queues with progress and rate, and each chunkserver's space, state and drain progress.
import type { HealthReport } from '../../index.ts';
import type { Command } from '../command.ts';
import { formatBytes } from '../output.ts';

export const clusterHealth: Command = {
  name: 'health',
  usage: '',
  summary: 'chunk copies against goals, replication progress, chunkserver states',
  flags: [],
  positionalsMin: 0,
  positionalsMax: 0,
  async run(ctx) {
    const client = await ctx.client();
    const h = await client.health();
    if (ctx.json) {
      ctx.printJson(h);
      return;
    }
    for (const line of healthLines(h)) ctx.print(line);
  },
};

export function healthLines(h: HealthReport): string[] {
  const c = h.classes;
  const lines = [
    `${h.healthy ? 'healthy' : 'NOT HEALTHY'}: lost ${c.lost ?? 0}, endangered ` +
      `${c.endangered ?? 0}, undergoal ${c.undergoal ?? 0}, stable ${c.stable ?? 0}, ` +
      `overgoal ${c.overgoal ?? 0}`,
    'chunks by goal and valid copies:',
  ];
  for (const [goal, row] of Object.entries(h.matrix)) {
    const cells = row.map((n, copies) => (n > 0 ? `${copies}:${n}` : '')).filter((x) => x);
    lines.push(`  goal ${goal}  ${cells.join('  ')}`);
  }
  const r = h.replication;
  lines.push(`replication: queue ${r.queue}, running ${r.running}, done ${r.done}, failed ` +
    `${r.failed}, ${r.progressPercent}% done, ${formatBytes(r.rateBytesPerSecond)}/s`);
  lines.push(`deletion queue: ${h.deletionQueue.length}`);
  lines.push('id     address                state     used%   copies   drain');
  for (const s of h.chunkservers) {
    const drain = s.safeToRemove ? 'done: safe to switch off'
      : s.draining ? `${s.drainPending} chunks still depend on it` : '-';
    lines.push([
      String(s.csId).padEnd(7), s.address.padEnd(23), s.state.padEnd(10),
      `${s.usagePercent}%`.padEnd(8), String(s.copies).padEnd(9), drain,
    ].join(''));
  }
  return lines;
}
