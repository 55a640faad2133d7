// antler drain CSID / antler undrain CSID: marks a chunkserver for removal (its chunks are
// copied elsewhere first; `antler health` says when it is safe to switch off), or clears it.
import { parseInteger } from '../args.ts';
import type { Command } from '../command.ts';

function drainCommand(name: string, drain: boolean): Command {
  return {
    name,
    usage: 'CSID',
    summary: drain ? 'mark a chunkserver for removal: copy its chunks elsewhere first'
      : 'clear the removal mark of a chunkserver',
    flags: [],
    positionalsMin: 1,
    positionalsMax: 1,
    async run(ctx, args) {
      const csId = parseInteger(args.positionals[0]!, 'chunkserver id', 1, 0xffffffff);
      const client = await ctx.client();
      await client.drainChunkserver(csId, drain);
      if (ctx.json) ctx.printJson({ csId, drain });
      else ctx.print(drain ? `chunkserver ${csId}: draining (see antler health)`
        : `chunkserver ${csId}: drain mark cleared`);
    },
  };
}

export const chunkserverDrain = drainCommand('drain', true);
export const chunkserverUndrain = drainCommand('undrain', false);
