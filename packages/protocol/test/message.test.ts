import assert from "node:assert/strict";
import { test } from "node:test";
import { deflateSync } from "node:zlib";
import fc from "fast-check";
import {
  bodyCrc,
  canonicalHost,
  compressBody,
  createOffsetMsgId,
  decodeMessage,
  decodeMessages,
  decodeMessagesLazy,
  decodeOffsetMsgId,
  decompressBody,
  encodeMessage,
  MAGIC_BLANK,
  MAGIC_V1,
  MessageFormatError,
  type MessageRecordInput,
  MessageSysFlag,
  RecordLayout,
  readLong,
  writeLong,
} from "../src/index.js";
import { anyHost, ipv4Host, offset, port, properties, text, timestamp } from "./arbitraries.js";

const INT32 = { min: -2147483648, max: 2147483647 };

const topic = text(20)
  .map((t) => t.replaceAll("\u0000", ""))
  .filter((t) => Buffer.byteLength(t) <= 127);

function record(host: fc.Arbitrary<string>): fc.Arbitrary<MessageRecordInput> {
  return fc.record(
    {
      queueId: fc.integer({ min: 0, max: 1023 }),
      flag: fc.integer(INT32),
      queueOffset: offset,
      commitLogOffset: offset,
      sysFlag: fc.constantFrom(0, MessageSysFlag.MULTI_TAGS, MessageSysFlag.TRANSACTION_COMMIT_TYPE),
      bornTimestamp: timestamp,
      bornHost: fc.record({ host, port }, { noNullPrototype: true }),
      storeTimestamp: timestamp,
      storeHost: fc.record({ host, port }, { noNullPrototype: true }),
      reconsumeTimes: fc.integer({ min: 0, max: 16 }),
      preparedTransactionOffset: offset,
      body: fc.oneof(
        fc.constant(Buffer.alloc(0)),
        fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a)),
        text(200).map((s) => Buffer.from(s)),
      ),
      topic,
      properties,
    },
    { noNullPrototype: true },
  );
}

/** A random record whose body may be zlib-compressed (sysFlag bit 0 + ZLIB type, or ali-ons' bit 0 only). */
const compressible = fc.tuple(record(anyHost), fc.constantFrom("none", "java", "ali-ons")).map(([m, how]) => {
  if (how === "none") return { m, plain: m.body };
  const plain = m.body;
  if (how === "java") {
    const c = compressBody(plain);
    return { m: { ...m, body: c.body, sysFlag: m.sysFlag | c.sysFlagBits }, plain };
  }
  return { m: { ...m, body: deflateSync(plain), sysFlag: m.sysFlag | MessageSysFlag.COMPRESSED }, plain };
});

function v6Bits(m: MessageRecordInput): number {
  return (
    (canonicalHost(m.bornHost.host).includes(":") ? MessageSysFlag.BORNHOST_V6 : 0) |
    (canonicalHost(m.storeHost.host).includes(":") ? MessageSysFlag.STOREHOSTADDRESS_V6 : 0)
  );
}

test("random stored messages (IPv4/IPv6 hosts, unicode properties, compressed and empty bodies) round-trip", () => {
  fc.assert(
    fc.property(compressible, ({ m, plain }) => {
      const buf = encodeMessage(m);
      assert.equal(buf.readInt32BE(0), buf.length);
      assert.equal(buf.readInt32BE(4), MAGIC_V1);
      const d = decodeMessage(buf, 0, { verifyCrc: true, decompressBody: true });
      assert.equal(d.storeSize, buf.length);
      assert.equal(d.bodyCRC, bodyCrc(m.body));
      assert.equal(d.queueId, m.queueId);
      assert.equal(d.flag, m.flag);
      assert.equal(d.queueOffset, m.queueOffset);
      assert.equal(d.commitLogOffset, m.commitLogOffset);
      assert.equal(d.sysFlag, m.sysFlag | v6Bits(m));
      assert.equal(d.bornTimestamp, m.bornTimestamp);
      assert.deepStrictEqual(d.bornHost, { host: canonicalHost(m.bornHost.host), port: m.bornHost.port });
      assert.equal(d.storeTimestamp, m.storeTimestamp);
      assert.deepStrictEqual(d.storeHost, { host: canonicalHost(m.storeHost.host), port: m.storeHost.port });
      assert.equal(d.reconsumeTimes, m.reconsumeTimes);
      assert.equal(d.preparedTransactionOffset, m.preparedTransactionOffset);
      assert.deepStrictEqual(d.body, plain);
      assert.equal(d.topic, m.topic);
      assert.deepStrictEqual(d.properties, m.properties);
      assert.equal(d.msgId, createOffsetMsgId(m.storeHost, m.commitLogOffset));
      // Without decompressBody the body stays as stored.
      assert.deepStrictEqual(decodeMessage(buf).body, m.body);
    }),
    { numRuns: 300 },
  );
});

test("decodeMessages splits a concatenation of records (a pull body)", () => {
  fc.assert(
    fc.property(fc.array(record(anyHost), { maxLength: 8 }), (ms) => {
      const bufs = ms.map((m) => encodeMessage(m));
      const all = decodeMessages(Buffer.concat(bufs));
      assert.equal(all.length, ms.length);
      all.forEach((d, i) => {
        assert.equal(d.storeSize, bufs[i]!.length);
        assert.equal(d.topic, ms[i]!.topic);
        assert.deepStrictEqual(d.body, ms[i]!.body);
        assert.deepStrictEqual(d.properties, ms[i]!.properties);
      });
    }),
    { numRuns: 100 },
  );
});

test("the fixed layout of an IPv4 record matches spec §7.1 (TOTALSIZE = 91 + body + topic + properties)", () => {
  const m: MessageRecordInput = {
    queueId: 3,
    flag: 7,
    queueOffset: 42,
    commitLogOffset: 0x1_0000_0001,
    sysFlag: 0,
    bornTimestamp: 1700000000000,
    bornHost: { host: "10.0.0.5", port: 53211 },
    storeTimestamp: 1700000000001,
    storeHost: { host: "127.0.0.1", port: 10911 },
    reconsumeTimes: 2,
    preparedTransactionOffset: 0,
    body: Buffer.from("hello"),
    topic: "TopicTest",
    properties: { TAGS: "TagA" },
  };
  const buf = encodeMessage(m);
  const props = "TAGS\u0001TagA\u0002";
  assert.equal(buf.length, 91 + 5 + 9 + props.length);
  assert.equal(buf.readInt32BE(RecordLayout.QUEUE_ID), 3);
  assert.equal(buf.readInt32BE(RecordLayout.FLAG), 7);
  assert.equal(readLong(buf, RecordLayout.QUEUE_OFFSET), 42);
  assert.equal(readLong(buf, RecordLayout.PHYSICAL_OFFSET), 0x1_0000_0001);
  assert.deepStrictEqual(
    [...buf.subarray(RecordLayout.BORN_HOST, RecordLayout.BORN_HOST + 4)],
    [10, 0, 0, 5],
  );
  assert.equal(buf.readInt32BE(RecordLayout.BORN_HOST + 4), 53211);
  assert.deepStrictEqual(
    [...buf.subarray(RecordLayout.STORE_HOST, RecordLayout.STORE_HOST + 4)],
    [127, 0, 0, 1],
  );
  assert.equal(buf.readInt32BE(RecordLayout.RECONSUME_TIMES), 2);
  assert.equal(buf.readInt32BE(RecordLayout.BODY_LENGTH), 5);
  assert.equal(buf.toString("utf8", RecordLayout.BODY, RecordLayout.BODY + 5), "hello");
  assert.equal(buf[RecordLayout.BODY + 5], 9);
  assert.equal(buf.readInt16BE(RecordLayout.BODY + 15), props.length);
  assert.equal(decodeMessage(buf).msgId, "7F00000100002A9F0000000100000001");
});

/** Every field zero or tiny: the starting point of the hand-made records below. */
const MINIMAL_RECORD: MessageRecordInput = {
  queueId: 0,
  flag: 0,
  queueOffset: 0,
  commitLogOffset: 0,
  sysFlag: 0,
  bornTimestamp: 0,
  bornHost: { host: "1.2.3.4", port: 1 },
  storeTimestamp: 0,
  storeHost: { host: "1.2.3.4", port: 2 },
  reconsumeTimes: 0,
  preparedTransactionOffset: 0,
  body: Buffer.alloc(0),
  topic: "T",
};

test("decodeMessagesLazy reads every field as decodeMessages does (compressed bodies, IPv6, properties)", () => {
  fc.assert(
    fc.property(fc.array(compressible, { maxLength: 6 }), (items) => {
      const all = Buffer.concat(items.map(({ m }) => encodeMessage(m)));
      for (const options of [{}, { decompressBody: true, verifyCrc: true }]) {
        const eager = decodeMessages(all, options);
        const lazy = decodeMessagesLazy(all, options);
        assert.equal(lazy.length, eager.length);
        lazy.forEach((l, i) => {
          const e = eager[i]!;
          // Each field on its own: a getter must give the same answer whatever was read before it.
          for (const k of Object.keys(e) as Array<keyof typeof e>) assert.deepStrictEqual(l[k], e[k], k);
          assert.strictEqual(l.properties, l.properties, "properties are parsed once");
        });
        if (options.decompressBody) {
          lazy.forEach((l, i) => {
            assert.deepStrictEqual(l.body, items[i]!.plain);
          });
        }
      }
    }),
    { numRuns: 150 },
  );
});

test("decodeMessagesLazy bodies are views into the pull body (no copy)", () => {
  const all = Buffer.concat([
    encodeMessage({ ...MINIMAL_RECORD, body: Buffer.from("one") }),
    encodeMessage({ ...MINIMAL_RECORD, body: Buffer.from("two"), properties: { TAGS: "t" } }),
  ]);
  const [a, b] = decodeMessagesLazy(all);
  assert.equal(a!.body.buffer, all.buffer);
  assert.equal(b!.body.toString(), "two");
  assert.deepStrictEqual(b!.properties, { TAGS: "t" });
  assert.deepStrictEqual(a!.properties, {});
});

test("decodeMessage rejects records that do not add up", () => {
  const good = encodeMessage({ ...MINIMAL_RECORD, body: Buffer.from("body"), properties: { a: "b" } });
  const mutate = (f: (b: Buffer) => void) => {
    const b = Buffer.from(good);
    f(b);
    return b;
  };
  const bad: Array<[string, Buffer]> = [
    ["truncated", good.subarray(0, good.length - 1)],
    ["too short for a size", good.subarray(0, 6)],
    ["size below the minimum", mutate((b) => b.writeInt32BE(50, 0))],
    ["size beyond the buffer", mutate((b) => b.writeInt32BE(good.length + 1, 0))],
    ["blank magic", mutate((b) => b.writeInt32BE(MAGIC_BLANK, 4))],
    ["unknown magic", mutate((b) => b.writeInt32BE(0x12345678, 4))],
    ["negative body length", mutate((b) => b.writeInt32BE(-1, RecordLayout.BODY_LENGTH))],
    ["body length overruns", mutate((b) => b.writeInt32BE(1000, RecordLayout.BODY_LENGTH))],
    ["topic length overruns", mutate((b) => b.writeUInt8(200, RecordLayout.BODY + 4))],
    ["negative properties length", mutate((b) => b.writeInt16BE(-1, RecordLayout.BODY + 6))],
    ["stray bytes", mutate((b) => b.writeInt16BE(1, RecordLayout.BODY + 6))],
    ["IPv6 flag on an IPv4 record", mutate((b) => b.writeInt32BE(MessageSysFlag.STOREHOSTADDRESS_V6, 36))],
  ];
  for (const [what, b] of bad) {
    assert.throws(() => decodeMessage(b), MessageFormatError, what);
    assert.throws(() => decodeMessagesLazy(b), MessageFormatError, what);
  }
  const crc = mutate((b) => b.writeInt32BE(1, RecordLayout.BODY_CRC));
  assert.doesNotThrow(() => decodeMessage(crc));
  assert.throws(() => decodeMessage(crc, 0, { verifyCrc: true }), MessageFormatError);
});

test("encodeMessage refuses what the format cannot hold, with MessageFormatError", () => {
  assert.throws(() => encodeMessage({ ...MINIMAL_RECORD, topic: "t".repeat(128) }), MessageFormatError);
  assert.throws(
    () => encodeMessage({ ...MINIMAL_RECORD, properties: { k: "v".repeat(32767) } }),
    MessageFormatError,
  );
  assert.throws(
    () => encodeMessage({ ...MINIMAL_RECORD, bornHost: { host: "localhost", port: 1 } }),
    MessageFormatError,
  );
  assert.throws(() => encodeMessage({ ...MINIMAL_RECORD, queueId: 2 ** 31 }), MessageFormatError);
  assert.throws(
    () => encodeMessage({ ...MINIMAL_RECORD, properties: { k: "a\u0002b" } }),
    MessageFormatError,
  );
  assert.doesNotThrow(() => encodeMessage({ ...MINIMAL_RECORD, topic: "t".repeat(127) }));
});

test("compressed bodies: zlib inflates, LZ4/ZSTD and corrupt data are refused, a bomb is capped", () => {
  const plain = Buffer.from("x".repeat(10000));
  const c = compressBody(plain);
  assert.equal(c.sysFlagBits, MessageSysFlag.COMPRESSED | MessageSysFlag.COMPRESSION_ZLIB);
  assert.deepStrictEqual(decompressBody(c.sysFlagBits, c.body), plain);
  assert.deepStrictEqual(decompressBody(MessageSysFlag.COMPRESSED, deflateSync(plain)), plain);
  assert.equal(decompressBody(0, plain), plain);
  for (const type of [MessageSysFlag.COMPRESSION_LZ4, MessageSysFlag.COMPRESSION_ZSTD]) {
    assert.throws(() => decompressBody(MessageSysFlag.COMPRESSED | type, c.body), MessageFormatError);
  }
  assert.throws(() => decompressBody(MessageSysFlag.COMPRESSED, Buffer.from("not zlib")), MessageFormatError);
  assert.throws(() => decompressBody(MessageSysFlag.COMPRESSED, c.body, 100), MessageFormatError);
});

test("offset message ids: IPv4 and IPv6 round-trip; the spec's example; bad ids are refused", () => {
  assert.equal(createOffsetMsgId({ host: "127.0.0.1", port: 10911 }, 0), "7F00000100002A9F0000000000000000");
  fc.assert(
    fc.property(anyHost, port, offset, (host, p, off) => {
      const id = createOffsetMsgId({ host, port: p }, off);
      assert.match(id, /^[0-9A-F]+$/);
      assert.equal(id.length, host.includes(":") ? 56 : 32);
      assert.deepStrictEqual(decodeOffsetMsgId(id), {
        storeHost: { host: canonicalHost(host), port: p },
        commitLogOffset: off,
      });
      assert.deepStrictEqual(decodeOffsetMsgId(id.toLowerCase()).commitLogOffset, off);
    }),
    { numRuns: 300 },
  );
  for (const bad of [
    "",
    "XYZ",
    "7F00000100002A9F000000000000000",
    "7F00000100002A9F00000000000000000",
    "G".repeat(32),
  ]) {
    assert.throws(() => decodeOffsetMsgId(bad), MessageFormatError, bad);
  }
});

test("64-bit fields hold every safe integer, negative ones included", () => {
  fc.assert(
    fc.property(fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), (n) => {
      const b = Buffer.alloc(8);
      writeLong(b, n, 0);
      assert.equal(readLong(b, 0), n);
      assert.equal(b.readBigInt64BE(0), BigInt(n));
    }),
  );
});

test("IPv4 hosts decode unchanged; IPv4-only records are what ali-ons can read", () => {
  fc.assert(
    fc.property(record(ipv4Host), (m) => {
      const d = decodeMessage(encodeMessage(m));
      assert.equal(d.sysFlag & (MessageSysFlag.BORNHOST_V6 | MessageSysFlag.STOREHOSTADDRESS_V6), 0);
      assert.equal(d.bornHost.host, m.bornHost.host);
      assert.equal(d.storeHost.host, m.storeHost.host);
    }),
    { numRuns: 50 },
  );
});
