/**
 * Argument parsing of `tidemq admin <subcommand>`: mqadmin's short flags (Apache Commons CLI
 * style: `-t T`, `-tT`, `--topic T`, `--topic=T`) plus the TideMQ extras `--json`, `--debug`
 * and `-h/--help`. Pure: no I/O, so the tests drive it directly.
 */

/** A mistake on the command line; the executable exits with status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export interface OptionSpec {
  /** One letter, as mqadmin spells it ("t" for -t). */
  short: string;
  /** Long name, as mqadmin spells it ("topic" for --topic). */
  long: string;
  /** Value placeholder shown in the help ("topic"); absent for a flag without a value. */
  arg?: string;
  required?: boolean;
  /** Default shown in the help (the handler applies it). */
  default?: string;
  help: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  options: OptionSpec[];
  /** Groups of options of which exactly one must be given (e.g. -b or -c). */
  oneOf?: string[][];
  /** Example invocations (without the `tidemq admin` prefix). */
  examples: string[];
}

export interface ParsedArgs {
  /** Option values by short name; flags without a value map to "true". */
  values: Record<string, string>;
  /** NameServer addresses from -n, else NAMESRV_ADDR, else 127.0.0.1:9876. */
  namesrv: string;
  json: boolean;
  help: boolean;
  debug: boolean;
}

export const DEFAULT_NAMESRV = "127.0.0.1:9876";

/** Options every subcommand takes. */
export const COMMON_OPTIONS: OptionSpec[] = [
  {
    short: "n",
    long: "namesrvAddr",
    arg: "host:port;host:port",
    help: `NameServer addresses (default $NAMESRV_ADDR, else ${DEFAULT_NAMESRV})`,
  },
];

/** Upper bound on arguments: a command line is never this long by accident. */
const MAX_ARGS = 256;

/**
 * Parses the arguments after the subcommand name. Throws UsageError for an unknown
 * option, a missing value, a repeated option or a missing required one (unless --help).
 */
export function parseArgs(
  spec: CommandSpec,
  argv: readonly string[],
  env: NodeJS.ProcessEnv = {},
): ParsedArgs {
  if (argv.length > MAX_ARGS) throw new UsageError(`too many arguments (${argv.length} > ${MAX_ARGS})`);
  const options = [...COMMON_OPTIONS, ...spec.options];
  const byShort = new Map(options.map((o) => [o.short, o]));
  const byLong = new Map(options.map((o) => [o.long.toLowerCase(), o]));
  const out: ParsedArgs = { values: {}, namesrv: "", json: false, help: false, debug: false };
  const set = (o: OptionSpec, value: string) => {
    if (Object.hasOwn(out.values, o.short)) throw new UsageError(`option -${o.short} given twice`);
    out.values[o.short] = value;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--json") out.json = true;
    else if (a === "--debug") out.debug = true;
    else if (a === "-h" || a === "--help") out.help = true;
    else if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = (eq > 0 ? a.slice(2, eq) : a.slice(2)).toLowerCase();
      const o = byLong.get(name);
      if (!o) throw new UsageError(`unknown option ${eq > 0 ? a.slice(0, eq) : a}`);
      if (!o.arg) {
        if (eq > 0) throw new UsageError(`option --${o.long} takes no value`);
        set(o, "true");
      } else if (eq > 0) set(o, a.slice(eq + 1));
      else set(o, valueAfter(argv, ++i, o));
    } else if (a.startsWith("-") && a.length >= 2 && !/^-\d/.test(a)) {
      const o = byShort.get(a[1]!);
      if (!o) throw new UsageError(`unknown option ${a}`);
      if (!o.arg) {
        if (a.length > 2) throw new UsageError(`unknown option ${a}`);
        set(o, "true");
      } else if (a.length > 2) set(o, a.slice(a[2] === "=" ? 3 : 2));
      else set(o, valueAfter(argv, ++i, o));
    } else {
      throw new UsageError(`unexpected argument "${a}" (options are -x value; see --help)`);
    }
  }
  out.namesrv = out.values.n ?? (env.NAMESRV_ADDR?.trim() || DEFAULT_NAMESRV);
  if (out.help) return out;
  for (const o of spec.options) {
    if (o.required && !Object.hasOwn(out.values, o.short)) {
      throw new UsageError(`missing option -${o.short} (${o.arg ?? o.long})`);
    }
  }
  for (const group of spec.oneOf ?? []) {
    const given = group.filter((s) => Object.hasOwn(out.values, s));
    if (given.length !== 1) {
      const list = group.map((s) => `-${s}`).join(" or ");
      throw new UsageError(given.length === 0 ? `give ${list}` : `give only one of ${list}`);
    }
  }
  return out;
}

function valueAfter(argv: readonly string[], i: number, o: OptionSpec): string {
  const v = argv[i];
  // "-1" is a value (resetOffsetByTime -s -1); "-x" is the next option.
  if (v === undefined || (v.startsWith("-") && !/^-\d/.test(v))) {
    throw new UsageError(`option -${o.short} needs a value (${o.arg})`);
  }
  return v;
}

// ---------------------------------------------------------------- typed values

/** An integer option in [min, max], or `fallback` when absent. */
export function intOption(
  values: Record<string, string>,
  short: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const v = values[short];
  if (v === undefined) return fallback;
  if (!/^-?\d{1,16}$/.test(v.trim())) throw new UsageError(`option -${short} must be an integer, got "${v}"`);
  const n = Number(v.trim());
  if (n < min || n > max)
    throw new UsageError(`option -${short} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** An optional integer option (undefined when absent). */
export function optionalInt(
  values: Record<string, string>,
  short: string,
  min: number,
  max: number,
): number | undefined {
  return values[short] === undefined ? undefined : intOption(values, short, 0, min, max);
}

/** A boolean option ("true"/"false", as mqadmin takes them), or `fallback` when absent. */
/** The queue id of -i, or of -q (mqadmin spells it either way); not both. */
export function queueIdOption(values: Record<string, string>): number | undefined {
  if (values.i !== undefined && values.q !== undefined) throw new UsageError("give -i or -q, not both");
  return optionalInt(values, values.i !== undefined ? "i" : "q", 0, 65535);
}

export function boolOption(values: Record<string, string>, short: string, fallback: boolean): boolean {
  const v = values[short];
  if (v === undefined) return fallback;
  const s = v.trim().toLowerCase();
  if (s === "true") return true;
  if (s === "false") return false;
  throw new UsageError(`option -${short} must be true or false, got "${v}"`);
}

/** Longest names RocketMQ accepts: topics 127 characters (TopicValidator), groups 255. */
export const MAX_TOPIC_LENGTH = 127;
export const MAX_GROUP_LENGTH = 255;

/** A topic or group name as RocketMQ allows it (spec §8.2); the limit is the client's and the broker's. */
export function nameOption(values: Record<string, string>, short: string, what: string): string {
  const v = values[short];
  if (v === undefined) throw new UsageError(`missing option -${short} (${what})`);
  const max = what === "topic" ? MAX_TOPIC_LENGTH : MAX_GROUP_LENGTH;
  if (!/^[%|a-zA-Z0-9_-]+$/.test(v) || v.length > max) {
    throw new UsageError(
      `${what} "${v.length > 40 ? `${v.slice(0, 40)}…` : v}" may contain only letters, digits, ` +
        `'%', '|', '_' and '-', 1-${max} characters`,
    );
  }
  return v;
}

/** A broker address "host:port". */
export function addrOption(values: Record<string, string>, short: string): string | undefined {
  const v = values[short];
  if (v === undefined) return undefined;
  const m = /^(.+):(\d{1,5})$/.exec(v.trim());
  if (!m || Number(m[2]) > 65535) throw new UsageError(`option -${short} must be host:port, got "${v}"`);
  return v.trim();
}

/**
 * A point in time as mqadmin takes it: "now", milliseconds since the epoch (−1 = "the
 * end", for resetOffsetByTime), yyyyMMddHHmmssSSS or yyyyMMddHHmmss (local time),
 * yyyy-MM-dd#HH:mm:ss:SSS (mqadmin's UtilAll format, local time), or an ISO 8601 date.
 */
export function parseTimestamp(text: string, now: number = Date.now()): number {
  const s = text.trim();
  if (s.toLowerCase() === "now") return now;
  if (s === "-1") return -1;
  let m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{3})?$/.exec(s);
  if (m) return localDate(m);
  m = /^(\d{4})-(\d{2})-(\d{2})#(\d{2}):(\d{2}):(\d{2}):(\d{3})$/.exec(s);
  if (m) return localDate(m);
  if (/^\d{1,13}$/.test(s)) return Number(s);
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+)?(Z|[+-]\d{2}:?\d{2})?$/.test(s)) {
    const t = Date.parse(s);
    if (Number.isFinite(t)) return t;
  }
  throw new UsageError(
    `"${text}" is not a timestamp (use now, milliseconds, yyyyMMddHHmmssSSS, yyyy-MM-dd#HH:mm:ss:SSS or ISO 8601)`,
  );
}

function localDate(m: RegExpExecArray): number {
  const [y, mo, d, h, mi, s, ms] = m.slice(1).map((x) => Number(x ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const date = new Date(y, mo - 1, d, h, mi, s, ms);
  // new Date() rolls 2024-02-31 over to March: refuse instead of guessing.
  if (date.getMonth() !== mo - 1 || date.getDate() !== d || h > 23 || mi > 59 || s > 59) {
    throw new UsageError(`"${m[0]}" is not a valid date`);
  }
  return date.getTime();
}

/** Help text of one subcommand. */
export function usageOf(spec: CommandSpec): string {
  const lines = [`usage: tidemq admin ${spec.name} [options]`, "", spec.summary, "", "options:"];
  const all = [...spec.options, ...COMMON_OPTIONS];
  const left = all.map((o) => `  -${o.short}, --${o.long}${o.arg ? ` <${o.arg}>` : ""}`);
  const width = Math.min(48, Math.max(...left.map((l) => l.length)) + 2);
  all.forEach((o, i) => {
    const notes = [o.required ? "required" : "", o.default !== undefined ? `default ${o.default}` : ""]
      .filter(Boolean)
      .join(", ");
    const l = left[i]!;
    const text = `${o.help}${notes ? ` (${notes})` : ""}`;
    lines.push(l.length >= width ? `${l}\n${" ".repeat(width)}${text}` : `${l.padEnd(width)}${text}`);
  });
  for (const g of spec.oneOf ?? []) lines.push(`  one of ${g.map((s) => `-${s}`).join(", ")} is required`);
  lines.push(
    `  ${"--json".padEnd(width - 2)}print JSON for scripts instead of a table`,
    `  ${"--debug".padEnd(width - 2)}print stack traces and client logs (also TIDEMQ_DEBUG=1)`,
    `  ${"-h, --help".padEnd(width - 2)}this text`,
    "",
    "examples:",
    ...spec.examples.map((e) => `  tidemq admin ${e}`),
  );
  return lines.join("\n");
}
