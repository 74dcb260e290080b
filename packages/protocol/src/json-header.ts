import { type ExtFields, type RemotingCommand, SerializeType } from "./command.js";
import { FrameError } from "./errors.js";
import { setOwn } from "./properties.js";

/**
 * The JSON header (spec §1.2), which ali-ons uses for every request and Java and we for
 * most non-message ones. The encoder builds the usual header's text directly (no object,
 * no JSON.stringify of the whole); the decoder is JSON.parse, which a JS scanner of the
 * header text did not beat (measured: 20-30 % slower on this Node).
 */

/** Characters JSON.stringify would escape (lone surrogates included; paired ones merely take its path). */
const JSON_ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A string as JSON: quoted as it is when nothing needs escaping (JSON.stringify is a slow native call). */
function jsonString(s: string): string {
  return JSON_ESCAPED.test(s) ? JSON.stringify(s) : `"${s}"`;
}

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * The JSON header built as text, for the usual command (int fields, string ext values):
 * the same bytes JSON.stringify gives for jsonHeaderObject's object, without building that
 * object. undefined for anything unusual, which takes the general path.
 */
export function jsonHeaderText(cmd: RemotingCommand): string | undefined {
  const { code, opaque, flag, version } = cmd;
  if (
    !Number.isInteger(code) ||
    !Number.isInteger(opaque) ||
    !Number.isInteger(flag) ||
    !Number.isInteger(version) ||
    typeof cmd.language !== "string"
  ) {
    return undefined;
  }
  let s = `{"code":${code},"language":${jsonString(cmd.language)},"opaque":${opaque},"flag":${flag},"version":${version}`;
  if (cmd.remark !== undefined && cmd.remark !== null) {
    if (typeof cmd.remark !== "string") return undefined;
    s += `,"remark":${jsonString(cmd.remark)}`;
  }
  const ext = cmd.extFields;
  if (ext) {
    let fields = "";
    let own = 0;
    // for-in order = Object.keys order (integer-like keys first), as JSON.stringify uses.
    // hasOwnProperty.call inside for-in is optimised by V8 to a map check (Object.hasOwn is not).
    for (const k in ext) {
      if (!hasOwn.call(ext, k)) continue;
      own++;
      const v: unknown = ext[k];
      if (v === undefined) continue;
      if (typeof v !== "string") return undefined;
      fields += `${fields.length === 0 ? "" : ","}${jsonString(k)}:${jsonString(v)}`;
    }
    if (fields.length > 0) s += `,"extFields":{${fields}}`;
    else if (own > 0) s += `,"extFields":{}`;
  }
  return `${s}}`;
}

export function jsonHeaderObject(cmd: RemotingCommand): Record<string, unknown> {
  // ali-ons' key order, so a frame we write is byte-for-byte what ali-ons writes for the
  // same command (order means nothing to any parser; it makes golden vectors exact).
  const obj: Record<string, unknown> = {
    code: cmd.code,
    language: cmd.language,
    opaque: cmd.opaque,
    flag: cmd.flag,
    version: cmd.version,
  };
  if (cmd.remark !== undefined && cmd.remark !== null) obj.remark = cmd.remark;
  if (cmd.extFields && Object.keys(cmd.extFields).length > 0) obj.extFields = cmd.extFields;
  return obj;
}

/** Decodes a JSON header from its text. */
export function decodeJsonHeader(text: string): RemotingCommand {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (err) {
    throw new FrameError(`JSON header does not parse: ${(err as Error).message}`);
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    throw new FrameError("JSON header is not an object");
  }
  const h = obj as Record<string, unknown>;
  const code = intField(h, "code", true);
  const cmd: RemotingCommand = {
    code,
    language: typeof h.language === "string" ? h.language : "JAVA",
    version: intField(h, "version", false),
    opaque: intField(h, "opaque", false),
    flag: intField(h, "flag", false),
    serializeType: SerializeType.JSON,
  };
  if (typeof h.remark === "string") cmd.remark = h.remark;
  if (h.extFields !== undefined && h.extFields !== null) {
    if (typeof h.extFields !== "object" || Array.isArray(h.extFields)) {
      throw new FrameError("JSON header field extFields is not an object");
    }
    const parsed = h.extFields as Record<string, unknown>;
    // JSON.parse made a fresh object with own data properties only ("__proto__" included):
    // when every value is already a string it can be used as it is.
    let allStrings = true;
    for (const k in parsed) {
      if (typeof parsed[k] !== "string") {
        allStrings = false;
        break;
      }
    }
    if (allStrings) cmd.extFields = parsed as ExtFields;
    else {
      const ext: ExtFields = {};
      for (const [k, v] of Object.entries(parsed)) {
        if (v === null || v === undefined) continue;
        setOwn(ext, k, typeof v === "string" ? v : typeof v === "object" ? JSON.stringify(v) : String(v));
      }
      cmd.extFields = ext;
    }
  }
  return cmd;
}

function intField(h: Record<string, unknown>, name: string, required: boolean): number {
  const v = h[name];
  if (v === undefined || v === null) {
    if (required) throw new FrameError(`JSON header lacks the field ${name}`);
    return 0;
  }
  // fastjson would also read "12" as 12; anything that is not a Java int is refused.
  const n = typeof v === "string" ? (/^\s*[+-]?\d+\s*$/.test(v) ? Number(v) : Number.NaN) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < -2147483648 || n > 2147483647) {
    throw new FrameError(`JSON header field ${name} is not an int: ${JSON.stringify(v)}`);
  }
  return n;
}
