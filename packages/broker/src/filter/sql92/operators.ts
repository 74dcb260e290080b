import { INT_MIN, Sql92ParseError } from "./lexer.js";
import { compareNum, convert, type Num, type NumberKind, toBoolean, widen, wider } from "./values.js";

/**
 * The typed nodes a compiled SQL92 expression is made of, and what each operator evaluates to
 * at run time (three-valued logic, comparisons with Java's conversions, spec §9.2). The parser
 * (compile.ts) builds the tree with these; each node's `ev` closure is the evaluator.
 */

/** Reads a message property: its string value, or undefined when the message has none. */
export type PropertyGetter = (name: string) => string | undefined;

export type Val = string | Num | boolean | null;
/**
 * What a node yields, known at compile time: a property (string or null), a literal of one
 * Java type, a condition (true/false/null), the NULL literal, or "nothing" (negating a
 * non-number: Java evaluates that to null, but it is not the NULL literal).
 */
export type Kind = "prop" | NumberKind | "string" | "bool" | "null" | "nothing";

export interface Node {
  kind: Kind;
  pos: number;
  text: string;
  /** Set for literals (and folded constant expressions). */
  isConst: boolean;
  value?: Val;
  /** Set for a bare property. */
  name?: string;
  ev: (get: PropertyGetter) => Val;
}

export const isNum = (k: Kind): k is NumberKind => k === "int" || k === "long" || k === "double";
const isText = (k: Kind) => k === "prop" || k === "string";

export function constant(kind: Kind, value: Val, pos: number, text: string): Node {
  return { kind, value, pos, text, isConst: true, ev: () => value };
}

export function bool(pos: number, text: string, ev: (get: PropertyGetter) => boolean | null): Node {
  return { kind: "bool", pos, text, isConst: false, ev };
}

/** Folds a condition whose operands are all literals into a literal (errors become parse errors). */
export function fold(node: Node, parts: Node[]): Node {
  if (!parts.every((p) => p.isConst)) return node;
  try {
    return constant(
      "bool",
      node.ev(() => undefined),
      node.pos,
      node.text,
    );
  } catch (err) {
    throw new Sql92ParseError(node.pos, `${node.text} can never be evaluated: ${(err as Error).message}`);
  }
}

/** `a = b` between run-time values of the given compile-time kinds (spec §9.2). */
function equalValues(lv: Val, lk: Kind, rv: Val, rk: Kind): boolean | null {
  if (lv === null) return null;
  if (rv === null) return false;
  if (isText(lk) && isText(rk)) return lv === rv;
  if (isText(lk)) return convertedEqual(lv as string, rv, rk);
  if (isText(rk)) return convertedEqual(rv as string, lv, lk);
  if (lk === "bool" || rk === "bool") return lk === rk && lv === rv;
  const k = wider(lk as NumberKind, rk as NumberKind);
  return compareNum(widen(lv as Num, k), widen(rv as Num, k), k) === 0;
}

function convertedEqual(text: string, other: Val, otherKind: Kind): boolean {
  if (otherKind === "bool") return toBoolean(text) === other;
  const k = otherKind as NumberKind;
  return compareNum(convert(text, k), other as Num, k) === 0;
}

/** Ordering of two run-time values for `< <= > >=` (operands were checked at compile time). */
function orderValues(lv: Val, lk: Kind, rv: Val, rk: Kind): number | null {
  if (lv === null || rv === null) return null;
  if (lk === "prop" && rk === "prop") {
    return compareNum(convert(lv as string, "double"), convert(rv as string, "double"), "double");
  }
  if (lk === "prop") return compareNum(convert(lv as string, rk as NumberKind), rv as Num, rk as NumberKind);
  if (rk === "prop") return compareNum(lv as Num, convert(rv as string, lk as NumberKind), lk as NumberKind);
  const k = wider(lk as NumberKind, rk as NumberKind);
  return compareNum(widen(lv as Num, k), widen(rv as Num, k), k);
}

export const RELATIONS: Record<string, (c: number) => boolean> = {
  ">": (c) => c > 0,
  ">=": (c) => c >= 0,
  "<": (c) => c < 0,
  "<=": (c) => c <= 0,
};

function checkEqualOperand(n: Node): void {
  if (n.kind === "null") {
    throw new Sql92ParseError(n.pos, "NULL cannot be compared with '=' or '<>': use IS NULL or IS NOT NULL");
  }
}

function checkOrderOperand(n: Node, op: string): void {
  if (n.kind === "bool") {
    throw new Sql92ParseError(
      n.pos,
      `${n.text} is a condition and cannot be compared with '${op}' (NOT binds tighter than comparisons: write NOT (a > 1))`,
    );
  }
  if (n.isConst && !isNum(n.kind)) {
    throw new Sql92ParseError(n.pos, `${n.text} cannot be compared with '${op}': only numbers can`);
  }
}

export function equal(l: Node, r: Node, negate: boolean, pos: number): Node {
  checkEqualOperand(l);
  checkEqualOperand(r);
  const lk = l.kind;
  const rk = r.kind;
  const text = `${l.text} ${negate ? "<>" : "="} ${r.text}`;
  let ev: (get: PropertyGetter) => boolean | null;
  if (lk === "prop" && r.isConst && rk === "string") {
    const name = l.name!;
    const want = r.value as string;
    ev = (get) => {
      const v = get(name);
      return v === undefined ? null : v === want;
    };
  } else {
    ev = (get) => equalValues(l.ev(get), lk, r.ev(get), rk);
  }
  const node = negate
    ? bool(pos, text, (get) => {
        const v = ev(get);
        return v === null ? null : !v;
      })
    : bool(pos, text, ev);
  return fold(node, [l, r]);
}

export function order(op: string, l: Node, r: Node, pos: number): Node {
  checkOrderOperand(l, op);
  checkOrderOperand(r, op);
  const rel = RELATIONS[op]!;
  const lk = l.kind;
  const rk = r.kind;
  let ev: (get: PropertyGetter) => boolean | null;
  if (lk === "prop" && r.isConst && isNum(rk)) {
    // The common case (`amount > 1000`): one property read, one conversion.
    const name = l.name!;
    const c = r.value as Num;
    ev = (get) => {
      const v = get(name);
      return v === undefined ? null : rel(compareNum(convert(v, rk), c, rk));
    };
  } else {
    ev = (get) => {
      const c = orderValues(l.ev(get), lk, r.ev(get), rk);
      return c === null ? null : rel(c);
    };
  }
  return fold(bool(pos, `${l.text} ${op} ${r.text}`, ev), [l, r]);
}

export function and(l: Node, r: Node): Node {
  const a = l.ev;
  const b = r.ev;
  return fold(
    bool(l.pos, `${l.text} AND ${r.text}`, (get) => {
      const x = a(get);
      if (x === false) return false;
      const y = b(get);
      if (y === false) return false;
      return x === null || y === null ? null : true;
    }),
    [l, r],
  );
}

export function or(l: Node, r: Node): Node {
  const a = l.ev;
  const b = r.ev;
  return fold(
    bool(l.pos, `${l.text} OR ${r.text}`, (get) => {
      const x = a(get);
      if (x === true) return true;
      const y = b(get);
      if (y === true) return true;
      return x === null || y === null ? null : false;
    }),
    [l, r],
  );
}

export function not(n: Node, pos: number): Node {
  const e = n.ev;
  return fold(
    bool(pos, `NOT ${n.text}`, (get) => {
      const v = e(get);
      return v === null ? null : !v;
    }),
    [n],
  );
}

/** A node used as a condition (AND/OR/NOT operand, the whole expression): ActiveMQ's asBooleanExpression. */
export function asCondition(n: Node): Node {
  if (n.kind === "bool") return n;
  if (n.kind === "null") return bool(n.pos, n.text, () => null);
  if (n.kind === "prop") {
    // A property is a condition only if its value is a Boolean, and property values are strings.
    const name = n.name!;
    return bool(n.pos, n.text, (get) => (get(name) === undefined ? null : false));
  }
  throw new Sql92ParseError(n.pos, `${n.text} is not a condition (it does not evaluate to TRUE or FALSE)`);
}

/** Unary minus: folds literals (keeping -2147483648 an Integer); a property's negation is null in Java. */
export function negate(n: Node, pos: number): Node {
  if (n.isConst && isNum(n.kind)) {
    if (n.kind === "long") {
      const v = -(n.value as bigint);
      if (v >= BigInt(INT_MIN)) return constant("int", Number(v), pos, `-${n.text}`);
      return constant("long", v, pos, `-${n.text}`);
    }
    return constant(n.kind, -(n.value as number), pos, `-${n.text}`);
  }
  if (n.kind === "bool")
    throw new Sql92ParseError(pos, `${n.text} is a condition and cannot be negated with '-'`);
  return { kind: "nothing", pos, text: `-${n.text}`, isConst: n.isConst, value: null, ev: () => null };
}

export function stringTest(op: string, l: Node, search: string, negateIt: boolean, pos: number): Node {
  const e = l.ev;
  const test =
    op === "CONTAINS"
      ? (v: string) => v.includes(search)
      : op === "STARTSWITH"
        ? (v: string) => v.startsWith(search)
        : (v: string) => v.endsWith(search);
  return fold(
    bool(pos, `${l.text} ${negateIt ? "NOT " : ""}${op} '${search}'`, (get) => {
      if (search.length === 0) return false;
      const v = e(get);
      if (typeof v !== "string") return false;
      return test(v) !== negateIt;
    }),
    [l],
  );
}
