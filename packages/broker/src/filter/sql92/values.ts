/**
 * Java's value conversions and comparisons as RocketMQ's SQL92 filter applies them
 * (spec §9.2). Property values are always strings; numbers only ever come from literals,
 * whose Java type (Integer, Long, Double) is known when the expression is compiled, so a
 * comparison knows at compile time which conversion the property text gets.
 */

/** Raised while evaluating: the message does not match (RocketMQ filters it out too). */
export class Sql92EvalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "Sql92EvalError";
  }
}

export type NumberKind = "int" | "long" | "double";
export type Num = number | bigint;

const INTEGER_TEXT = /^[+-]?\d+$/;
/** java.lang.Double.valueOf's decimal forms (hex floats aside); leading/trailing whitespace is trimmed. */
const DOUBLE_TEXT = /^[+-]?(?:NaN|Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)[fFdD]?$/;

/** Integer.valueOf / Long.valueOf / Double.valueOf of a property's text; throws like Java. */
export function convert(text: string, kind: NumberKind): Num {
  if (kind === "double") {
    const t = text.replace(/^[\0- ]+|[\0- ]+$/g, "");
    if (!DOUBLE_TEXT.test(t)) throw new Sql92EvalError(`'${text}' is not a number`);
    return Number(t.replace(/[fFdD]$/, ""));
  }
  if (kind === "int") return parseInteger(text);
  if (!INTEGER_TEXT.test(text)) throw new Sql92EvalError(`'${text}' is not an integer`);
  const big = BigInt(text);
  if (big < -(2n ** 63n) || big > 2n ** 63n - 1n) throw new Sql92EvalError(`'${text}' does not fit a Long`);
  return big;
}

/** Integer.valueOf by hand: the common filter (`amount > 1000`) runs it on every candidate message. */
function parseInteger(text: string): number {
  const n = text.length;
  let i = 0;
  let negative = false;
  if (n > 0 && (text.charCodeAt(0) === 45 || text.charCodeAt(0) === 43)) {
    negative = text.charCodeAt(0) === 45;
    i = 1;
  }
  if (i === n || n - i > 10) throw new Sql92EvalError(`'${text}' is not an Integer`);
  let v = 0;
  for (; i < n; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) throw new Sql92EvalError(`'${text}' is not an Integer`);
    v = v * 10 + d;
  }
  if (negative) v = -v;
  if (v < -2147483648 || v > 2147483647) throw new Sql92EvalError(`'${text}' does not fit an Integer`);
  return v;
}

/** Boolean.valueOf: "true" in any case is true, anything else false. */
export function toBoolean(text: string): boolean {
  return text.length === 4 && text.toLowerCase() === "true";
}

/** The wider of two literal kinds (Integer → Long → Double), Java's binary numeric promotion. */
export function wider(a: NumberKind, b: NumberKind): NumberKind {
  if (a === "double" || b === "double") return "double";
  if (a === "long" || b === "long") return "long";
  return "int";
}

/** Double.compare: NaN is greater than everything and equal to itself; -0.0 < 0.0. */
function compareDouble(a: number, b: number): number {
  if (a < b) return -1;
  if (a > b) return 1;
  if (a === b) {
    if (a !== 0) return 0;
    const za = Object.is(a, -0);
    const zb = Object.is(b, -0);
    return za === zb ? 0 : za ? -1 : 1;
  }
  const na = Number.isNaN(a);
  const nb = Number.isNaN(b);
  return na === nb ? 0 : na ? 1 : -1;
}

/** Compares two numbers of the same promoted kind (both bigint for long, numbers otherwise). */
export function compareNum(a: Num, b: Num, kind: NumberKind): number {
  if (kind === "long") {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (kind === "int") return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
  return compareDouble(Number(a), Number(b));
}

/** A literal of `from` kind widened to `to` (never narrows). */
export function widen(v: Num, to: NumberKind): Num {
  if (to === "long") return BigInt(v);
  if (to === "double") return Number(v);
  return v;
}
