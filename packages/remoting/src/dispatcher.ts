import { createResponse, isOneway, type RemotingCommand, ResponseCode, TideMQError } from "@tidemq/protocol";
import type { Connection, RequestHandler } from "./connection-types.js";
import type { Logger } from "./logger.js";

/** Where a dispatched request's answer goes. */
export interface ResponseSink extends Connection {
  /** How logs name the other side. */
  readonly peer: string;
  sendResponse(request: RemotingCommand, response: RemotingCommand): void;
}

/**
 * Runs the handler for one request and answers it: the handler's response, or
 * REQUEST_CODE_NOT_SUPPORTED when there is no handler, or the error's code (TideMQError)
 * or SYSTEM_ERROR (anything else) when it throws. Oneway requests are never answered.
 */
export function dispatchRequest(
  conn: ResponseSink,
  request: RemotingCommand,
  handler: RequestHandler | undefined,
  logger: Logger,
): void {
  if (!handler) {
    logger.debug(`request code ${request.code} from ${describe(conn)} is not supported`);
    answer(
      conn,
      request,
      createResponse(
        request,
        ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
        ` request type ${request.code} not supported`,
      ),
    );
    return;
  }
  let result: ReturnType<RequestHandler>;
  try {
    result = handler(request, conn);
  } catch (err) {
    answerError(conn, request, err, logger);
    return;
  }
  if (result instanceof Promise) {
    result.then(
      (response) => answer(conn, request, response),
      (err: unknown) => answerError(conn, request, err, logger),
    );
  } else {
    answer(conn, request, result);
  }
}

function answer(conn: ResponseSink, request: RemotingCommand, response: RemotingCommand | undefined): void {
  if (response === undefined || isOneway(request)) return;
  conn.sendResponse(request, response);
}

function answerError(conn: ResponseSink, request: RemotingCommand, err: unknown, logger: Logger): void {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof TideMQError) {
    logger.debug(`request code ${request.code} from ${describe(conn)} failed: ${err.codeName}: ${message}`);
    answer(conn, request, createResponse(request, err.code, message));
    return;
  }
  const detail = err instanceof Error && err.stack ? err.stack : message;
  logger.error(`handler of request code ${request.code} from ${describe(conn)} threw: ${detail}`);
  answer(conn, request, createResponse(request, ResponseCode.SYSTEM_ERROR, message));
}

function describe(conn: ResponseSink): string {
  return conn.peer;
}
