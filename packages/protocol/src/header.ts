import { type ExtFields, toExtFields } from "./command.js";
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
  /**
   * Value used when the field is absent. Java header classes whose @CFNotNull field has an
   * initial value (CreateTopicRequestHeader.order = false) or a primitive type never fail
   * the null check, so such a field is "required" in type but may be missing on the wire.
   */
  readonly default?: ValueOf<T>;
}
export type HeaderSchema = Readonly<Record<string, FieldSpec>>;

type ValueOf<T extends FieldType> = T extends "string" ? string : T extends "bool" ? boolean : number;
type RequiredKeys<S extends HeaderSchema> = {
  [K in keyof S]: S[K]["required"] extends true ? K : never;
}[keyof S];
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
  /** A Java `@CFNotNull Boolean x = false` / primitive boolean: false when absent. */
  boolDefaultFalse: { type: "bool", required: true, default: false },
  optStr: { type: "string", required: false },
  optInt: { type: "int", required: false },
  optLong: { type: "long", required: false },
  optBool: { type: "bool", required: false },
} as const;

const INTEGER = /^[+-]?\d+$/;
const INT_MIN = -2147483648;
const INT_MAX = 2147483647;
const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;

/**
 * Decodes ext fields by schema. Values may be strings (the wire type) or, when a caller
 * hands over a raw ali-ons style object, numbers and booleans; both are read through
 * String(). An empty string counts as absent for non-string fields (Java would fail to
 * parse it). Long values are range-checked as 64-bit and returned as numbers, exact up to
 * 2^53 (offsets and timestamps); Long.MAX_VALUE (mqadmin's "no end") comes back as 2^63.
 */
export function decodeHeader<S extends HeaderSchema>(
  schema: S,
  ext: ExtFields | undefined,
  what: string,
): HeaderOf<S> {
  const out: Record<string, unknown> = {};
  const fields = compiled(schema);
  for (let i = 0; i < fields.length; i++) {
    const [name, spec] = fields[i]!;
    const value: unknown =
      ext !== undefined && Object.hasOwn(ext, name) ? (ext as Record<string, unknown>)[name] : undefined;
    if (value === undefined || value === null || (value === "" && spec.type !== "string")) {
      if (spec.default !== undefined) out[name] = spec.default;
      else if (spec.required) throw new HeaderError(`${what}: the header lacks the required field "${name}"`);
      continue;
    }
    out[name] = coerce(typeof value === "string" ? value : String(value), spec.type, name, what);
  }
  return out as HeaderOf<S>;
}

/** A schema's fields as an array, worked out once per schema (decodeHeader runs per request). */
const compiledSchemas = new WeakMap<HeaderSchema, Array<[string, FieldSpec]>>();
function compiled(schema: HeaderSchema): Array<[string, FieldSpec]> {
  let fields = compiledSchemas.get(schema);
  if (!fields) {
    fields = Object.entries(schema);
    compiledSchemas.set(schema, fields);
  }
  return fields;
}

/** Plain decimal digits with an optional sign, at most 15 digits: exact as a double, no BigInt needed. */
export function smallInteger(raw: string): number | undefined {
  const n = raw.length;
  if (n === 0 || n > 16) return undefined;
  let i = 0;
  const c0 = raw.charCodeAt(0);
  if (c0 === 45 /* - */ || c0 === 43 /* + */) {
    if (n === 1) return undefined;
    i = 1;
  }
  if (n - i > 15) return undefined;
  for (; i < n; i++) {
    const c = raw.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  // "-0" is 0 (as the BigInt path gives).
  return Number(raw) || 0;
}

function coerce(raw: string, type: FieldType, name: string, what: string): unknown {
  switch (type) {
    case "string":
      return raw;
    case "bool":
      // Boolean.parseBoolean: only "true", in any case, is true.
      return raw === "true" || raw.toLowerCase() === "true";
    case "int":
    case "long": {
      const fast = smallInteger(raw);
      if (fast !== undefined && (type === "long" || (fast <= INT_MAX && fast >= INT_MIN))) return fast;
      const text = raw.trim();
      if (!INTEGER.test(text)) throw new HeaderError(`${what}: field "${name}" is not an integer: "${raw}"`);
      if (type === "int") {
        const n = Number(text);
        if (n > INT_MAX || n < INT_MIN) {
          throw new HeaderError(`${what}: field "${name}" is out of the int range: "${raw}"`);
        }
        return n;
      }
      const big = BigInt(text);
      if (big > LONG_MAX || big < LONG_MIN) {
        throw new HeaderError(`${what}: field "${name}" is out of the long range: "${raw}"`);
      }
      return Number(big);
    }
  }
}

/** Header values to ext fields (strings, as Java writes them); undefined values are dropped. */
export function encodeHeader(header: object): ExtFields {
  return toExtFields(header) ?? {};
}
