import { jsonLogger } from "./jsonLogger.js";

/**
 * The logging seam every package uses; createLogger writes lines to stderr.
 *
 * `fields` are for machines: with TIDEMQ_LOG_FORMAT=json they become keys of the JSON line
 * (broker, group, topic, error, …); the plain-text line shows the message only, so every
 * message is written to be complete on its own.
 */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/** Structured context of one line; `error` is serialised with its RocketMQ response code. */
export interface LogFields {
  broker?: string;
  group?: string;
  topic?: string;
  error?: unknown;
  [key: string]: unknown;
}

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
export type LogFormat = "text" | "json";

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

function isLogLevel(value: string | undefined): value is LogLevel {
  return value !== undefined && Object.hasOwn(LEVEL_RANK, value);
}

/** Level from TIDEMQ_LOG_LEVEL when valid, else "info". */
export function defaultLogLevel(): LogLevel {
  const env = process.env.TIDEMQ_LOG_LEVEL?.trim().toLowerCase();
  return isLogLevel(env) ? env : "info";
}

/** TIDEMQ_LOG_FORMAT=json selects JSON lines; anything else (or unset) plain text for a terminal. */
export function defaultLogFormat(): LogFormat {
  return process.env.TIDEMQ_LOG_FORMAT?.trim().toLowerCase() === "json" ? "json" : "text";
}

/**
 * A logger printing `<ISO time> <LEVEL> [name] message` lines to stderr, or (format "json")
 * one JSON object per line: time, level, component, the given base fields, message, and the
 * per-call fields. Lines below `level` are dropped before any string work happens.
 * `base` fields (e.g. `{ component: "broker", broker: "broker-a" }`) go on every JSON line.
 */
export function createLogger(
  name: string,
  level: LogLevel = defaultLogLevel(),
  base: LogFields = {},
  format: LogFormat = defaultLogFormat(),
): Logger {
  if (format === "json") return jsonLogger(name, level, base);
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
