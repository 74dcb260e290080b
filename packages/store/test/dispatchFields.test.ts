import assert from "node:assert/strict";
import { test } from "node:test";
import {
  decodeMessage,
  encodeMessage,
  MAGIC_V2,
  MessageFormatError,
  type MessageRecordInput,
  MessageSysFlag,
  parseProperties,
} from "@tidemq/protocol";
import { DispatchFields } from "../src/DispatchFields.js";

function record(over: Partial<MessageRecordInput> = {}): Buffer {
  return encodeMessage({
    topic: "TopicA",
    queueId: 3,
    flag: 0,
    queueOffset: 2 ** 40 + 17,
    commitLogOffset: 123456789,
    sysFlag: 0,
    bornTimestamp: 1_700_000_000_000,
    bornHost: { host: "192.168.0.7", port: 40000 },
    storeTimestamp: 1_700_000_000_123,
    storeHost: { host: "10.1.2.3", port: 10911 },
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
    body: Buffer.from("hello"),
    properties: { TAGS: "TagA", KEYS: "k1 k2", UNIQ_KEY: "U1" },
    ...over,
  });
}

/** What decodeMessage says about the fields dispatch reads. */
function expected(buf: Buffer, pos = 0) {
  const m = decodeMessage(buf, pos);
  return {
    size: m.storeSize,
    queueId: m.queueId,
    queueOffset: m.queueOffset,
    sysFlag: m.sysFlag,
    storeTimestamp: m.storeTimestamp,
    topic: m.topic,
    tags: m.properties.TAGS,
    keys: m.properties.KEYS,
    uniq: m.properties.UNIQ_KEY,
  };
}

function read(r: DispatchFields, buf: Buffer, pos = 0) {
  r.read(buf, pos);
  return {
    size: r.size,
    queueId: r.queueId,
    queueOffset: r.queueOffset,
    sysFlag: r.sysFlag,
    storeTimestamp: r.storeTimestamp,
    topic: r.topic,
    tags: r.tags,
    keys: r.keys,
    uniq: r.uniq,
  };
}

test("DispatchFields reads what decodeMessage reads, for the fields dispatch needs", () => {
  const r = new DispatchFields();
  const cases: Partial<MessageRecordInput>[] = [
    {},
    { properties: {} },
    { properties: { WAIT: "true" } },
    { topic: "Tópico-ü", properties: { TAGS: "Täg", KEYS: "ключ other", UNIQ_KEY: "7F00" } },
    { bornHost: { host: "::1", port: 1 }, storeHost: { host: "fe80::2", port: 2 } },
    { sysFlag: MessageSysFlag.TRANSACTION_PREPARED_TYPE },
    { body: Buffer.alloc(0), properties: { TAGS: "" } },
    // Names that only look like the wanted ones, and a name given twice (the last wins).
    {
      propertiesString:
        "TAG\u0001x\u0002TAGSX\u0001y\u0002xTAGS\u0001z\u0002TAGS\u0001a\u0002TAGS\u0001b\u0002",
    },
    { propertiesString: "\u0001TAGS\u0002KEYS\u0002UNIQ_KEY\u0001u\u0001v\u0002\u0002\u0002" },
    { propertiesString: "KEYS\u0001\u0002UNIQ_KEY\u0001" },
  ];
  for (const c of cases) {
    const buf = record(c);
    assert.deepEqual(read(r, buf), expected(buf), JSON.stringify(c));
  }
  // Several records in one buffer, read at their positions.
  const two = Buffer.concat([record({ queueId: 1 }), record({ topic: "Other", queueId: 2 })]);
  const first = decodeMessage(two, 0).storeSize;
  assert.deepEqual(read(r, two, 0), expected(two, 0));
  assert.deepEqual(read(r, two, first), expected(two, first));
});

test("DispatchFields answers any property through its getter, as parseProperties would", () => {
  const r = new DispatchFields();
  const text = "TAGS\u0001t\u0002__DELAY_DUE\u00011700\u0002a\u0001=\u0001b\u0002__DELAY_DUE\u00011800\u0002";
  const buf = record({ propertiesString: text });
  r.read(buf, 0);
  const props = parseProperties(text);
  for (const name of ["TAGS", "__DELAY_DUE", "a", "missing", "", "KEYS", "UNIQ_KEY"])
    assert.equal(r.property(name), props[name], name);
});

test("DispatchFields keeps the topic string while records name the same topic", () => {
  const r = new DispatchFields();
  r.read(record(), 0);
  assert.equal(r.topicChanged, true);
  const topic = r.topic;
  r.read(record({ queueId: 5 }), 0);
  assert.equal(r.topicChanged, false);
  assert.equal(r.topic, topic);
  r.read(record({ topic: "TopicB" }), 0);
  assert.equal(r.topicChanged, true);
  assert.equal(r.topic, "TopicB");
});

test("DispatchFields refuses what decodeMessage refuses, with MessageFormatError", () => {
  const r = new DispatchFields();
  const good = record();
  const bad: [string, Buffer][] = [];
  const magic = Buffer.from(good);
  magic.writeInt32BE(0x12345678, 4);
  bad.push(["unknown magic", magic]);
  const big = Buffer.from(good);
  big.writeInt32BE(good.length + 1, 0);
  bad.push(["size past the buffer", big]);
  const small = Buffer.from(good);
  small.writeInt32BE(20, 0);
  bad.push(["size below the smallest record", small]);
  const body = Buffer.from(good);
  body.writeInt32BE(good.length, 84);
  bad.push(["body overruns", body]);
  const negBody = Buffer.from(good);
  negBody.writeInt32BE(-1, 84);
  bad.push(["negative body", negBody]);
  const v2 = Buffer.from(good);
  v2.writeInt32BE(MAGIC_V2, 4);
  bad.push(["V2 topic length reads past", v2]);
  const stray = Buffer.concat([good, Buffer.alloc(3)]);
  stray.writeInt32BE(good.length + 3, 0);
  bad.push(["stray bytes", stray]);
  bad.push(["truncated", good.subarray(0, 6)]);
  for (const [what, buf] of bad) {
    assert.throws(() => decodeMessage(buf, 0), MessageFormatError, `decodeMessage: ${what}`);
    assert.throws(() => r.read(buf, 0), MessageFormatError, what);
  }
});
