// The antler CLI: global flags (-H host:port, --json), the command table, and how a run ends:
// exit 0 on success, 1 with "antler: CODE: message: context" on a failure, 2 on a usage error.
// Master address: -H, else $ANTLER_MASTER, else 127.0.0.1:9421; each may list several masters
// ("h1:9421,h2:9421"), tried in turn: the client keeps the active one.
import { Client } from '../index.ts';
import { parseArgs, UsageError, type FlagSpec, type ParsedArgs } from './args.ts';
import type { CliIo, Command, CommandContext } from './command.ts';
import { chunkInfo } from './commands/chunk-info.ts';
import { chunkserverList } from './commands/chunkserver-list.ts';
import { clusterSpace } from './commands/cluster-space.ts';
import { dirList } from './commands/dir-list.ts';
import { dirMake } from './commands/dir-make.ts';
import { dirRemove } from './commands/dir-remove.ts';
import { fileCat } from './commands/file-cat.ts';
import { fileGet } from './commands/file-get.ts';
import { fileLink } from './commands/file-link.ts';
import { fileMove } from './commands/file-move.ts';
import { filePut } from './commands/file-put.ts';
import { fileRemove } from './commands/file-remove.ts';
import { fileStat } from './commands/file-stat.ts';
import { goalGet } from './commands/goal-get.ts';
import { goalSet } from './commands/goal-set.ts';
import { metaloggerList } from './commands/metalogger-list.ts';
import { clusterHealth } from './commands/cluster-health.ts';
import { chunkserverDrain, chunkserverUndrain } from './commands/chunkserver-drain.ts';
import { trashtimeSet } from './commands/trashtime-set.ts';
import { errorLine } from './output.ts';

export const VERSION = '0.1.0';
const MASTER_DEFAULT = '127.0.0.1:9421';

export const COMMANDS: readonly Command[] = [
  filePut, fileGet, fileCat, dirList, fileStat, dirMake, fileRemove, dirRemove, fileMove, fileLink,
  goalSet, goalGet, trashtimeSet, chunkInfo, clusterSpace, chunkserverList, metaloggerList,
  clusterHealth, chunkserverDrain, chunkserverUndrain,
];

const GLOBAL_FLAGS: FlagSpec[] = [
  {
    long: 'host', short: 'H', value: 'host:port[,...]',
    doc: `master address(es) (default $ANTLER_MASTER or ${MASTER_DEFAULT})`,
  },
  { long: 'json', doc: 'print data as JSON' },
  { long: 'help', short: 'h', doc: 'show help' },
  { long: 'version', short: 'V', doc: 'print the version' },
];

export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    `antler ${VERSION}: the antlerfs command line`,
    '',
    'usage: antler [-H host:port[,host:port...]] [--json] COMMAND [ARGS...]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'options:',
    ...flagLines(GLOBAL_FLAGS),
    '',
    "Run 'antler COMMAND --help' for a command's arguments.",
    '',
  ].join('\n');
}

export function commandHelp(c: Command): string {
  const lines = [`usage: antler ${c.name}${c.usage ? ' ' + c.usage : ''}`, '', c.summary, ''];
  if (c.flags.length > 0) lines.push('options:', ...flagLines(c.flags), '');
  lines.push('global options:', ...flagLines(GLOBAL_FLAGS), '');
  return lines.join('\n');
}

function flagLines(flags: readonly FlagSpec[]): string[] {
  return flags.map((f) => {
    const name = `${f.short ? `-${f.short}, ` : '    '}--${f.long}${f.value ? ` ${f.value}` : ''}`;
    return `  ${name.padEnd(28)}${f.doc}`;
  });
}

/** Runs one CLI invocation; returns the exit status. Never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let command: Command | undefined;
  let client: Client | null = null;
  try {
    const split = splitCommand(argv);
    command = split.command;
    const args = parseArgs(split.rest, [...GLOBAL_FLAGS, ...(command?.flags ?? [])]);
    for (const [k, v] of split.globals.flags) if (!args.flags.has(k)) args.flags.set(k, v);
    if (args.flags.has('version')) {
      io.stdout.write(`antler ${VERSION}\n`);
      return 0;
    }
    if (command === undefined || args.flags.has('help')) {
      io.stdout.write(command === undefined ? mainHelp() : commandHelp(command));
      return command === undefined && !args.flags.has('help') ? 2 : 0;
    }
    checkCount(command, args);
    const hostFlag = args.flags.get('host');
    const master = typeof hostFlag === 'string' ? hostFlag : io.env.ANTLER_MASTER || MASTER_DEFAULT;
    const name = command.name;
    const ctx: CommandContext = {
      io,
      json: args.flags.has('json'),
      client: async () => (client ??= await Client.connect({ master, name: `antler ${name}` })),
      print: (text) => io.stdout.write(text + '\n'),
      printJson: (value) => io.stdout.write(JSON.stringify(value, null, 2) + '\n'),
    };
    await command.run(ctx, args);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      const hint = `Try 'antler ${command ? command.name + ' ' : ''}--help'.`;
      io.stderr.write(`antler: ${err.message}\n${hint}\n`);
      return 2;
    }
    if ((err as NodeJS.ErrnoException | undefined)?.code === 'EPIPE') return 0; // reader went away
    io.stderr.write(errorLine(err) + '\n');
    return 1;
  } finally {
    (client as Client | null)?.close();
  }
}

/** Global flags before the command, the command, and everything after it. */
function splitCommand(
  argv: readonly string[],
): { globals: ParsedArgs; command: Command | undefined; rest: string[] } {
  let i = 0;
  // Global flags come first; -H takes a value.
  while (i < argv.length && argv[i]!.startsWith('-') && argv[i] !== '-' && argv[i] !== '--') {
    const takesValue = argv[i] === '-H' || argv[i] === '--host';
    i += takesValue ? 2 : 1;
  }
  const globals = parseArgs(argv.slice(0, Math.min(i, argv.length)), GLOBAL_FLAGS);
  const name = argv[i];
  if (name === undefined) return { globals, command: undefined, rest: [] };
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    if (name === 'help') {
      const topic = COMMANDS.find((c) => c.name === argv[i + 1]);
      return { globals, command: topic, rest: ['--help'] };
    }
    throw new UsageError(`unknown command "${name}"`);
  }
  return { globals, command, rest: argv.slice(i + 1) };
}

function checkCount(c: Command, args: ParsedArgs): void {
  const n = args.positionals.length;
  const usage = `(usage: antler ${c.name} ${c.usage})`;
  if (n < c.positionalsMin) throw new UsageError(`${c.name}: missing arguments ${usage}`);
  if (n > c.positionalsMax) throw new UsageError(`${c.name}: too many arguments ${usage}`);
}
