// What a CLI command is: its name, usage line, flags, argument count and the function that
// runs it, plus the context it runs in (streams, the --json switch, a lazily connected Client).
import type { Readable, Writable } from 'node:stream';
import type { Client } from '../index.ts';
import type { FlagSpec, ParsedArgs } from './args.ts';

export interface CliIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  env: Record<string, string | undefined>;
  /** Progress bars are drawn only on a terminal. */
  stderrIsTty: boolean;
}

export interface CommandContext {
  io: CliIo;
  json: boolean;
  /** Connects on first use, so `--help` and usage errors never need a master. */
  client(): Promise<Client>;
  /** Writes a line (or lines) to stdout. */
  print(text: string): void;
  printJson(value: unknown): void;
}

export interface Command {
  name: string;
  /** Arguments after the command name, e.g. "[-r] N PATH...". */
  usage: string;
  summary: string;
  flags: FlagSpec[];
  positionalsMin: number;
  positionalsMax: number;
  run(ctx: CommandContext, args: ParsedArgs): Promise<void>;
}
