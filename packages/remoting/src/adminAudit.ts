import { type RemotingCommand, requestCodeName, responseCodeName } from "@tidemq/protocol";
import { describePeer } from "./address.js";
import type { Connection } from "./connection-types.js";
import type { Logger } from "./logger.js";
import type { RemotingServer } from "./server.js";

/** Longest value kept per field in an audit line (a line must stay a line). */
const MAX_VALUE = 200;

/** Who asked, what, and with which arguments: the audit line's fields. */
export function describeAdminRequest(
  request: RemotingCommand,
  conn: Pick<Connection, "remoteAddress" | "remotePort">,
) {
  const args: Record<string, string> = {};
  for (const [k, v] of Object.entries(request.extFields ?? {})) {
    // Credentials never reach a log.
    if (k === "Signature" || k === "SecretKey") continue;
    const s = String(v);
    args[k] = s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE)}…` : s;
  }
  const body = request.body;
  let bodyText: string | undefined;
  if (body && body.length > 0) {
    const text = body.subarray(0, MAX_VALUE).toString("utf8");
    // Subscription group JSON, broker config properties: readable; anything else by size only.
    bodyText = /^[\x20-\x7e\r\n\t\u00a0-\uffff]*$/.test(text)
      ? body.length > MAX_VALUE
        ? `${text}…`
        : text
      : undefined;
  }
  return {
    action: requestCodeName(request.code),
    client: describePeer(conn.remoteAddress, conn.remotePort),
    language: request.language,
    version: request.version,
    accessKey: args.AccessKey,
    args,
    body: bodyText ?? (body && body.length > 0 ? `(${body.length} bytes)` : undefined),
  };
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return `(${typeof code === "number" ? `${responseCodeName(code)}: ` : ""}${err.message})`;
}

function argsText(args: Record<string, string>): string {
  return Object.entries(args)
    .map(([k, v]) => `${k}=${/[\s"]/.test(v) ? JSON.stringify(v) : v}`)
    .join(" ");
}

/**
 * Wraps the handlers of `codes` (the admin writes of a broker or a NameServer) so every such
 * request writes one audit line with its outcome:
 * `audit: UPDATE_AND_CREATE_TOPIC by 127.0.0.1:53422 (JAVA v…) topic=T … -> SUCCESS`.
 * In JSON logs the same line carries `audit: true` and the fields separately. Codes without
 * a handler when this runs are skipped.
 */
export function installAdminAudit(server: RemotingServer, logger: Logger, codes: readonly number[]): void {
  for (const code of codes) {
    const handler = server.handlerFor(code);
    if (!handler) continue;
    server.registerHandler(code, (request, conn) => {
      const d = describeAdminRequest(request, conn);
      const log = (outcome: string, error?: unknown) => {
        const why = error === undefined ? "" : ` ${errorText(error)}`;
        const text = `audit: ${d.action} by ${d.client} (${d.language} v${d.version}${d.accessKey ? ` accessKey=${d.accessKey}` : ""}) ${argsText(d.args)}${d.body ? ` body=${JSON.stringify(d.body)}` : ""} -> ${outcome}${why}`;
        const fields = { audit: true, ...d, outcome, ...(error === undefined ? {} : { error }) };
        if (error === undefined) logger.info(text, fields);
        else logger.warn(text, fields);
      };
      const answered = (response: RemotingCommand | undefined) => {
        log(response ? responseCodeName(response.code) : "no response");
        return response;
      };
      const failed = (err: unknown): never => {
        log("FAILED", err);
        throw err;
      };
      try {
        const r = handler(request, conn);
        return r instanceof Promise ? r.then(answered, failed) : answered(r);
      } catch (err) {
        return failed(err);
      }
    });
  }
}
