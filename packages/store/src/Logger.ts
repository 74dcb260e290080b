/**
 * Same shape as @tidemq/remoting's Logger, declared here so the store does not depend on
 * the transport package; any remoting logger can be passed in as is.
 */
export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof LEVELS;

/** Lines to stderr with ISO time and name; level from TIDEMQ_LOG_LEVEL, default "info". */
export function createStderrLogger(name: string, level?: LogLevel): Logger {
  const env = process.env.TIDEMQ_LOG_LEVEL as LogLevel | undefined;
  const min = LEVELS[level ?? (env && env in LEVELS ? env : "info")];
  const line = (lvl: Exclude<LogLevel, "silent">, msg: string) => {
    if (LEVELS[lvl] >= min)
      process.stderr.write(`${new Date().toISOString()} ${lvl.toUpperCase()} [${name}] ${msg}\n`);
  };
  return {
    debug: (m) => line("debug", m),
    info: (m) => line("info", m),
    warn: (m) => line("warn", m),
    error: (m) => line("error", m),
  };
}
