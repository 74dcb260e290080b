import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  decodeFrame,
  encodeFrame,
  encodeFrameParts,
  FrameDecoder,
  type RemotingCommand,
  SerializeType,
} from "../src/index.js";

// The binary header codec has fast paths (ASCII fields cut from one Latin-1 string, a cache
// of field names, frames decoded in place inside a chunk); these tests aim at their edges.

function binaryCommand(extFields: Record<string, string>, body?: Buffer): RemotingCommand {
  return {
    code: 310,
    language: "JAVA",
    version: 409,
    opaque: 7,
    flag: 0,
    extFields,
    body,
    serializeType: SerializeType.ROCKETMQ,
  };
}

function roundTrip(cmd: RemotingCommand): RemotingCommand {
  const [got] = new FrameDecoder().push(encodeFrame(cmd));
  assert.ok(got);
  return got;
}

test("ASCII fields whose lengths have bytes ≥ 0x80 decode exactly, next to non-ASCII fields", () => {
  const long = "x".repeat(200); // length 200 = 0xC8: a high byte in the section, yet ASCII text
  const ext = { a: long, b: "中文标签", c: "plain", [`k${"y".repeat(130)}`]: "v", ключ: "😀" };
  assert.deepStrictEqual(roundTrip(binaryCommand(ext)).extFields, ext);
  // And without any non-ASCII field at all.
  const ascii = { a: long, b: "z".repeat(128) };
  assert.deepStrictEqual(roundTrip(binaryCommand(ascii)).extFields, ascii);
});

test("field names that share length, first and last byte are never confused (name cache)", () => {
  // Same length and ends: the same cache slot; alternating them must not reuse the other.
  for (let i = 0; i < 3; i++) {
    assert.deepStrictEqual(roundTrip(binaryCommand({ aXb: "1" })).extFields, { aXb: "1" });
    assert.deepStrictEqual(roundTrip(binaryCommand({ aYb: "2" })).extFields, { aYb: "2" });
    assert.deepStrictEqual(roundTrip(binaryCommand({ aXb: "3", aYb: "4" })).extFields, {
      aXb: "3",
      aYb: "4",
    });
  }
});

test("random ext fields survive a binary round trip, repeated so cached names are reused", () => {
  const key = fc.oneof(
    fc.constantFrom("a", "b", "ab", "ba", "msgId", "queueId", "é", "aé"),
    fc.string({ minLength: 1, maxLength: 50 }),
  );
  const value = fc.oneof(
    fc.string({ minLength: 1, maxLength: 300 }),
    fc.string({ unit: "binary", minLength: 1, maxLength: 40 }),
  );
  fc.assert(
    fc.property(
      fc.array(fc.dictionary(key, value, { maxKeys: 8, noNullPrototype: true }), { maxLength: 4 }),
      (exts) => {
        for (const ext of exts) {
          const expected: Record<string, string> = {};
          for (const [k, v] of Object.entries(ext)) {
            Object.defineProperty(expected, k, {
              value: v,
              enumerable: true,
              writable: true,
              configurable: true,
            });
          }
          assert.deepStrictEqual({ ...roundTrip(binaryCommand(ext)).extFields }, { ...expected });
        }
      },
    ),
  );
});

test("a binary header carries non-string ext values as their String() form, and skips null/undefined", () => {
  const ext = { n: 12, t: true, big: 2n ** 63n - 1n, u: undefined, z: null, s: "x" } as unknown as Record<
    string,
    string
  >;
  assert.deepStrictEqual(roundTrip(binaryCommand(ext)).extFields, {
    n: "12",
    t: "true",
    big: "9223372036854775807",
    s: "x",
  });
});

test("inherited enumerable properties are not written as ext fields", () => {
  const ext = Object.create({ inherited: "no" }) as Record<string, string>;
  ext.own = "yes";
  for (const serializeType of [SerializeType.ROCKETMQ, SerializeType.JSON]) {
    const got = roundTrip({ ...binaryCommand(ext), serializeType });
    assert.deepStrictEqual(got.extFields, { own: "yes" });
  }
});

test("frames inside one chunk decode in place: the body is a view of the chunk, not a copy", () => {
  const frames = [1, 2, 3].map((i) => encodeFrame(binaryCommand({ i: String(i) }, Buffer.from(`body-${i}`))));
  const chunk = Buffer.concat(frames);
  const got = new FrameDecoder().push(chunk);
  assert.deepStrictEqual(
    got.map((c) => c.body?.toString()),
    ["body-1", "body-2", "body-3"],
  );
  for (const cmd of got) assert.equal(cmd.body!.buffer, chunk.buffer);
});

test("a body of 4 KiB or more is a part of its own; the head frame counts it in the length", () => {
  const body = Buffer.alloc(5000, 3);
  for (const serializeType of [SerializeType.ROCKETMQ, SerializeType.JSON]) {
    const cmd = { ...binaryCommand({ a: "b" }, body), serializeType };
    const parts = encodeFrameParts(cmd);
    assert.equal(parts.length, 2);
    assert.equal(parts[1], body);
    assert.equal(parts[0]!.readInt32BE(0), parts[0]!.length - 4 + body.length);
    assert.deepStrictEqual(Buffer.concat(parts), encodeFrame(cmd));
    assert.deepStrictEqual(decodeFrame(encodeFrame(cmd).subarray(4)).body, body);
  }
});

test("JSON header strings needing escapes (quotes, controls, lone surrogates) match JSON.stringify", () => {
  const values = ['q"uote', "back\\slash", "tab\there", "nul\u0000", "lone\ud800", "pair😀", "plain"];
  for (const v of values) {
    const cmd: RemotingCommand = {
      ...binaryCommand({ [v]: v }),
      remark: v,
      serializeType: SerializeType.JSON,
    };
    const frame = encodeFrame(cmd);
    const text = frame.subarray(8).toString("utf8");
    const expected = JSON.stringify({
      code: 310,
      language: "JAVA",
      opaque: 7,
      flag: 0,
      version: 409,
      remark: v,
      extFields: { [v]: v },
    });
    assert.equal(text, expected);
  }
});
