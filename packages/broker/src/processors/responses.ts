import { createResponse, type RemotingCommand, ResponseCode, TideMQError } from "@tidemq/protocol";

/** Throws the TideMQError the remoting server turns into a response with this code and remark. */
export function fail(code: number, message: string): never {
  throw new TideMQError(code, message);
}

/**
 * A response for an error raised outside the server's own handler call (a parked pull
 * answered later): the same mapping the server applies — TideMQError keeps its code,
 * anything else is SYSTEM_ERROR.
 */
export function errorResponse(request: RemotingCommand, err: unknown): RemotingCommand {
  if (err instanceof TideMQError) return createResponse(request, err.code, err.message);
  const code =
    typeof (err as { code?: unknown })?.code === "number" ? (err as { code: number }).code : undefined;
  const message = (err as Error)?.message ?? String(err);
  return createResponse(request, code ?? ResponseCode.SYSTEM_ERROR, message);
}
