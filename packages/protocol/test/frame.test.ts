import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  createRequest,
  createResponse,
  DEFAULT_MAX_FRAME_BYTES,
  decodeFrame,
  encodeFrame,
  encodeFrameParts,
  FrameDecoder,
  FrameError,
  isOneway,
  isResponse,
  type RemotingCommand,
  SerializeType,
} from "../src/index.js";
import { afterWire, anyCommand, command, cuts, splitAt } from "./arbitraries.js";

/** A frame from its parts: length prefix, header word, header bytes, body. */
function rawFrame(
  headerWord: number,
  header: Buffer,
  body: Buffer = Buffer.alloc(0),
  length?: number,
): Buffer {
  const out = Buffer.alloc(8 + header.length + body.length);
  out.writeInt32BE(length ?? 4 + header.length + body.length, 0);
  out.writeUInt32BE(headerWord >>> 0, 4);
  header.copy(out, 8);
  body.copy(out, 8 + header.length);
  return out;
}

function jsonFrame(header: string, body?: Buffer): Buffer {
  const h = Buffer.from(header, "utf8");
  return rawFrame(h.length, h, body);
}

/** A binary header built field by field, so tests can make each length lie. */
function binaryHeader(opts: {
  remark?: Buffer;
  remarkLength?: number;
  ext?: Buffer;
  extLength?: number;
}): Buffer {
  const remark = opts.remark ?? Buffer.alloc(0);
  const ext = opts.ext ?? Buffer.alloc(0);
  const h = Buffer.alloc(21 + remark.length + ext.length);
  h.writeInt16BE(310, 0);
  h.writeUInt8(0, 2);
  h.writeInt16BE(409, 3);
  h.writeInt32BE(9, 5);
  h.writeInt32BE(0, 9);
  h.writeInt32BE(opts.remarkLength ?? remark.length, 13);
  remark.copy(h, 17);
  h.writeInt32BE(opts.extLength ?? ext.length, 17 + remark.length);
  ext.copy(h, 21 + remark.length);
  return h;
}

function extEntry(key: string, value: string, keyLength?: number, valueLength?: number): Buffer {
  const k = Buffer.from(key);
  const v = Buffer.from(value);
  const b = Buffer.alloc(6 + k.length + v.length);
  b.writeInt16BE(keyLength ?? k.length, 0);
  k.copy(b, 2);
  b.writeInt32BE(valueLength ?? v.length, 2 + k.length);
  v.copy(b, 6 + k.length);
  return b;
}

test("random commands in both serializations round-trip through FrameDecoder, split at random chunk boundaries", () => {
  fc.assert(
    fc.property(fc.array(anyCommand, { minLength: 1, maxLength: 6 }), cuts, (cmds, cutPoints) => {
      const stream = Buffer.concat(cmds.map((c) => encodeFrame(c)));
      const decoder = new FrameDecoder();
      const got: RemotingCommand[] = [];
      for (const chunk of splitAt(stream, cutPoints)) got.push(...decoder.push(chunk));
      assert.equal(decoder.pendingBytes, 0);
      assert.deepStrictEqual(got, cmds.map(afterWire));
    }),
    { numRuns: 300 },
  );
});

test("one byte at a time: every frame comes out once, at its last byte", () => {
  fc.assert(
    fc.property(fc.array(anyCommand, { minLength: 1, maxLength: 3 }), (cmds) => {
      const frames = cmds.map((c) => encodeFrame(c));
      const decoder = new FrameDecoder();
      for (let f = 0; f < frames.length; f++) {
        const frame = frames[f]!;
        for (let i = 0; i < frame.length; i++) {
          const out = decoder.push(frame.subarray(i, i + 1));
          if (i < frame.length - 1) assert.equal(out.length, 0);
          else assert.deepStrictEqual(out, [afterWire(cmds[f]!)]);
        }
      }
    }),
    { numRuns: 60 },
  );
});

test("encodeFrameParts writes the same bytes as encodeFrame", () => {
  fc.assert(
    fc.property(command(SerializeType.JSON), fc.integer({ min: 0, max: 9000 }), (cmd, n) => {
      cmd.body = Buffer.alloc(n, 7);
      assert.deepStrictEqual(Buffer.concat(encodeFrameParts(cmd)), encodeFrame(cmd));
    }),
    { numRuns: 40 },
  );
});

test("the header word carries the serialize type in its high byte and the header length below", () => {
  const req = createRequest(105, { topic: "TopicTest" }, Buffer.from("body"), {
    serializeType: SerializeType.ROCKETMQ,
  });
  const frame = encodeFrame(req);
  const word = frame.readUInt32BE(4);
  assert.equal(word >>> 24, 1);
  assert.equal(frame.readInt32BE(0), 4 + (word & 0xffffff) + 4);
  const json = encodeFrame(createRequest(105, { topic: "TopicTest" }));
  assert.equal(json.readUInt32BE(4) >>> 24, 0);
  assert.equal(json.readUInt32BE(4), json.length - 8);
});

test("a response keeps its request's serialization, opaque and gets the response flag", () => {
  for (const type of [SerializeType.JSON, SerializeType.ROCKETMQ]) {
    const req = createRequest(11, { a: 1 }, Buffer.from("x"), { serializeType: type, oneway: false });
    req.opaque = 3;
    const res = createResponse(req, 0, "ok", { nextBeginOffset: 5 });
    const [decoded] = new FrameDecoder().push(encodeFrame(res));
    assert.equal(decoded!.serializeType, type);
    assert.ok(isResponse(decoded!));
    assert.ok(!isOneway(decoded!));
    assert.equal(decoded!.opaque, 3);
    assert.equal(decoded!.remark, "ok");
    assert.deepEqual(decoded!.extFields, { nextBeginOffset: "5" });
  }
  const oneway = createRequest(15, {}, undefined, { oneway: true });
  assert.ok(isOneway(oneway) && !isResponse(oneway));
});

test("a truncated frame stays pending: no output, no throw, until the rest arrives", () => {
  const frame = encodeFrame(createRequest(34, undefined, Buffer.from("heartbeat body")));
  const decoder = new FrameDecoder();
  for (const n of [1, 3, 4, 7, 8, frame.length - 1]) {
    assert.deepStrictEqual(new FrameDecoder().push(frame.subarray(0, n)), []);
  }
  assert.deepStrictEqual(decoder.push(frame.subarray(0, frame.length - 1)), []);
  assert.equal(decoder.pendingBytes, frame.length - 1);
  assert.equal(decoder.push(frame.subarray(frame.length - 1)).length, 1);
  assert.equal(decoder.pendingBytes, 0);
});

test("FrameDecoder rejects a negative length, a length below 4 and one over the limit", () => {
  for (const length of [-1, -2147483648, 0, 3]) {
    const b = Buffer.alloc(8);
    b.writeInt32BE(length, 0);
    assert.throws(() => new FrameDecoder().push(b), FrameError, `length ${length}`);
  }
  const huge = Buffer.alloc(4);
  huge.writeInt32BE(0x7fffffff, 0); // 2 GiB
  assert.throws(() => new FrameDecoder().push(huge), FrameError);
  // The limit is on length + 4, like Java's frameMaxLength.
  const atLimit = Buffer.alloc(4);
  atLimit.writeInt32BE(DEFAULT_MAX_FRAME_BYTES - 4, 0);
  assert.deepStrictEqual(new FrameDecoder().push(atLimit), []);
  const overLimit = Buffer.alloc(4);
  overLimit.writeInt32BE(DEFAULT_MAX_FRAME_BYTES - 3, 0);
  assert.throws(() => new FrameDecoder().push(overLimit), FrameError);
  const small = new FrameDecoder(1024);
  const big = encodeFrame(createRequest(10, undefined, Buffer.alloc(1100)));
  assert.throws(() => small.push(big.subarray(0, 4)), FrameError);
});

test("a length prefix split over chunks is checked once complete", () => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(-5, 0);
  const decoder = new FrameDecoder();
  assert.deepStrictEqual(decoder.push(b.subarray(0, 2)), []);
  assert.throws(() => decoder.push(b.subarray(2)), FrameError);
});

test("FrameDecoder rejects a header length beyond the frame and an unknown serialize type", () => {
  const h = Buffer.from('{"code":1}');
  assert.throws(() => new FrameDecoder().push(rawFrame(h.length + 1, h)), FrameError);
  assert.throws(() => new FrameDecoder().push(rawFrame(0xffffff, h)), FrameError);
  for (const type of [2, 0x7f, 0xff]) {
    assert.throws(
      () => new FrameDecoder().push(rawFrame(type * 0x1000000 + h.length, h)),
      FrameError,
      `type ${type}`,
    );
  }
});

test("FrameDecoder rejects a JSON header that does not parse, is not an object or lacks an int code", () => {
  const bad = [
    "",
    "{",
    "not json",
    "[1,2]",
    "null",
    "42",
    '{"opaque":1}',
    '{"code":null}',
    '{"code":"abc"}',
    '{"code":1.5}',
    '{"code":4294967296}',
    '{"code":1,"opaque":"x"}',
    '{"code":1,"extFields":[1]}',
    '{"code":1,"extFields":"x"}',
  ];
  for (const header of bad) {
    assert.throws(() => new FrameDecoder().push(jsonFrame(header)), FrameError, header);
  }
});

test("a JSON header with only a code decodes with defaults; unknown keys are ignored; ali-ons values are coerced", () => {
  const [cmd] = new FrameDecoder().push(
    jsonFrame(
      '{"code":"105","serializeTypeCurrentRPC":"JSON","extFields":{"queueId":0,"k":false,"n":null,"o":{"x":1},"s":"v"}}',
    ),
  );
  assert.equal(cmd!.code, 105);
  assert.equal(cmd!.language, "JAVA");
  assert.equal(cmd!.opaque, 0);
  assert.equal(cmd!.flag, 0);
  assert.equal(cmd!.remark, undefined);
  assert.equal(cmd!.body, undefined);
  assert.deepStrictEqual(cmd!.extFields, { queueId: "0", k: "false", o: '{"x":1}', s: "v" });
});

test("an ext field named __proto__ is kept as data and does not touch the prototype", () => {
  const [cmd] = new FrameDecoder().push(jsonFrame('{"code":1,"extFields":{"__proto__":"x","a":"b"}}'));
  assert.equal(Object.getPrototypeOf(cmd!.extFields), Object.prototype);
  assert.deepStrictEqual(Object.entries(cmd!.extFields!), [
    ["__proto__", "x"],
    ["a", "b"],
  ]);
});

test("FrameDecoder rejects truncated and inconsistent binary headers", () => {
  const word = (h: Buffer) => 0x1000000 + h.length;
  const cases: Array<[string, Buffer]> = [
    ["shorter than the fixed part", binaryHeader({}).subarray(0, 20)],
    ["remark length beyond the header", binaryHeader({ remark: Buffer.from("abc"), remarkLength: 50 })],
    ["negative remark length", binaryHeader({ remarkLength: -1 })],
    ["ext length beyond the header", binaryHeader({ ext: extEntry("a", "b"), extLength: 100 })],
    ["negative ext length", binaryHeader({ extLength: -4 })],
    ["ext entry shorter than a key length", binaryHeader({ ext: Buffer.from([0]), extLength: 1 })],
    ["ext key longer than the block", binaryHeader({ ext: extEntry("a", "b", 40) })],
    ["negative ext key length", binaryHeader({ ext: extEntry("a", "b", -1) })],
    ["ext value longer than the block", binaryHeader({ ext: extEntry("a", "b", undefined, 9) })],
    ["negative ext value length", binaryHeader({ ext: extEntry("a", "b", undefined, -2) })],
  ];
  for (const [what, h] of cases) {
    assert.throws(() => new FrameDecoder().push(rawFrame(word(h), h)), FrameError, what);
  }
  const ok = binaryHeader({
    remark: Buffer.from("é"),
    ext: Buffer.concat([extEntry("k", "v"), extEntry("e", "")]),
  });
  const cmd = decodeFrame(rawFrame(word(ok), ok, Buffer.from("B")).subarray(4));
  assert.equal(cmd.code, 310);
  assert.equal(cmd.version, 409);
  assert.equal(cmd.opaque, 9);
  assert.equal(cmd.remark, "é");
  assert.deepStrictEqual(cmd.extFields, { k: "v" }); // a zero-length value is null in Java: dropped
  assert.deepStrictEqual(cmd.body, Buffer.from("B"));
});

test("after a FrameError the decoder stays failed: the stream cannot be resynchronised", () => {
  const decoder = new FrameDecoder();
  assert.throws(() => decoder.push(jsonFrame("{")), FrameError);
  const good = encodeFrame(createRequest(105, { topic: "T" }));
  assert.throws(() => decoder.push(good), FrameError);
  assert.equal(decoder.pendingBytes, 0);
});

test("encoding refuses what the wire cannot carry", () => {
  const binary = (code: number) =>
    createRequest(code, undefined, undefined, { serializeType: SerializeType.ROCKETMQ });
  assert.throws(() => encodeFrame(binary(40000)), FrameError);
  const longKey = createRequest(1, { ["k".repeat(40000)]: "v" }, undefined, {
    serializeType: SerializeType.ROCKETMQ,
  });
  assert.throws(() => encodeFrame(longKey), FrameError);
  const bigHeader = createRequest(1, { k: "x".repeat(0x1000000) });
  assert.throws(() => encodeFrame(bigHeader), FrameError);
  const badType = { ...createRequest(1), serializeType: 5 as SerializeType };
  assert.throws(() => encodeFrame(badType), FrameError);
});
