/**
 * RawProperties reads one property from a stored record's properties bytes: for any bytes
 * and any name it must give what decoding the whole text (parseProperties) gives, or SQL92
 * pulls would match differently from RocketMQ's reading of the same record.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseProperties } from "@tidemq/protocol";
import { RawProperties } from "../src/filter/RawProperties.js";

/** parseProperties' value for an own property only (a plain object also "has" toString…). */
function reference(text: string, name: string): string | undefined {
  const props = parseProperties(text);
  return Object.hasOwn(props, name) ? props[name] : undefined;
}

test("RawProperties agrees with parseProperties on fixed edge cases", () => {
  const cases: Array<[string, string[]]> = [
    ["", ["a", ""]],
    ["a\u0001x\u0002", ["a", "b", "", "a\u0001x"]],
    ["a\u0001x\u0002a\u0001y\u0002", ["a"]], // the last value wins
    ["a\u0001x\u0001y\u0002", ["a", "x"]], // the name ends at the first \u0001
    ["\u0001x\u0002a\u0001\u0002", ["", "a"]], // an empty name is skipped; an empty value is a value
    ["ab\u0001x\u0002a\u0001y", ["a", "ab"]], // no trailing \u0002
    ["région\u0001€\u0002amount\u00011500\u0002", ["région", "amount", "r"]],
    ["toString\u0001x\u0002", ["toString", "constructor", "__proto__"]],
    ["a\u0002\u0002b\u0001c", ["a", "b"]],
  ];
  const raw = new RawProperties();
  for (const [text, names] of cases) {
    const buf = Buffer.from(`##${text}`, "utf8");
    raw.reset(buf, 2, buf.length);
    for (const name of names)
      assert.equal(raw.get(name), reference(text, name), JSON.stringify({ text, name }));
  }
  // Undecodable bytes: compared as decoded text would be (U+FFFD), never as raw bytes.
  const bad = Buffer.from([0x61, 0xff, 0x01, 0x78, 0x02, 0x62, 0x01, 0xc3, 0x02]);
  raw.reset(bad, 0, bad.length);
  const text = bad.toString("utf8");
  for (const name of ["a\ufffd", "a", "b", "\ud800"]) assert.equal(raw.get(name), reference(text, name));
});

test("RawProperties agrees with parseProperties on 5,000 random property texts", () => {
  let seed = 777;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const alphabet = ["a", "b", "ab", "\u0001", "\u0002", "é", "€", "𝄞", "1", " ", "\ufffd"];
  const word = (max: number) => {
    let s = "";
    for (let i = rnd(max + 1); i > 0; i--) s += alphabet[rnd(alphabet.length)];
    return s;
  };
  const raw = new RawProperties();
  for (let round = 0; round < 5000; round++) {
    let bytes: Buffer;
    if (round % 5 === 0) {
      // Random bytes, separators frequent, invalid UTF-8 likely.
      bytes = Buffer.from(
        Array.from({ length: rnd(40) }, () => [0x01, 0x02, 0x61, 0x62, 0xc3, 0xa9, 0xff, 0x80][rnd(8)]!),
      );
    } else {
      // Pairs as encodeProperties writes them, from names and values that may hold separators.
      let pairs = "";
      for (let k = rnd(6); k > 0; k--) pairs += `${word(3)}\u0001${word(4)}\u0002`;
      const text = round % 2 === 0 ? pairs : word(12);
      bytes = Buffer.from(text, "utf8");
    }
    const pad = rnd(3);
    const buf = Buffer.concat([Buffer.alloc(pad, 0x02), bytes, Buffer.alloc(rnd(3), 0x01)]);
    raw.reset(buf, pad, pad + bytes.length);
    const text = bytes.toString("utf8");
    const names = new Set(["a", "b", "ab", "é", "a\ufffd", word(3)]);
    for (const pair of text.split("\u0002")) names.add(pair.slice(0, Math.max(0, pair.indexOf("\u0001"))));
    for (const name of names)
      assert.equal(raw.get(name), reference(text, name), JSON.stringify({ text, name }));
  }
});
