import type { IncomingMessage, ServerResponse } from "node:http";
import type { Session } from "./auth/Sessions.js";
import type { ClusterData } from "./ClusterData.js";
import type { TpsSampler } from "./TpsSampler.js";

/** An answer other than 200, with a message the page shows as it is. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/** What an API handler gets: the parsed request and the cluster's cached reads. */
export interface ApiRequest {
  query: URLSearchParams;
  body: Record<string, unknown>;
  data: ClusterData;
  sampler: TpsSampler;
  session: Session;
}

/**
 * One API endpoint. A route with an `action` changes the cluster: the server lets only
 * admins call it, checks its CSRF token, and writes it to the audit log under that name.
 */
export interface Route {
  method: "GET" | "POST";
  path: string;
  action?: string;
  handle(req: ApiRequest): Promise<unknown>;
}

/**
 * A file a GET route hands back instead of JSON (an export): sent as an attachment, so the
 * browser saves it. Reads only: a write route still answers JSON.
 */
export class Download {
  constructor(
    readonly filename: string,
    readonly contentType: string,
    readonly body: Buffer,
    /** Said in an X-TideMQ-Note header too when the file is not everything (never a silent cap). */
    readonly note = "",
  ) {}
}

export function sendDownload(res: ServerResponse, d: Download): void {
  res.writeHead(200, {
    "content-type": d.contentType,
    "content-length": d.body.length,
    "content-disposition": `attachment; filename="${d.filename.replace(/[^\w.@%-]/g, "_")}"`,
    "cache-control": "no-store",
    ...(d.note ? { "x-tidemq-note": d.note.replace(/[^\x20-\x7e]/g, "?") } : {}),
  });
  res.end(d.body);
}

/** Largest JSON body a write may carry (a test message's body is the big one). */
export const MAX_BODY_BYTES = 1024 * 1024;

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value), "utf8");
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": body.length,
    "cache-control": "no-store",
  });
  res.end(body);
}

// ---- parameter readers: a bad or missing value is a 400 naming the parameter ----

type Source = URLSearchParams | Record<string, unknown>;

function raw(src: Source, name: string): unknown {
  return src instanceof URLSearchParams ? (src.get(name) ?? undefined) : src[name];
}

export function str(src: Source, name: string, o: { max?: number; optional?: boolean } = {}): string {
  const v = raw(src, name);
  if (v === undefined || v === null || v === "") {
    if (o.optional) return "";
    throw new HttpError(400, `parameter ${name} is required`);
  }
  if (typeof v !== "string") throw new HttpError(400, `parameter ${name} must be a string`);
  const max = o.max ?? 255;
  if (v.length > max) throw new HttpError(400, `parameter ${name} is longer than ${max} characters`);
  return v;
}

export function int(
  src: Source,
  name: string,
  o: { min?: number; max?: number; default?: number } = {},
): number {
  const v = raw(src, name);
  if (v === undefined || v === null || v === "") {
    if (o.default !== undefined) return o.default;
    throw new HttpError(400, `parameter ${name} is required`);
  }
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isSafeInteger(n)) throw new HttpError(400, `parameter ${name} must be an integer`);
  if (o.min !== undefined && n < o.min)
    throw new HttpError(400, `parameter ${name} must be at least ${o.min}`);
  if (o.max !== undefined && n > o.max)
    throw new HttpError(400, `parameter ${name} must be at most ${o.max}`);
  return n;
}

export function bool(src: Source, name: string, dflt: boolean): boolean {
  const v = raw(src, name);
  if (v === undefined || v === null || v === "") return dflt;
  if (v === true || v === "true") return true;
  if (v === false || v === "false") return false;
  throw new HttpError(400, `parameter ${name} must be true or false`);
}

/** Topic and group names as RocketMQ allows them (letters, digits, %, |, _, -). */
export function name(src: Source, param: string): string {
  const v = str(src, param, { max: 255 });
  if (!/^[%|a-zA-Z0-9_-]+$/.test(v))
    throw new HttpError(400, `parameter ${param}: "${v}" has characters other than letters, digits, %|_-`);
  return v;
}
