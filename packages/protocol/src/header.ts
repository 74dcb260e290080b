import type { ExtFields } from "./command.js";
import { HeaderError } from "./errors.js";

/**
 * Typed custom headers. A schema maps each ext field to its logical type; `decodeHeader`
 * coerces the wire strings (spec §1.5: Java sends strings, ali-ons numbers and booleans)
 * and rejects a missing required field or a malformed number with a HeaderError naming it.
 */
export type FieldType = "string" | "int" | "long" | "bool";
export interface FieldSpec<T extends FieldType = FieldType, R extends boolean = boolean> {
  readonly type: T;
  readonly required: R;
}
export type HeaderSchema = Readonly<Record<string, FieldSpec>>;

type ValueOf<T extends FieldType> = T extends "string" ? string : T extends "bool" ? boolean : number;
type RequiredKeys<S extends HeaderSchema> = { [K in keyof S]: S[K]["required"] extends true ? K : never }[keyof S];
type OptionalKeys<S extends HeaderSchema> = Exclude<keyof S, RequiredKeys<S>>;

/** The decoded form of a schema: required fields present, optional ones maybe undefined. */
export type HeaderOf<S extends HeaderSchema> = { [K in RequiredKeys<S>]: ValueOf<S[K]["type"]> } & {
  [K in OptionalKeys<S>]?: ValueOf<S[K]["type"]>;
};

/** Field spec shorthands: `F.str` is a required string, `F.optLong` an optional long, … */
export const F = {
  str: { type: "string", required: true },
  int: { type: "int", required: true },
  long: { type: "long", required: true },
  bool: { type: "bool", required: true },
  optStr: { type: "string", required: false },
  optInt: { type: "int", required: false },
  optLong: { type: "long", required: false },
  optBool: { type: "bool", required: false },
} as const;

const INTEGER = /^[+-]?\d+$/;

export function decodeHeader<S extends HeaderSchema>(schema: S, ext: ExtFields | undefined, what: string): HeaderOf<S> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(schema)) {
    const raw = ext?.[name];
    if (raw === undefined || raw === null || (raw === "" && spec.type !== "string")) {
      if (spec.required) throw new HeaderError(`${what}: the header lacks the required field "${name}"`);
      continue;
    }
    out[name] = coerce(raw, spec.type, name, what);
  }
  return out as HeaderOf<S>;
}

function coerce(raw: string, type: FieldType, name: string, what: string): unknown {
  switch (type) {
    case "string":
      return raw;
    case "bool":
      return raw.toLowerCase() === "true";
    case "int":
    case "long": {
      const text = raw.trim();
      if (!INTEGER.test(text)) throw new HeaderError(`${what}: field "${name}" is not an integer: "${raw}"`);
      const n = Number(text);
      if (type === "int" && (n > 2147483647 || n < -2147483648)) {
        throw new HeaderError(`${what}: field "${name}" is out of the int range: "${raw}"`);
      }
      return n;
    }
  }
}

/** Header values to ext fields (strings, as Java writes them); undefined values are dropped. */
export function encodeHeader(header: object): ExtFields {
  const out: ExtFields = {};
  for (const [k, v] of Object.entries(header)) {
    if (v === undefined || v === null) continue;
    out[k] = typeof v === "string" ? v : String(v);
  }
  return out;
}
