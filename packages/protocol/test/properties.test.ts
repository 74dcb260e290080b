import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  type BatchEntry,
  canonicalHost,
  decodeBatchBody,
  encodeBatchBody,
  encodeProperties,
  formatHostPort,
  javaStringHashCode,
  MessageFormatError,
  messageKeys,
  parseHostPort,
  parseProperties,
  tagsHashCode,
  toStorableIPv4,
} from "../src/index.js";
import { properties, text } from "./arbitraries.js";

test("properties round-trip: unicode names and values, empty values, values containing \\u0001", () => {
  fc.assert(
    fc.property(properties, (p) => {
      const s = encodeProperties(p);
      assert.deepStrictEqual(parseProperties(s), p);
      // Java 4.9.2+ omits the final separator; that parses the same.
      assert.deepStrictEqual(parseProperties(s.endsWith("\u0002") ? s.slice(0, -1) : s), p);
    }),
    { numRuns: 300 },
  );
  assert.deepStrictEqual(parseProperties(encodeProperties({ k: "a\u0001b" })), { k: "a\u0001b" });
});

test("properties parsing follows spec §7.4: empty segments and names dropped, first \\u0001 splits", () => {
  assert.deepStrictEqual(parseProperties(""), {});
  assert.deepStrictEqual(parseProperties(undefined), {});
  assert.deepStrictEqual(parseProperties("\u0002\u0002"), {});
  assert.deepStrictEqual(parseProperties("\u0001v\u0002"), {}); // empty name
  assert.deepStrictEqual(parseProperties("noseparator\u0002"), {});
  assert.deepStrictEqual(parseProperties("TAGS\u0001A\u0002KEYS\u0001k1 k2"), { TAGS: "A", KEYS: "k1 k2" });
  assert.deepStrictEqual(parseProperties("K\u0001\u0002"), { K: "" });
  assert.deepStrictEqual(parseProperties("K\u0001a\u0001b\u0002"), { K: "a\u0001b" });
  assert.deepStrictEqual(parseProperties("K\u00011\u0002K\u00012\u0002"), { K: "2" }); // last wins, like a HashMap
  const proto = parseProperties("__proto__\u0001x\u0002");
  assert.equal(Object.getPrototypeOf(proto), Object.prototype);
  assert.deepStrictEqual(Object.entries(proto), [["__proto__", "x"]]);
});

test("encodeProperties ends with the separator, skips empty names and null values, refuses separators", () => {
  assert.equal(encodeProperties({ TAGS: "A" }), "TAGS\u0001A\u0002");
  assert.equal(encodeProperties(undefined), "");
  assert.equal(
    encodeProperties({ "": "x", n: null as unknown as string, u: undefined as unknown as string }),
    "",
  );
  for (const bad of [{ "a\u0001": "v" }, { "a\u0002": "v" }, { a: "v\u0002" }] as Array<
    Record<string, string>
  >) {
    assert.throws(() => encodeProperties(bad), MessageFormatError);
  }
});

test("messageKeys splits KEYS on spaces", () => {
  assert.deepStrictEqual(messageKeys({ KEYS: " k1  k2 k3 " }), ["k1", "k2", "k3"]);
  assert.deepStrictEqual(messageKeys({}), []);
});

const batchEntry: fc.Arbitrary<BatchEntry> = fc.record(
  {
    flag: fc.integer({ min: -2147483648, max: 2147483647 }),
    body: fc.oneof(
      fc.constant(Buffer.alloc(0)),
      fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
      text(50).map((s) => Buffer.from(s)),
    ),
    properties,
  },
  { noNullPrototype: true },
);

test("batch bodies round-trip, entries laid out as spec §4.2 says", () => {
  fc.assert(
    fc.property(fc.array(batchEntry, { maxLength: 8 }), (entries) => {
      const buf = encodeBatchBody(entries);
      assert.deepStrictEqual(decodeBatchBody(buf), entries);
      let p = 0;
      for (const e of entries) {
        const props = Buffer.byteLength(encodeProperties(e.properties));
        assert.equal(buf.readInt32BE(p), 20 + e.body.length + 2 + props);
        assert.equal(buf.readInt32BE(p + 4), 0);
        assert.equal(buf.readInt32BE(p + 8), 0);
        assert.equal(buf.readInt32BE(p + 12), e.flag);
        assert.equal(buf.readInt32BE(p + 16), e.body.length);
        p += buf.readInt32BE(p);
      }
      assert.equal(p, buf.length);
    }),
    { numRuns: 200 },
  );
});

test("decodeBatchBody refuses entries whose lengths disagree", () => {
  const good = encodeBatchBody([{ flag: 0, body: Buffer.from("abc"), properties: { TAGS: "A" } }]);
  const mutate = (f: (b: Buffer) => void) => {
    const b = Buffer.from(good);
    f(b);
    return b;
  };
  const bad: Array<[string, Buffer]> = [
    ["truncated", good.subarray(0, good.length - 1)],
    ["shorter than an entry head", good.subarray(0, 10)],
    ["size below 22", mutate((b) => b.writeInt32BE(21, 0))],
    ["size beyond the body", mutate((b) => b.writeInt32BE(good.length + 1, 0))],
    ["negative body length", mutate((b) => b.writeInt32BE(-1, 16))],
    ["body length overruns", mutate((b) => b.writeInt32BE(100, 16))],
    ["negative properties length", mutate((b) => b.writeInt16BE(-1, 23))],
    ["properties length disagrees", mutate((b) => b.writeInt16BE(2, 23))],
  ];
  for (const [what, b] of bad) assert.throws(() => decodeBatchBody(b), MessageFormatError, what);
  assert.deepStrictEqual(decodeBatchBody(Buffer.alloc(0)), []);
  assert.throws(
    () => encodeBatchBody([{ flag: 0, body: Buffer.alloc(0), properties: { k: "v".repeat(40000) } }]),
    MessageFormatError,
  );
});

test("javaStringHashCode matches the spec's examples and Java's definition", () => {
  assert.equal(javaStringHashCode("TagA"), 2598919);
  assert.equal(javaStringHashCode("TagB"), 2598920);
  assert.equal(javaStringHashCode("null"), 3392903);
  assert.equal(javaStringHashCode("*"), 42);
  assert.equal(javaStringHashCode("中文标签"), 622041809);
  assert.equal(javaStringHashCode(""), 0);
  assert.equal(tagsHashCode(undefined), 0);
  assert.equal(tagsHashCode(""), 0);
  assert.equal(tagsHashCode("TagA"), 2598919);
  // The definition, with BigInt arithmetic modulo 2^32 (UTF-16 code units, as Java).
  fc.assert(
    fc.property(text(60), (s) => {
      let h = 0n;
      for (let i = 0; i < s.length; i++) h = (h * 31n + BigInt(s.charCodeAt(i))) & 0xffffffffn;
      assert.equal(javaStringHashCode(s), Number(BigInt.asIntN(32, h)));
    }),
    { numRuns: 300 },
  );
});

test("peer addresses map to storable IPv4 (spec §7.1)", () => {
  assert.equal(toStorableIPv4("10.1.2.3"), "10.1.2.3");
  assert.equal(toStorableIPv4("::ffff:10.1.2.3"), "10.1.2.3");
  assert.equal(toStorableIPv4("::FFFF:10.1.2.3"), "10.1.2.3");
  assert.equal(toStorableIPv4("::ffff:a01:203"), "10.1.2.3");
  assert.equal(toStorableIPv4("::1"), "127.0.0.1");
  assert.equal(toStorableIPv4("fe80::1%eth0"), "127.0.0.1");
  assert.equal(toStorableIPv4("2001:db8::5"), "127.0.0.1");
  assert.equal(toStorableIPv4(undefined), "127.0.0.1");
  assert.equal(toStorableIPv4("not an ip"), "127.0.0.1");
});

test("IPv6 text is canonical (RFC 5952) after a trip through bytes", () => {
  assert.equal(canonicalHost("0:0:0:0:0:0:0:1"), "::1");
  assert.equal(canonicalHost("2001:DB8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
  assert.equal(canonicalHost("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
  assert.equal(canonicalHost("::"), "::");
  assert.equal(canonicalHost("1::"), "1::");
  assert.equal(canonicalHost("::ffff:7f00:1"), "::ffff:127.0.0.1");
  assert.equal(canonicalHost("fe80::1%eth0"), "fe80::1");
  assert.equal(canonicalHost("1.2.3.4"), "1.2.3.4");
  assert.equal(canonicalHost("broker-a"), "broker-a");
});

test("host:port parsing and formatting", () => {
  assert.deepStrictEqual(parseHostPort("127.0.0.1:10911"), { host: "127.0.0.1", port: 10911 });
  assert.deepStrictEqual(parseHostPort("[::1]:9876"), { host: "::1", port: 9876 });
  assert.deepStrictEqual(parseHostPort(" broker-a:10911 "), { host: "broker-a", port: 10911 });
  for (const bad of ["127.0.0.1", ":10911", "h:", "h:abc", "h:65536", "h:-1", "h:1.5", "[]:1"]) {
    assert.throws(() => parseHostPort(bad), TypeError, bad);
  }
  assert.equal(formatHostPort({ host: "::1", port: 9876 }), "[::1]:9876");
  assert.equal(formatHostPort({ host: "10.0.0.1", port: 1 }), "10.0.0.1:1");
});
