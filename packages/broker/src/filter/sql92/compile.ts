import { INT_MIN, Sql92ParseError, type Token, tokenize } from "./lexer.js";
import {
  compareNum,
  convert,
  type Num,
  type NumberKind,
  Sql92EvalError,
  toBoolean,
  widen,
  wider,
} from "./values.js";

/** Reads a message property: its string value, or undefined when the message has none. */
export type PropertyGetter = (name: string) => string | undefined;

type Val = string | Num | boolean | null;
/**
 * What a node yields, known at compile time: a property (string or null), a literal of one
 * Java type, a condition (true/false/null), the NULL literal, or "nothing" (negating a
 * non-number: Java evaluates that to null, but it is not the NULL literal).
 */
type Kind = "prop" | NumberKind | "string" | "bool" | "null" | "nothing";

interface Node {
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

/** A compiled subscription expression. */
export interface Sql92Filter {
  readonly expression: string;
  /** Names of the properties the expression reads (for a caller that decodes selectively). */
  readonly properties: readonly string[];
  /** Three-valued result; throws Sql92EvalError where RocketMQ's evaluation throws. */
  evaluate(get: PropertyGetter): boolean | null;
  /** True only when the expression evaluates to exactly TRUE (spec §9.2). */
  matches(get: PropertyGetter): boolean;
}

/** Deepest nesting accepted (parentheses, NOT, signs): bounds recursion on hostile input. */
export const MAX_DEPTH = 128;
/** Most values in one IN list. */
export const MAX_IN_VALUES = 10_000;

const isNum = (k: Kind): k is NumberKind => k === "int" || k === "long" || k === "double";
const isText = (k: Kind) => k === "prop" || k === "string";

function constant(kind: Kind, value: Val, pos: number, text: string): Node {
  return { kind, value, pos, text, isConst: true, ev: () => value };
}

function bool(pos: number, text: string, ev: (get: PropertyGetter) => boolean | null): Node {
  return { kind: "bool", pos, text, isConst: false, ev };
}

/** Folds a condition whose operands are all literals into a literal (errors become parse errors). */
function fold(node: Node, parts: Node[]): Node {
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

const RELATIONS: Record<string, (c: number) => boolean> = {
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

function equal(l: Node, r: Node, negate: boolean, pos: number): Node {
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

function order(op: string, l: Node, r: Node, pos: number): Node {
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

function and(l: Node, r: Node): Node {
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

function or(l: Node, r: Node): Node {
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

function not(n: Node, pos: number): Node {
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
function asCondition(n: Node): Node {
  if (n.kind === "bool") return n;
  if (n.kind === "null") return bool(n.pos, n.text, () => null);
  if (n.kind === "prop") {
    // A property is a condition only if its value is a Boolean, and property values are strings.
    const name = n.name!;
    return bool(n.pos, n.text, (get) => (get(name) === undefined ? null : false));
  }
  throw new Sql92ParseError(n.pos, `${n.text} is not a condition (it does not evaluate to TRUE or FALSE)`);
}

class Parser {
  private i = 0;
  private depth = 0;
  readonly properties = new Set<string>();
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.i]!;
  }
  private next(): Token {
    return this.tokens[this.i++]!;
  }
  private isKeyword(word: string, offset = 0): boolean {
    const t = this.tokens[this.i + offset];
    return t !== undefined && t.kind === "keyword" && t.text === word;
  }
  private isOp(op: string): boolean {
    const t = this.peek();
    return t.kind === "op" && t.text === op;
  }
  private expected(what: string): never {
    const t = this.peek();
    const found = t.kind === "eof" ? "the end of the expression" : `'${t.text}'`;
    throw new Sql92ParseError(t.pos, `expected ${what} but found ${found}`);
  }
  private expectKeyword(word: string): void {
    if (!this.isKeyword(word)) this.expected(word);
    this.i++;
  }
  private enter(): void {
    if (++this.depth > MAX_DEPTH)
      throw new Sql92ParseError(this.peek().pos, `nested deeper than ${MAX_DEPTH} levels`);
  }

  parse(): Node {
    const n = this.orExpr();
    if (this.peek().kind !== "eof") this.expected("AND, OR or the end of the expression");
    return asCondition(n);
  }

  private orExpr(): Node {
    let l = this.andExpr();
    while (this.isKeyword("OR")) {
      this.i++;
      l = or(asCondition(l), asCondition(this.andExpr()));
    }
    return l;
  }

  private andExpr(): Node {
    let l = this.equality();
    while (this.isKeyword("AND")) {
      this.i++;
      l = and(asCondition(l), asCondition(this.equality()));
    }
    return l;
  }

  private equality(): Node {
    let l = this.comparison();
    for (;;) {
      const t = this.peek();
      if (this.isOp("=") || this.isOp("<>")) {
        this.i++;
        l = equal(l, this.comparison(), t.text === "<>", t.pos);
      } else if (this.isKeyword("IS")) {
        this.i++;
        const negate = this.isKeyword("NOT");
        if (negate) this.i++;
        this.expectKeyword("NULL");
        const e = l.ev;
        l = fold(
          bool(l.pos, `${l.text} IS ${negate ? "NOT " : ""}NULL`, (get) => (e(get) === null) !== negate),
          [l],
        );
      } else {
        return l;
      }
    }
  }

  private comparison(): Node {
    let l = this.unary();
    for (;;) {
      const t = this.peek();
      if (t.kind === "op" && RELATIONS[t.text]) {
        this.i++;
        l = order(t.text, l, this.unary(), t.pos);
        continue;
      }
      const negate = this.isKeyword("NOT");
      const at = negate ? 1 : 0;
      if (this.isKeyword("BETWEEN", at)) {
        this.i += at + 1;
        const lo = this.unary();
        this.expectKeyword("AND");
        const hi = this.unary();
        if (lo.isConst && hi.isConst && isNum(lo.kind) && isNum(hi.kind)) {
          const k = wider(lo.kind, hi.kind);
          if (compareNum(widen(lo.value as Num, k), widen(hi.value as Num, k), k) > 0) {
            throw new Sql92ParseError(
              lo.pos,
              `BETWEEN ${lo.text} AND ${hi.text}: the lower bound is above the upper bound`,
            );
          }
        }
        l = negate
          ? or(order("<", l, lo, t.pos), order(">", l, hi, t.pos))
          : and(order(">=", l, lo, t.pos), order("<=", l, hi, t.pos));
        continue;
      }
      if (this.isKeyword("IN", at)) {
        this.i += at + 1;
        l = this.inList(l, negate, t.pos);
        continue;
      }
      const word = this.tokens[this.i + at];
      if (
        word?.kind === "keyword" &&
        (word.text === "CONTAINS" || word.text === "STARTSWITH" || word.text === "ENDSWITH")
      ) {
        this.i += at + 1;
        const s = this.next();
        if (s.kind !== "string") {
          this.i--;
          this.expected(`a string after ${word.text}`);
        }
        l = stringTest(word.text, l, s.value as string, negate, t.pos);
        continue;
      }
      if (negate) this.expected("BETWEEN, IN, CONTAINS, STARTSWITH or ENDSWITH after NOT");
      return l;
    }
  }

  private inList(l: Node, negate: boolean, pos: number): Node {
    if (l.kind !== "prop")
      throw new Sql92ParseError(l.pos, `only a property may stand before IN, not ${l.text}`);
    if (this.peek().kind !== "lparen") this.expected("'(' after IN");
    this.i++;
    const values = new Set<string>();
    for (;;) {
      const s = this.next();
      if (s.kind !== "string") {
        this.i--;
        this.expected("a string literal in the IN list");
      }
      values.add(s.value as string);
      if (values.size > MAX_IN_VALUES)
        throw new Sql92ParseError(s.pos, `more than ${MAX_IN_VALUES} values in IN`);
      const sep = this.next();
      if (sep.kind === "rparen") break;
      if (sep.kind !== "comma") {
        this.i--;
        this.expected("',' or ')' in the IN list");
      }
    }
    const name = l.name!;
    return bool(pos, `${l.text} ${negate ? "NOT " : ""}IN (…)`, (get) => {
      const v = get(name);
      return v === undefined ? null : values.has(v) !== negate;
    });
  }

  private unary(): Node {
    this.enter();
    try {
      const t = this.peek();
      if (this.isOp("+")) {
        this.i++;
        return this.unary();
      }
      if (this.isOp("-")) {
        this.i++;
        return negate(this.unary(), t.pos);
      }
      if (this.isKeyword("NOT")) {
        this.i++;
        return not(asCondition(this.unary()), t.pos);
      }
      return this.primary();
    } finally {
      this.depth--;
    }
  }

  private primary(): Node {
    const t = this.next();
    switch (t.kind) {
      case "string":
        return constant("string", t.value as string, t.pos, t.text);
      case "int":
      case "double":
        return constant(t.kind, t.value as number, t.pos, t.text);
      case "long":
        // 2^63 is accepted only under a unary minus (Long.MIN_VALUE): see checkLongRange.
        return constant("long", t.value as bigint, t.pos, t.text);
      case "ident": {
        this.properties.add(t.text);
        const name = t.text;
        return { kind: "prop", name, pos: t.pos, text: name, isConst: false, ev: (get) => get(name) ?? null };
      }
      case "keyword":
        if (t.text === "TRUE" || t.text === "FALSE")
          return constant("bool", t.text === "TRUE", t.pos, t.text);
        if (t.text === "NULL") return constant("null", null, t.pos, t.text);
        break;
      case "lparen": {
        const inner = this.orExpr();
        if (this.peek().kind !== "rparen") this.expected("')'");
        this.i++;
        return { ...inner, text: `(${inner.text})` };
      }
      default:
        break;
    }
    this.i--;
    return this.expected("a property name, a literal or '('");
  }
}

/** Unary minus: folds literals (keeping -2147483648 an Integer); a property's negation is null in Java. */
function negate(n: Node, pos: number): Node {
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

function stringTest(op: string, l: Node, search: string, negateIt: boolean, pos: number): Node {
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

/** Checks that no positive long literal above Long.MAX_VALUE survived (it is only valid negated). */
function checkLongRange(tokens: Token[]): void {
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind !== "long" || (t.value as bigint) <= 2n ** 63n - 1n) continue;
    const prev = tokens[i - 1];
    if (!(prev?.kind === "op" && prev.text === "-")) {
      throw new Sql92ParseError(t.pos, `integer ${t.text} does not fit in a Long`);
    }
  }
}

/**
 * Parses and type-checks an SQL92 subscription expression (spec §9.2) into a filter.
 * Throws Sql92ParseError (SUBSCRIPTION_PARSE_FAILED) with the position and the reason.
 */
export function compileSql92(expression: string): Sql92Filter {
  if (typeof expression !== "string" || expression.trim().length === 0) {
    throw new Sql92ParseError(0, "the expression is empty");
  }
  const tokens = tokenize(expression);
  checkLongRange(tokens);
  const parser = new Parser(tokens);
  const root = parser.parse();
  const ev = root.ev as (get: PropertyGetter) => boolean | null;
  return {
    expression,
    properties: [...parser.properties],
    evaluate: ev,
    matches(get) {
      try {
        return ev(get) === true;
      } catch (err) {
        if (err instanceof Sql92EvalError) return false;
        throw err;
      }
    },
  };
}
