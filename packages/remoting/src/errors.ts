import { ResponseCode, TideMQError } from "@tidemq/protocol";

/** A request got no response within its timeout. The request may or may not have been processed. */
export class RemotingTimeoutError extends TideMQError {
  readonly address: string;
  readonly requestCode: number;
  readonly timeoutMs: number;
  constructor(requestCode: number, address: string, timeoutMs: number) {
    super(
      ResponseCode.SYSTEM_ERROR,
      `request code ${requestCode} to ${address} timed out after ${timeoutMs} ms`,
      {
        retriable: true,
      },
    );
    this.name = "RemotingTimeoutError";
    this.address = address;
    this.requestCode = requestCode;
    this.timeoutMs = timeoutMs;
  }
}

/** No connection to the address could be made (refused, timed out, or still backing off). */
export class RemotingConnectError extends TideMQError {
  readonly address: string;
  /** When backing off: milliseconds until the next connect attempt is allowed; else 0. */
  readonly retryAfterMs: number;
  constructor(address: string, message: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super(ResponseCode.SYSTEM_ERROR, message, { cause: options?.cause, retriable: true });
    this.name = "RemotingConnectError";
    this.address = address;
    this.retryAfterMs = options?.retryAfterMs ?? 0;
  }
}

/** The connection (or the whole client) closed while the request was in flight or about to be sent. */
export class RemotingClosedError extends TideMQError {
  readonly address: string;
  constructor(address: string, message: string) {
    super(ResponseCode.SYSTEM_ERROR, message, { retriable: true });
    this.name = "RemotingClosedError";
    this.address = address;
  }
}
