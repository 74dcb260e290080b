import { pino } from "pino";

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

/**
 * The store's own logger, for a MessageStore opened without one (tools, tests; the broker
 * passes its own). Lines to stderr with ISO time and name; level from TIDEMQ_LOG_LEVEL,
 * default "info". TIDEMQ_LOG_FORMAT=json: one JSON object per line through pino, with the
 * keys every TideMQ JSON line has (time, level, component, message).
 */
export function createStderrLogger(name: string, level?: LogLevel): Logger {
  const env = process.env.TIDEMQ_LOG_LEVEL as LogLevel | undefined;
  const lvl: LogLevel = level ?? (env && env in LEVELS ? env : "info");
  if (process.env.TIDEMQ_LOG_FORMAT?.trim().toLowerCase() === "json") return jsonStderrLogger(name, lvl);
  const min = LEVELS[lvl];
  const line = (l: Exclude<LogLevel, "silent">, msg: string) => {
    if (LEVELS[l] >= min)
      process.stderr.write(`${new Date().toISOString()} ${l.toUpperCase()} [${name}] ${msg}\n`);
  };
  return {
    debug: (m) => line("debug", m),
    info: (m) => line("info", m),
    warn: (m) => line("warn", m),
    error: (m) => line("error", m),
  };
}

function jsonStderrLogger(name: string, level: LogLevel): Logger {
  // Synchronous: a line logged right before the process exits is not lost.
  const log = pino(
    {
      level,
      base: { component: name },
      messageKey: "message",
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 2, sync: true }),
  );
  return {
    debug: (m) => log.debug(m),
    info: (m) => log.info(m),
    warn: (m) => log.warn(m),
    error: (m) => log.error(m),
  };
}
