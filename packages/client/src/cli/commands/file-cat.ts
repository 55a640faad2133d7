// antler cat PATH...: writes files to stdout one after another.
import { pipeline } from 'node:stream/promises';
import type { Client } from '../../index.ts';
import type { Command, CommandContext } from '../command.ts';

export const fileCat: Command = {
  name: 'cat',
  usage: 'PATH...',
  summary: 'write files to stdout',
  flags: [],
  positionalsMin: 1,
  positionalsMax: Infinity,
  async run(ctx, args) {
    const client = await ctx.client();
    for (const p of args.positionals) await copyToStdout(ctx, client, p);
  },
};

/** Streams one file to stdout, leaving stdout open for what follows. */
export async function copyToStdout(
  ctx: CommandContext, client: Client, remote: string,
): Promise<void> {
  await pipeline(client.createReadStream(remote), ctx.io.stdout, { end: false });
}
