/** The logging seam every package uses; createLogger writes lines to stderr. */
export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

function isLogLevel(value: string | undefined): value is LogLevel {
  return value !== undefined && Object.hasOwn(LEVEL_RANK, value);
}

/** Level from TIDEMQ_LOG_LEVEL when valid, else "info". */
export function defaultLogLevel(): LogLevel {
  const env = process.env.TIDEMQ_LOG_LEVEL?.trim().toLowerCase();
  return isLogLevel(env) ? env : "info";
}

/**
 * A logger printing `<ISO time> <LEVEL> [name] message` lines to stderr. Lines below
 * `level` are dropped before any string work happens in the sink.
 */
export function createLogger(name: string, level: LogLevel = defaultLogLevel()): Logger {
  const threshold = LEVEL_RANK[level] ?? LEVEL_RANK.info;
  const line = (label: string, rank: number, msg: string): void => {
    if (rank < threshold) return;
    process.stderr.write(`${new Date().toISOString()} ${label} [${name}] ${msg}\n`);
  };
  return {
    debug: (msg) => line("DEBUG", LEVEL_RANK.debug, msg),
    info: (msg) => line("INFO ", LEVEL_RANK.info, msg),
    warn: (msg) => line("WARN ", LEVEL_RANK.warn, msg),
    error: (msg) => line("ERROR", LEVEL_RANK.error, msg),
  };
}
