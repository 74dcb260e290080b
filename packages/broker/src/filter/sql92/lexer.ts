import { ResponseCode, TideMQError } from "@tidemq/protocol";

/**
 * A malformed SQL92 subscription. `position` is the 0-based character offset where the
 * problem was found, so the remark can point at it (RocketMQ's parser only says
 * "Encountered ... at line 1, column 7" and only for some errors).
 */
export class Sql92ParseError extends TideMQError {
  constructor(
    readonly position: number,
    readonly reason: string,
  ) {
    super(
      ResponseCode.SUBSCRIPTION_PARSE_FAILED,
      `SQL92 expression error at position ${position}: ${reason}`,
    );
    this.name = "Sql92ParseError";
  }
}

export type TokenKind =
  | "ident"
  | "string"
  | "int"
  | "long"
  | "double"
  | "keyword"
  | "op"
  | "lparen"
  | "rparen"
  | "comma"
  | "eof";

export interface Token {
  kind: TokenKind;
  /** Keyword names are upper-cased; operators as written; literals in their source text. */
  text: string;
  /** The literal's value: string contents, number, or bigint for a long. */
  value?: string | number | bigint;
  pos: number;
}

export const KEYWORDS = new Set([
  "NOT",
  "AND",
  "OR",
  "BETWEEN",
  "IN",
  "TRUE",
  "FALSE",
  "NULL",
  "IS",
  "CONTAINS",
  "STARTSWITH",
  "ENDSWITH",
]);

/** Longest accepted expression: a subscription is parsed once, but garbage must stay cheap. */
export const MAX_EXPRESSION_LENGTH = 16 * 1024;

const INT_MIN = -2147483648;
const INT_MAX = 2147483647;
const LONG_MAX = 9223372036854775807n;

function isIdentStart(c: string): boolean {
  return (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "_" || c === "$";
}
function isIdentPart(c: string): boolean {
  return isIdentStart(c) || isDigit(c);
}
function isDigit(c: string): boolean {
  return c >= "0" && c <= "9";
}

/** Splits an expression into tokens (spec §9.2: keywords case-insensitive, `--` and block comments skipped). */
export function tokenize(src: string): Token[] {
  if (src.length > MAX_EXPRESSION_LENGTH) {
    throw new Sql92ParseError(
      MAX_EXPRESSION_LENGTH,
      `the expression is longer than ${MAX_EXPRESSION_LENGTH} characters`,
    );
  }
  const out: Token[] = [];
  let i = 0;
  const n = src.length;
  while (i < n) {
    const c = src[i]!;
    if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f") {
      i++;
      continue;
    }
    if (c === "-" && src[i + 1] === "-") {
      while (i < n && src[i] !== "\n" && src[i] !== "\r") i++;
      continue;
    }
    if (c === "/" && src[i + 1] === "*") {
      const end = src.indexOf("*/", i + 2);
      if (end < 0) throw new Sql92ParseError(i, "unterminated /* comment");
      i = end + 2;
      continue;
    }
    const start = i;
    if (isIdentStart(c)) {
      while (i < n && isIdentPart(src[i]!)) i++;
      const word = src.slice(start, i);
      const upper = word.toUpperCase();
      if (KEYWORDS.has(upper)) out.push({ kind: "keyword", text: upper, pos: start });
      else out.push({ kind: "ident", text: word, pos: start });
      continue;
    }
    if (c === "'") {
      let value = "";
      i++;
      for (;;) {
        if (i >= n) throw new Sql92ParseError(start, "unterminated string literal");
        const ch = src[i]!;
        if (ch === "'") {
          if (src[i + 1] === "'") {
            value += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += ch;
        i++;
      }
      out.push({ kind: "string", text: src.slice(start, i), value, pos: start });
      continue;
    }
    if (isDigit(c) || (c === "." && isDigit(src[i + 1] ?? ""))) {
      out.push(readNumber(src, start));
      i = start + out[out.length - 1]!.text.length;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (two === ">=" || two === "<=" || two === "<>") {
      out.push({ kind: "op", text: two, pos: start });
      i += 2;
      continue;
    }
    if (c === "=" || c === ">" || c === "<" || c === "+" || c === "-") {
      out.push({ kind: "op", text: c, pos: start });
      i++;
      continue;
    }
    if (c === "(") out.push({ kind: "lparen", text: c, pos: start });
    else if (c === ")") out.push({ kind: "rparen", text: c, pos: start });
    else if (c === ",") out.push({ kind: "comma", text: c, pos: start });
    else if (two === "!=") throw new Sql92ParseError(start, "'!=' is not SQL92: use '<>'");
    else throw new Sql92ParseError(start, `unexpected character ${JSON.stringify(c)}`);
    i++;
  }
  out.push({ kind: "eof", text: "end of expression", pos: n });
  return out;
}

/**
 * An integer (`0` or `[1-9][0-9]*`, optional L suffix: a 32-bit int when it fits, else a
 * 64-bit long) or a float (`1.5`, `1.`, `.5`, optional exponent) — RocketMQ's literal rules.
 */
function readNumber(src: string, start: number): Token {
  const m = /^(?:(\d+\.\d*|\.\d+)([eE][+-]?\d+)?|(\d+)([eE][+-]?\d+)|(\d+)([lL])?)/.exec(
    src.slice(start, start + 400),
  );
  if (!m) throw new Sql92ParseError(start, "malformed number");
  const text = m[0];
  const next = src[start + text.length];
  if (next !== undefined && (isIdentPart(next) || next === ".")) {
    throw new Sql92ParseError(
      start,
      `malformed number ${JSON.stringify(src.slice(start, start + text.length + 1))}`,
    );
  }
  if (m[5] !== undefined) {
    const digits = m[5];
    if (digits.length > 1 && digits[0] === "0") {
      throw new Sql92ParseError(
        start,
        `octal-looking integer ${digits} is not accepted: drop the leading zero`,
      );
    }
    const big = BigInt(digits);
    // A negative literal is built by the parser from unary minus; -2147483648 must stay an int,
    // so the int/long decision for 2147483648 is taken there (see negate in parser.ts).
    if (big <= BigInt(INT_MAX)) return { kind: "int", text, value: Number(big), pos: start };
    if (big <= LONG_MAX + 1n) return { kind: "long", text, value: big, pos: start };
    throw new Sql92ParseError(start, `integer ${digits} does not fit in 64 bits`);
  }
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Sql92ParseError(start, `number ${text} is out of range`);
  return { kind: "double", text, value, pos: start };
}

export { INT_MAX, INT_MIN, LONG_MAX };
