import { ResponseCode, responseCodeName } from "./codes.js";

/**
 * Base of every error TideMQ raises on purpose. `code` is the RocketMQ response code
 * a server answers with (or that a client received); `retriable` tells callers whether
 * the same request may succeed if tried again (kafkajs-style).
 */
export class TideMQError extends Error {
  readonly code: number;
  readonly retriable: boolean;
  constructor(code: number, message: string, options?: { cause?: unknown; retriable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "TideMQError";
    this.code = code;
    this.retriable = options?.retriable ?? false;
  }
  get codeName(): string {
    return responseCodeName(this.code);
  }
}

/** A frame that cannot be decoded: the connection it came from can no longer be trusted. */
export class FrameError extends TideMQError {
  constructor(message: string) {
    super(ResponseCode.SYSTEM_ERROR, message);
    this.name = "FrameError";
  }
}

/** A request header that lacks a required field or carries a malformed value. */
export class HeaderError extends TideMQError {
  constructor(message: string) {
    super(ResponseCode.SYSTEM_ERROR, message);
    this.name = "HeaderError";
  }
}

/** A stored-message record or message body that does not parse. */
export class MessageFormatError extends TideMQError {
  constructor(message: string) {
    super(ResponseCode.MESSAGE_ILLEGAL, message);
    this.name = "MessageFormatError";
  }
}
