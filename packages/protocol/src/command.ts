import { TIDEMQ_VERSION } from "./codes.js";
import { setOwn } from "./properties.js";

/** Header serialization of a frame (spec §1.1): 0 = JSON, 1 = ROCKETMQ binary. */
export const SerializeType = { JSON: 0, ROCKETMQ: 1 } as const;
export type SerializeType = (typeof SerializeType)[keyof typeof SerializeType];

/** Flag bits (spec §1.4). */
export const FLAG_RESPONSE = 1;
export const FLAG_ONEWAY = 2;

/** Ext-field values on the wire are strings; ali-ons sends numbers and booleans, which we coerce. */
export type ExtFields = Record<string, string>;

/** One remoting frame, request or response. */
export interface RemotingCommand {
  code: number;
  /** LanguageCode name, e.g. "JAVA". */
  language: string;
  version: number;
  opaque: number;
  flag: number;
  remark?: string;
  extFields?: ExtFields;
  body?: Buffer;
  /** Serialization the frame arrived in, or is to be written in. */
  serializeType: SerializeType;
}

export function isResponse(cmd: RemotingCommand): boolean {
  return (cmd.flag & FLAG_RESPONSE) !== 0;
}

export function isOneway(cmd: RemotingCommand): boolean {
  return (cmd.flag & FLAG_ONEWAY) !== 0;
}

const hasOwn = Object.prototype.hasOwnProperty;

/** Turns a header object (values of any primitive type) into wire ext fields, dropping null/undefined. */
export function toExtFields(header: object | undefined): ExtFields | undefined {
  if (!header) return undefined;
  const src = header as Record<string, unknown>;
  const out: ExtFields = {};
  // Runs for every request and response: for-in with hasOwnProperty.call (which V8 turns
  // into a map check) allocates nothing, unlike Object.entries.
  for (const k in src) {
    if (!hasOwn.call(src, k)) continue;
    const v = src[k];
    if (v === undefined || v === null) continue;
    setOwn(out, k, typeof v === "string" ? v : String(v));
  }
  return out;
}

export interface RequestOptions {
  serializeType?: SerializeType;
  oneway?: boolean;
  language?: string;
  version?: number;
  remark?: string;
}

/** A request; its opaque is assigned by the transport that sends it. */
export function createRequest(
  code: number,
  header?: object,
  body?: Buffer,
  options: RequestOptions = {},
): RemotingCommand {
  return {
    code,
    language: options.language ?? "JAVA",
    version: options.version ?? TIDEMQ_VERSION,
    opaque: 0,
    flag: options.oneway ? FLAG_ONEWAY : 0,
    remark: options.remark,
    extFields: toExtFields(header),
    body,
    serializeType: options.serializeType ?? SerializeType.JSON,
  };
}

/** A response to `request`: same opaque, same serialization (spec §1.8). */
export function createResponse(
  request: RemotingCommand,
  code: number,
  remark?: string,
  header?: object,
  body?: Buffer,
): RemotingCommand {
  return {
    code,
    language: "JAVA",
    version: TIDEMQ_VERSION,
    opaque: request.opaque,
    flag: FLAG_RESPONSE,
    remark,
    extFields: toExtFields(header),
    body,
    serializeType: request.serializeType,
  };
}
