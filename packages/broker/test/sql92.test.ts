/**
 * The SQL92 filter (spec §9.2) as a pure module: the grammar's edge cases, RocketMQ's
 * conversion rules, three-valued logic checked against an independent reference evaluator
 * on random expressions, and random garbage that must only ever give a parse error.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ResponseCode } from "@tidemq/protocol";
import fc from "fast-check";
import { compileSql92, Sql92EvalError, Sql92ParseError } from "../src/filter/sql92/index.js";

type Props = Record<string, string>;
const get = (p: Props) => (name: string) => (Object.hasOwn(p, name) ? p[name] : undefined);
function evalOf(expr: string, p: Props): boolean | null | "ERR" {
  try {
    return compileSql92(expr).evaluate(get(p));
  } catch (err) {
    if (err instanceof Sql92EvalError) return "ERR";
    throw err;
  }
}

test("comparisons convert the property text to the literal's Java type", () => {
  const cases: Array<[string, Props, boolean | null | "ERR"]> = [
    ["a > 5", { a: "6" }, true],
    ["a > 5", { a: "5" }, false],
    ["a > 5", {}, null],
    ["a > 5", { a: "5.5" }, "ERR"], // Integer.valueOf("5.5") throws
    ["a > 5", { a: "10000000000" }, "ERR"], // does not fit an Integer
    ["a > 5L", { a: "10000000000" }, "ERR"], // 5L fits 32 bits: still an Integer
    ["a > 5000000000", { a: "10000000000" }, true], // a long literal
    ["a > 5.0", { a: "5.5" }, true],
    ["a > 5.0", { a: " 6 " }, true], // Double.valueOf trims
    ["a >= .5", { a: "0.5" }, true],
    ["a < 1e3", { a: "999.9" }, true],
    ["a > b", { a: "3", b: "2.5" }, true], // property vs property: doubles
    ["a = 5", { a: "5" }, true],
    ["a = 5", { a: "05" }, true],
    ["a = 5", { a: "x" }, "ERR"],
    ["a = 5.0", { a: "5" }, true],
    ["a = 'x'", { a: "x" }, true],
    ["a = 'x'", {}, null],
    ["'x' = a", {}, false], // only the left side's NULL makes the result NULL
    ["a <> 'x'", { a: "y" }, true],
    ["a <> 'x'", {}, null],
    ["a = TRUE", { a: "TRUE" }, true],
    ["a = FALSE", { a: "yes" }, true], // Boolean.valueOf("yes") is false
    ["a = b", { a: "1", b: "1" }, true],
    ["-5 < a", { a: "0" }, true],
    ["a > -2147483648", { a: "-2147483647" }, true],
    ["-a = 1", { a: "1" }, null], // negating a string is null in Java
    ["a BETWEEN 1 AND 3", { a: "3" }, true],
    ["a BETWEEN 1 AND 3", { a: "4" }, false],
    ["a NOT BETWEEN 1 AND 3", { a: "4" }, true],
    ["a NOT BETWEEN 1 AND 3", {}, null],
    ["a IN ('x', 'y')", { a: "y" }, true],
    ["a IN ('x', 'y')", {}, null],
    ["a NOT IN ('x', 'y')", { a: "z" }, true],
    ["a NOT IN ('x')", {}, null],
    ["a IS NULL", {}, true],
    ["a IS NOT NULL", { a: "" }, true],
    ["a", { a: "true" }, false], // a bare property is a Boolean only if the value is one: never
    ["a", {}, null],
    ["TRUE", {}, true],
    ["NOT FALSE", {}, true],
    ["NULL", {}, null],
    ["a CONTAINS 'bc'", { a: "abcd" }, true],
    ["a STARTSWITH 'ab'", { a: "abcd" }, true],
    ["a ENDSWITH 'cd'", { a: "abcd" }, true],
    ["a NOT CONTAINS 'z'", { a: "abcd" }, true],
    ["a CONTAINS ''", { a: "abcd" }, false],
    ["a = 'it''s'", { a: "it's" }, true],
    ["a = 1 -- a comment\n AND /* block */ b = 2", { a: "1", b: "2" }, true],
    ["amount > 1000 AND region = 'EU'", { amount: "1500", region: "EU" }, true],
    ["amount > 1000 AND region = 'EU'", { amount: "1500", region: "US" }, false],
    ["amount > 1000 AND region = 'EU'", { region: "EU" }, null],
    ["x > 1 OR y = 'a'", { y: "a" }, true], // NULL OR TRUE
    ["x > 1 AND y = 'a'", { y: "b" }, false], // NULL AND FALSE
    ["NOT (x > 1)", {}, null],
    ["and_1 = 'k' and OR_ = 'v'", { and_1: "k", OR_: "v" }, true], // keywords are case-insensitive, names are not
  ];
  for (const [expr, props, want] of cases) {
    assert.equal(evalOf(expr, props), want, `${expr} with ${JSON.stringify(props)}`);
  }
});

test("matches is true only for exactly TRUE; an evaluation error is no match", () => {
  const f = compileSql92("a > 5");
  assert.equal(f.matches(get({ a: "6" })), true);
  assert.equal(f.matches(get({ a: "x" })), false);
  assert.equal(f.matches(get({})), false);
  assert.deepEqual(compileSql92("a > 1 AND (b = 'x' OR c IS NULL)").properties, ["a", "b", "c"]);
});

test("malformed expressions are refused with SUBSCRIPTION_PARSE_FAILED, the position and the reason", () => {
  const cases: Array<[string, number, RegExp]> = [
    ["a >>> 5 AND (", 3, /expected a property name, a literal or '\(' but found '>'/],
    ["", 0, /empty/],
    ["   ", 0, /empty/],
    ["a = NULL", 4, /use IS NULL/],
    ["5", 0, /not a condition/],
    ["'x'", 0, /not a condition/],
    ["a > 'x'", 4, /only numbers/],
    ["NOT a > 5", 0, /write NOT \(a > 1\)/],
    ["a BETWEEN 5 AND 1", 10, /lower bound/],
    ["1 IN ('a')", 0, /only a property/],
    ["a IN (1)", 6, /string literal/],
    ["a != 1", 2, /use '<>'/],
    ["a LIKE 'x'", 2, /found 'LIKE'/],
    ["a = 'x", 4, /unterminated string/],
    ["a = 1 /* open", 6, /unterminated/],
    ["a = 9223372036854775808", 4, /does not fit in a Long/],
    ["a = 012", 4, /leading zero/],
    ["a = 1.2.3", 4, /malformed number/],
    ["(a = 1", 6, /expected '\)'/],
    ["a = 1)", 5, /expected AND, OR or the end/],
    ["a = 1 AND 5", 10, /not a condition/],
    ["a.b = 1", 1, /unexpected character/],
    ["a CONTAINS 5", 11, /a string after CONTAINS/],
    [`${"(".repeat(200)}a${")".repeat(200)} = 1`, 128, /nested deeper/],
  ];
  for (const [expr, pos, reason] of cases) {
    assert.throws(
      () => compileSql92(expr),
      (err: unknown) => {
        assert.ok(err instanceof Sql92ParseError, `${expr}: ${String(err)}`);
        assert.equal(err.code, ResponseCode.SUBSCRIPTION_PARSE_FAILED);
        assert.equal(err.position, pos, `${expr}: ${err.message}`);
        assert.match(err.message, reason, expr);
        assert.match(err.message, new RegExp(`position ${pos}`));
        return true;
      },
      expr,
    );
  }
  // Long.MIN_VALUE is a valid literal only with its sign.
  assert.equal(evalOf("a > -9223372036854775808", { a: "0" }), true);
});

// ---- random expressions against a reference evaluator ----

type V = boolean | null;
interface Gen {
  text: string;
  /** The reference semantics, written independently of the compiler: throws "ERR" like Java's conversions. */
  ref: (p: Props) => V;
}
const NAMES = ["a", "b", "c"];
const VALUES = ["1", "5", "-3", "0", "2.5", "abc", "true", "2147483648", "", " 7"];

function asInt(s: string): number {
  if (!/^[+-]?\d+$/.test(s)) throw "ERR";
  const n = Number(s);
  if (n < -2147483648 || n > 2147483647) throw "ERR";
  return n;
}
function asDouble(s: string): number {
  const t = s.trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) throw "ERR";
  return Number(t);
}
const rel: Record<string, (x: number, y: number) => boolean> = {
  ">": (x, y) => x > y,
  ">=": (x, y) => x >= y,
  "<": (x, y) => x < y,
  "<=": (x, y) => x <= y,
};

const name = fc.constantFrom(...NAMES);
const intLit = fc.integer({ min: -10, max: 10 });
const atom: fc.Arbitrary<Gen> = fc.oneof(
  fc.tuple(name, fc.constantFrom(">", ">=", "<", "<="), intLit).map(([n, op, k]) => ({
    text: `${n} ${op} ${k}`,
    ref: (p: Props) => (p[n] === undefined ? null : rel[op]!(asInt(p[n]!), k)),
  })),
  fc.tuple(name, fc.constantFrom(">", "<"), fc.integer({ min: -20, max: 20 })).map(([n, op, k]) => ({
    text: `${n} ${op} ${(k / 4).toFixed(2)}`,
    ref: (p: Props) => (p[n] === undefined ? null : rel[op]!(asDouble(p[n]!), Number((k / 4).toFixed(2)))),
  })),
  fc.tuple(name, fc.constantFrom("=", "<>"), fc.constantFrom(...VALUES)).map(([n, op, v]) => ({
    text: `${n} ${op} '${v}'`,
    ref: (p: Props) => (p[n] === undefined ? null : (p[n] === v) === (op === "=")),
  })),
  fc.tuple(name, intLit).map(([n, k]) => ({
    text: `${n} = ${k}`,
    ref: (p: Props) => (p[n] === undefined ? null : asInt(p[n]!) === k),
  })),
  fc.tuple(name, intLit, fc.nat(5), fc.boolean()).map(([n, lo, w, neg]) => ({
    text: `${n} ${neg ? "NOT " : ""}BETWEEN ${lo} AND ${lo + w}`,
    ref: (p: Props) => {
      if (p[n] === undefined) return null;
      const x = asInt(p[n]!);
      return (x >= lo && x <= lo + w) !== neg;
    },
  })),
  fc
    .tuple(name, fc.uniqueArray(fc.constantFrom(...VALUES), { minLength: 1, maxLength: 3 }), fc.boolean())
    .map(([n, vs, neg]) => ({
      text: `${n} ${neg ? "NOT " : ""}IN (${vs.map((v) => `'${v}'`).join(", ")})`,
      ref: (p: Props) => (p[n] === undefined ? null : vs.includes(p[n]!) !== neg),
    })),
  fc.tuple(name, fc.boolean()).map(([n, neg]) => ({
    text: `${n} IS ${neg ? "NOT " : ""}NULL`,
    ref: (p: Props) => (p[n] === undefined) !== neg,
  })),
  fc.boolean().map((b) => ({ text: b ? "TRUE" : "FALSE", ref: () => b })),
);

const expression: fc.Arbitrary<Gen> = fc.letrec<{ e: Gen }>((tie) => ({
  e: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    atom,
    fc.tuple(tie("e"), tie("e")).map(([l, r]) => ({
      text: `(${l.text}) AND (${r.text})`,
      ref: (p: Props) => {
        const x = l.ref(p);
        if (x === false) return false;
        const y = r.ref(p);
        if (y === false) return false;
        return x === null || y === null ? null : true;
      },
    })),
    fc.tuple(tie("e"), tie("e")).map(([l, r]) => ({
      text: `(${l.text}) or (${r.text})`,
      ref: (p: Props) => {
        const x = l.ref(p);
        if (x === true) return true;
        const y = r.ref(p);
        if (y === true) return true;
        return x === null || y === null ? null : false;
      },
    })),
    tie("e").map((x) => ({
      text: `NOT (${x.text})`,
      ref: (p: Props) => {
        const v = x.ref(p);
        return v === null ? null : !v;
      },
    })),
  ),
})).e;

const props: fc.Arbitrary<Props> = fc.record(
  { a: fc.constantFrom(...VALUES), b: fc.constantFrom(...VALUES), c: fc.constantFrom(...VALUES) },
  { requiredKeys: [] },
);

test("random expressions evaluate as the reference evaluator says (three-valued, Java conversions)", () => {
  fc.assert(
    fc.property(expression, fc.array(props, { minLength: 1, maxLength: 8 }), (g, messages) => {
      const f = compileSql92(g.text);
      for (const p of messages) {
        let want: V | "ERR";
        try {
          want = g.ref(p);
        } catch (e) {
          if (e !== "ERR") throw e;
          want = "ERR";
        }
        assert.equal(evalOf(g.text, p), want, `${g.text} with ${JSON.stringify(p)}`);
        assert.equal(f.matches(get(p)), want === true);
      }
    }),
    { numRuns: 500 },
  );
});

const VOCABULARY = [
  "a",
  "b",
  "AND",
  "OR",
  "NOT",
  "BETWEEN",
  "IN",
  "IS",
  "NULL",
  "TRUE",
  "FALSE",
  "CONTAINS",
  "(",
  ")",
  ",",
  "=",
  "<>",
  ">",
  ">=",
  "<",
  "<=",
  "+",
  "-",
  "'x'",
  "'",
  "1",
  "2.5",
  "1e3",
  "9999999999",
  "9223372036854775808",
  "--",
  "/*",
  "*/",
  "!",
  ".",
  "\n",
  "''",
  "$",
  "_1",
];

test("random garbage never crashes: a parse error, or a filter that only ever answers", () => {
  const garbage = fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.array(fc.constantFrom(...VOCABULARY), { maxLength: 25 }).map((ts) => ts.join(" ")),
    fc.array(fc.constantFrom(...VOCABULARY), { maxLength: 25 }).map((ts) => ts.join("")),
  );
  let compiled = 0;
  fc.assert(
    fc.property(garbage, fc.array(props, { maxLength: 4 }), (text, messages) => {
      let f: ReturnType<typeof compileSql92>;
      try {
        f = compileSql92(text);
      } catch (err) {
        assert.ok(err instanceof Sql92ParseError, `${JSON.stringify(text)} threw ${String(err)}`);
        assert.ok(
          err.position >= 0 && err.position <= text.length,
          `${JSON.stringify(text)}: ${err.position}`,
        );
        return;
      }
      compiled++;
      for (const p of messages) {
        try {
          f.evaluate(get(p));
        } catch (err) {
          assert.ok(err instanceof Sql92EvalError, `${JSON.stringify(text)} evaluation threw ${String(err)}`);
        }
        f.matches(get(p));
      }
    }),
    { numRuns: 3000 },
  );
  assert.ok(compiled > 0, "some random token soups compile");
});
