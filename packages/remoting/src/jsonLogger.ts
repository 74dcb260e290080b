import { responseCodeName } from "@tidemq/protocol";
import { type DestinationStream, type Logger as PinoLogger, pino } from "pino";
import type { LogFields, Logger, LogLevel } from "./logger.js";

/**
 * JSON lines through pino. One synchronous stderr destination for the whole process: lines
 * of several loggers never interleave mid-line, and nothing is lost when the process exits
 * right after logging (a fatal start-up error), which an asynchronous buffer would risk.
 */
let root: PinoLogger | undefined;
let destination: DestinationStream | undefined;

function rootLogger(): PinoLogger {
  destination ??= pino.destination({ dest: 2, sync: true });
  root ??= pino(
    {
      level: "debug",
      base: undefined,
      messageKey: "message",
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { error: serializeError },
    },
    destination,
  );
  return root;
}

/** An error as a JSON object: type, message, RocketMQ response code and its name when it has one. */
export function serializeError(err: unknown): unknown {
  if (!(err instanceof Error)) return err === undefined ? undefined : { message: String(err) };
  const out: Record<string, unknown> = { type: err.name, message: err.message };
  const code = (err as { code?: unknown }).code;
  if (typeof code === "number") {
    out.code = code;
    out.codeName = responseCodeName(code);
  } else if (typeof code === "string") {
    // Node system errors (ENOSPC, ECONNREFUSED…).
    out.code = code;
  }
  // A refusal with a response code is expected behaviour, not a bug: its stack is noise.
  if (err.stack && typeof code !== "number") out.stack = err.stack;
  return out;
}

export function jsonLogger(name: string, level: LogLevel, base: LogFields): Logger {
  const log = rootLogger().child({ component: name, ...base }, { level });
  const at =
    (lvl: "debug" | "info" | "warn" | "error") =>
    (msg: string, fields?: LogFields): void => {
      if (fields) log[lvl](fields, msg);
      else log[lvl](msg);
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
