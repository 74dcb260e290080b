import { Sql92ParseError, type Token, tokenize } from "./lexer.js";
import {
  and,
  asCondition,
  bool,
  constant,
  equal,
  fold,
  isNum,
  type Node,
  negate,
  not,
  or,
  order,
  type PropertyGetter,
  RELATIONS,
  stringTest,
} from "./operators.js";
import { compareNum, type Num, Sql92EvalError, widen, wider } from "./values.js";

export type { PropertyGetter } from "./operators.js";

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
