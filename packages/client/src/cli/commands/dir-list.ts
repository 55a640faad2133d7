// antler ls [-l] [PATH]: the entries of a directory (or the file itself), with -l as ls -l.
import { InodeType, type Attr, type Client, type DirEntry } from '../../index.ts';
import type { Command } from '../command.ts';
import { attrJson, formatMode, formatTime } from '../output.ts';

export const dirList: Command = {
  name: 'ls',
  usage: '[-l] [PATH]',
  summary: 'list a directory',
  flags: [{ long: 'long', short: 'l', doc: 'mode, links, owner, size, time and name' }],
  positionalsMin: 0,
  positionalsMax: 1,
  async run(ctx, args) {
    const client = await ctx.client();
    const target = args.positionals[0] ?? '/';
    const isDir = (await client.stat(target)).type === InodeType.DIR;
    const entries: DirEntry[] = isDir
      ? await client.readdir(target)
      : [{ name: target, attr: await client.lstat(target) }];
    if (ctx.json) {
      ctx.printJson(entries.map((e) => ({ name: e.name, ...attrJson(e.attr) })));
      return;
    }
    if (!args.flags.has('long')) {
      for (const e of entries) ctx.print(e.name);
      return;
    }
    const width = Math.max(1, ...entries.map((e) => String(e.attr.length).length));
    for (const e of entries) {
      const path = isDir ? `${target.replace(/\/+$/, '')}/${e.name}` : target;
      ctx.print(longLine(await shownName(client, e, path), e.attr, width));
    }
  },
};

/** The name, with " -> target" for a symlink as ls -l shows it. */
async function shownName(client: Client, e: DirEntry, path: string): Promise<string> {
  if (e.attr.type !== InodeType.SYMLINK) return e.name;
  return `${e.name} -> ${await client.readlink(path)}`;
}

function longLine(name: string, a: Attr, sizeWidth: number): string {
  const owner = `${String(a.uid).padStart(5)} ${String(a.gid).padStart(5)}`;
  const size = String(a.length).padStart(sizeWidth);
  const mode = formatMode(a.type, a.mode);
  return `${mode} ${String(a.nlink).padStart(3)} ${owner} ${size} ${formatTime(a.mtimeMs)} ${name}`;
}
