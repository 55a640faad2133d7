// Command-line parsing for the antler CLI: long flags (--goal 3, --goal=3), short flags that
// may be grouped (-rp), "--" to end flags, and "-" as an ordinary argument (stdin/stdout).
// A mistake is a UsageError, which the CLI prints with a hint and exit status 2.

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface FlagSpec {
  long: string;
  short?: string;
  /** Placeholder of the flag's value ("N", "host:port"); absent for a switch. */
  value?: string;
  doc: string;
}

export interface ParsedArgs {
  flags: Map<string, string | true>;
  positionals: string[];
}

/** Arguments past this are refused (each one may become a request to the master). */
export const ARGUMENTS_MAX = 100_000;

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  if (argv.length > ARGUMENTS_MAX) throw new UsageError(`more than ${ARGUMENTS_MAX} arguments`);
  const byLong = new Map(specs.map((s) => [s.long, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const flags = new Map<string, string | true>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq >= 0 ? eq : undefined);
      const spec = byLong.get(name);
      if (spec === undefined) throw new UsageError(`unknown option --${name}`);
      if (spec.value === undefined) {
        if (eq >= 0) throw new UsageError(`option --${name} takes no value`);
        flags.set(spec.long, true);
      } else {
        const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
        if (value === undefined) {
          throw new UsageError(`option --${name} needs a value (${spec.value})`);
        }
        flags.set(spec.long, value);
      }
      continue;
    }
    if (arg.startsWith('-') && arg !== '-') {
      i = parseShortGroup(argv, i, byShort, flags);
      continue;
    }
    positionals.push(arg);
  }
  return { flags, positionals };
}

/** "-rp" or "-g3" or "-g 3"; returns the index of the last argument consumed. */
function parseShortGroup(
  argv: readonly string[], i: number, byShort: Map<string, FlagSpec>,
  flags: Map<string, string | true>,
): number {
  const group = argv[i]!.slice(1);
  for (let j = 0; j < group.length; j++) {
    const spec = byShort.get(group[j]!);
    if (spec === undefined) throw new UsageError(`unknown option -${group[j]}`);
    if (spec.value === undefined) {
      flags.set(spec.long, true);
      continue;
    }
    const rest = group.slice(j + 1);
    if (rest !== '') {
      flags.set(spec.long, rest);
      return i;
    }
    const value = argv[i + 1];
    if (value === undefined) {
      throw new UsageError(`option -${spec.short} needs a value (${spec.value})`);
    }
    flags.set(spec.long, value);
    return i + 1;
  }
  return i;
}

/** A whole number in [min, max] from a flag or argument, else a UsageError naming it. */
export function parseInteger(text: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${what} must be a whole number, got "${text}"`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`${what} must be ${min}..${max}, got ${n}`);
  return n;
}
