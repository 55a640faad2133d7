// antler stat PATH...: every attribute of a path (a symlink itself, with its target).
import { InodeType } from '../../index.ts';
import type { Command } from '../command.ts';
import { attrJson, formatMode, formatTime, octal, typeName } from '../output.ts';

export const fileStat: Command = {
  name: 'stat',
  usage: 'PATH...',
  summary: 'show the attributes of paths',
  flags: [],
  positionalsMin: 1,
  positionalsMax: Infinity,
  async run(ctx, args) {
    const client = await ctx.client();
    const out: Record<string, unknown>[] = [];
    for (const p of args.positionals) {
      const a = await client.lstat(p);
      const target = a.type === InodeType.SYMLINK ? await client.readlink(p) : undefined;
      if (ctx.json) {
        out.push({ path: p, ...attrJson(a), ...(target === undefined ? {} : { target }) });
        continue;
      }
      ctx.print([
        `  path: ${p}${target === undefined ? '' : ` -> ${target}`}`,
        `  type: ${typeName(a.type)}   inode: ${a.inode}   links: ${a.nlink}`,
        `  size: ${a.length}   goal: ${a.goal}   trashtime: ${a.trashtimeS} s`,
        `  mode: ${octal(a.mode)} (${formatMode(a.type, a.mode)})   uid: ${a.uid}   gid: ${a.gid}`,
        `access: ${formatTime(a.atimeMs)}`,
        `modify: ${formatTime(a.mtimeMs)}`,
        `change: ${formatTime(a.ctimeMs)}`,
      ].join('\n'));
    }
    if (ctx.json) ctx.printJson(out.length === 1 ? out[0] : out);
  },
};
