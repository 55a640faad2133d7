// antler fileinfo PATH...: each chunk of a file with its id, version and the chunkservers
// that hold a valid copy.
import type { FileInfo } from '../../index.ts';
import type { Command, CommandContext } from '../command.ts';

export const chunkInfo: Command = {
  name: 'fileinfo',
  usage: 'PATH...',
  summary: 'show the chunks of files and where their copies are',
  flags: [],
  positionalsMin: 1,
  positionalsMax: Infinity,
  async run(ctx, args) {
    const client = await ctx.client();
    const out = [];
    for (const p of args.positionals) {
      const info = await client.fileInfo(p);
      out.push({ path: p, ...info });
      if (!ctx.json) printInfo(ctx, p, info);
    }
    if (ctx.json) ctx.printJson(out.length === 1 ? out[0] : out);
  },
};

function hex(n: number, digits: number): string {
  return n.toString(16).toUpperCase().padStart(digits, '0');
}

function printInfo(ctx: CommandContext, path: string, info: FileInfo): void {
  const { inode, length, goal, chunks } = info;
  ctx.print(`${path}: inode ${inode}, ${length} bytes, goal ${goal}, ${chunks.length} chunks`);
  for (const c of chunks) {
    const name = `${hex(c.chunkId, 16)}_${hex(c.version, 8)}`;
    ctx.print(`\tchunk ${c.index}: ${name} (id ${c.chunkId}, version ${c.version})`);
    if (c.locations.length === 0) ctx.print('\t\tno valid copies');
    c.locations.forEach((l, i) => {
      ctx.print(`\t\tcopy ${i + 1}: ${l.host}:${l.port} (chunkserver ${l.csId})`);
    });
  }
}
