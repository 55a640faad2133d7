// Daemon configuration: one schema per daemon drives the `KEY = VALUE` file parser, flags
// (--data-path <-> DATA_PATH), --help and --print-config. Flags override the file, which
// overrides defaults. An unknown key or a value out of range is an error naming file:line.
import fs from 'node:fs';
import { assert } from './assert.ts';

export type ConfigType = 'string' | 'int' | 'bytes' | 'bool';

export interface ConfigKey {
  key: string;
  type: ConfigType;
  default: string | number | boolean;
  doc: string;
  min?: number;
  max?: number;
  unit?: string;
}

export type ConfigValues = Record<string, string | number | boolean>;

/** The number a schema's int or bytes key resolved to (the schema guarantees the type). */
export function configInt(values: ConfigValues, key: string): number {
  const v = values[key];
  assert(typeof v === 'number', `config ${key} is a number`);
  return v;
}

/** The text a schema's string key resolved to. */
export function configString(values: ConfigValues, key: string): string {
  const v = values[key];
  assert(typeof v === 'string', `config ${key} is a string`);
  return v;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const SIZE_SUFFIX: Record<string, number> = {
  '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4,
};

/** Parses "1G", "512MiB", "1000" into bytes. */
export function parseBytes(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) return null;
  return Math.round(Number(m[1]) * SIZE_SUFFIX[m[2]!.toLowerCase()]!);
}

export function flagName(key: string): string {
  return '--' + key.toLowerCase().replace(/_/g, '-');
}

function parseValue(spec: ConfigKey, raw: string, where: string): string | number | boolean {
  switch (spec.type) {
    case 'string': return raw;
    case 'bool': {
      if (/^(1|yes|true|on)$/i.test(raw)) return true;
      if (/^(0|no|false|off)$/i.test(raw)) return false;
      throw new ConfigError(`${where}: ${spec.key} must be a boolean (yes/no), got "${raw}"`);
    }
    case 'int': case 'bytes': {
      const integer = /^-?\d+$/.test(raw.trim()) ? Number(raw) : null;
      const n = spec.type === 'bytes' ? parseBytes(raw) : integer;
      if (n === null || !Number.isSafeInteger(n)) {
        const want = spec.type === 'bytes' ? 'a size like 1G' : 'an integer';
        throw new ConfigError(`${where}: ${spec.key} must be ${want}, got "${raw}"`);
      }
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        const range = `${spec.min ?? '-inf'}..${spec.max ?? 'inf'}`;
        throw new ConfigError(`${where}: ${spec.key} = ${n} is outside ${range}`);
      }
      return n;
    }
  }
}

export function parseConfigText(schema: ConfigKey[], text: string, file: string): ConfigValues {
  const byKey = new Map(schema.map((s) => [s.key, s]));
  const out: ConfigValues = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const m = /^([A-Z0-9_]+)\s*=\s*(.*)$/.exec(line);
    const where = `${file}:${i + 1}`;
    if (!m) throw new ConfigError(`${where}: expected KEY = VALUE, got "${line}"`);
    const spec = byKey.get(m[1]!);
    if (!spec) throw new ConfigError(`${where}: unknown key ${m[1]}`);
    out[spec.key] = parseValue(spec, m[2]!.trim(), where);
  }
  return out;
}

export interface LoadedConfig {
  values: ConfigValues;
  /** Where each value came from: default, the file, or a flag. */
  source: Record<string, string>;
  /** Positional arguments left after flags. */
  positionals: string[];
  printConfig: boolean;
}

export interface ProgramInfo {
  name: string;
  version: string;
  summary: string;
  usage: string;
  /** Default config file (used only if it exists). */
  defaultConfigFile?: string;
}

export function helpText(info: ProgramInfo, schema: ConfigKey[]): string {
  const rows = schema.map((s) => {
    const def = s.type === 'bool' ? (s.default ? 'yes' : 'no') : String(s.default);
    return `  ${(flagName(s.key) + ' <' + s.type + '>').padEnd(36)} ${s.doc} [${s.key}, default ${def === '' ? '""' : def}${s.unit ? ' ' + s.unit : ''}]`;
  });
  return [
    `${info.name} ${info.version}: ${info.summary}`, '', `usage: ${info.usage}`, '', 'options:',
    `  ${'-c, --config <file>'.padEnd(36)} KEY = VALUE config file${info.defaultConfigFile ? ` [default ${info.defaultConfigFile} if present]` : ''}`,
    `  ${'--print-config'.padEnd(36)} print every setting and where it came from, then exit`,
    `  ${'-h, --help'.padEnd(36)} this help`,
    `  ${'-V, --version'.padEnd(36)} print the version`,
    ...rows, '',
  ].join('\n');
}

/**
 * Reads flags and the config file. Prints help/version and exits for -h/-V; throws ConfigError
 * on a bad file or flag.
 */
export function loadConfig(info: ProgramInfo, schema: ConfigKey[], argv: string[]): LoadedConfig {
  const byFlag = new Map(schema.map((s) => [flagName(s.key), s]));
  const flags: ConfigValues = {};
  const positionals: string[] = [];
  let configFile: string | undefined;
  let printConfig = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') {
      process.stdout.write(helpText(info, schema));
      process.exit(0);
    }
    if (arg === '-V' || arg === '--version') {
      process.stdout.write(`${info.name} ${info.version}\n`);
      process.exit(0);
    }
    if (arg === '--print-config') { printConfig = true; continue; }
    if (arg === '-c' || arg === '--config') {
      configFile = argv[++i];
      if (configFile === undefined) throw new ConfigError(`${arg} needs a file name`);
      continue;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq >= 0 ? arg.slice(0, eq) : arg;
      const spec = byFlag.get(name);
      if (!spec) throw new ConfigError(`unknown option ${name} (see --help)`);
      let raw: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
      if (raw === undefined) {
        if (spec.type === 'bool' && (argv[i + 1] === undefined || argv[i + 1]!.startsWith('-'))) raw = 'yes';
        else raw = argv[++i];
      }
      if (raw === undefined) throw new ConfigError(`${name} needs a value`);
      flags[spec.key] = parseValue(spec, raw, name);
      continue;
    }
    positionals.push(arg);
  }
  let fileValues: ConfigValues = {};
  const file = configFile ?? (info.defaultConfigFile && fs.existsSync(info.defaultConfigFile) ? info.defaultConfigFile : undefined);
  if (file !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    fileValues = parseConfigText(schema, text, file);
  }
  const values: ConfigValues = {};
  const source: Record<string, string> = {};
  for (const s of schema) {
    if (s.key in flags) { values[s.key] = flags[s.key]!; source[s.key] = 'flag'; }
    else if (s.key in fileValues) { values[s.key] = fileValues[s.key]!; source[s.key] = file!; }
    else { values[s.key] = s.default; source[s.key] = 'default'; }
  }
  return { values, source, positionals, printConfig };
}

export function formatConfig(schema: ConfigKey[], loaded: LoadedConfig): string {
  return schema.map((s) => `${s.key} = ${String(loaded.values[s.key])}    # ${loaded.source[s.key]}`).join('\n') + '\n';
}

/** Every key at its default (tests and library users start from these). */
export function schemaDefaults(schema: readonly ConfigKey[]): ConfigValues {
  const values: ConfigValues = {};
  for (const k of schema) values[k.key] = k.default;
  return values;
}

/** Keys whose value differs between two loads, split by whether a SIGHUP reload applies them. */
export function schemaChanges(
  schema: readonly (ConfigKey & { reloadable?: boolean })[], before: ConfigValues,
  after: ConfigValues,
): { reloadable: string[]; needRestart: string[] } {
  const reloadable: string[] = [];
  const needRestart: string[] = [];
  for (const k of schema) {
    if (before[k.key] === after[k.key]) continue;
    (k.reloadable === true ? reloadable : needRestart).push(k.key);
  }
  return { reloadable, needRestart };
}

/**
 * Differences between a schema and its commented example file (etc/*.cfg): every key appears as
 * `# KEY = default` under a sentence, in the "## Reloads on SIGHUP" section exactly when it is
 * reloadable, and no unknown key appears. Empty when they agree.
 */
export function exampleFileProblems(
  schema: readonly (ConfigKey & { reloadable?: boolean })[], text: string,
): string[] {
  const problems: string[] = [];
  const lines = text.split('\n');
  const reloadAt = lines.findIndex((l) => /^## Reloads on SIGHUP/.test(l));
  if (reloadAt <= 0) problems.push('the file has no "## Reloads on SIGHUP" section');
  const seen = new Map<string, { value: string; line: number }>();
  lines.forEach((l, i) => {
    const m = /^# ([A-Z0-9_]+) =(?: (.*))?$/.exec(l);
    if (m) seen.set(m[1]!, { value: m[2] ?? '', line: i });
  });
  for (const k of schema) {
    const entry = seen.get(k.key);
    if (entry === undefined) {
      problems.push(`${k.key} is not in the file`);
      continue;
    }
    const shown = k.type === 'bool' ? (k.default ? 'yes' : 'no') : String(k.default);
    if (entry.value !== shown) problems.push(`${k.key} shows "${entry.value}", not "${shown}"`);
    if ((entry.line > reloadAt) !== (k.reloadable === true)) {
      problems.push(`${k.key} is in the wrong section`);
    }
    const doc = lines[entry.line - 1] ?? '';
    if (!doc.startsWith('# ') || doc.length <= 10) problems.push(`${k.key} has no sentence`);
  }
  const known = new Set(schema.map((k) => k.key));
  for (const key of seen.keys()) if (!known.has(key)) problems.push(`unknown key ${key}`);
  return problems;
}
