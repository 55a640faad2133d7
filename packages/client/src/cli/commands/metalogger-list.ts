// antler metaloggers: the metaloggers of the active master and how far each is behind it.
import type { MetaloggerInfo } from '../../index.ts';
import type { Command } from '../command.ts';

export const metaloggerList: Command = {
  name: 'metaloggers',
  usage: '',
  summary: "list the master's metaloggers: acked version, lag, sync",
  flags: [],
  positionalsMin: 0,
  positionalsMax: 0,
  async run(ctx) {
    const client = await ctx.client();
    const { metaVersion, metaloggers } = await client.metaloggers();
    if (ctx.json) {
      ctx.printJson({
        metaVersion, metaloggers: metaloggers.map((m) => ({ ...m, sync: m.sync !== 0 })),
      });
      return;
    }
    ctx.print(`master metadata version ${metaVersion}`);
    if (metaloggers.length === 0) {
      ctx.print('no metaloggers connected');
      return;
    }
    ctx.print('name                 host                 acked version   lag versions  lag ms' +
      '      sync');
    for (const m of metaloggers) ctx.print(row(m));
  },
};

function row(m: MetaloggerInfo): string {
  return [
    m.name.padEnd(21), m.host.padEnd(21), String(m.ackedVersion).padEnd(16),
    String(m.lagVersions).padEnd(14), String(m.lagMs).padEnd(12), m.sync !== 0 ? 'yes' : 'no',
  ].join('');
}
