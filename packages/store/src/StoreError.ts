import { ResponseCode, TideMQError } from "@tidemq/protocol";

/** An error the store raises on purpose; `code` is the RocketMQ response code to answer with. */
export class StoreError extends TideMQError {
  constructor(code: number, message: string, options?: { cause?: unknown; retriable?: boolean }) {
    super(code, message, options);
    this.name = "StoreError";
  }
}

/** The message cannot be stored as given (too big, bad topic or properties). */
export function messageIllegal(message: string): StoreError {
  return new StoreError(ResponseCode.MESSAGE_ILLEGAL, message);
}

/** The store cannot take writes now (disk full, shut down, failed I/O); the remark says which. */
export function serviceNotAvailable(message: string, cause?: unknown): StoreError {
  return new StoreError(ResponseCode.SERVICE_NOT_AVAILABLE, message, { cause, retriable: true });
}

/**
 * Data on disk that the store refuses to start with, because going on would silently lose
 * or misserve data: a hole in the segment sequence, a consume queue pointing past the log…
 * `file` names the offending file so an operator can act on it.
 */
export class StoreCorruptionError extends StoreError {
  readonly file: string;
  constructor(file: string, message: string) {
    super(ResponseCode.SYSTEM_ERROR, `${message} (file ${file})`);
    this.name = "StoreCorruptionError";
    this.file = file;
  }
}
