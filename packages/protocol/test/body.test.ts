import assert from "node:assert/strict";
import { test } from "node:test";
import { deflateSync, inflateSync } from "node:zlib";
import fc from "fast-check";
import {
  decodeJson,
  decodeObjectKeyMap,
  decodeRegisterBrokerBody,
  encodeJson,
  encodeObjectKeyMap,
  encodeRegisterBrokerBody,
  MessageFormatError,
  permToString,
  quoteNumericKeys,
  type RegisterBrokerBody,
  type TopicConfig,
  type TopicRouteData,
} from "../src/index.js";

const topicName = fc.stringMatching(/^[%|A-Za-z0-9_-]{1,40}$/);
const topicConfig: fc.Arbitrary<TopicConfig> = fc.record(
  {
    topicName,
    readQueueNums: fc.integer({ min: 0, max: 1024 }),
    writeQueueNums: fc.integer({ min: 0, max: 1024 }),
    perm: fc.integer({ min: 0, max: 7 }),
    topicFilterType: fc.constantFrom("SINGLE_TAG" as const, "MULTI_TAG" as const),
    topicSysFlag: fc.integer({ min: 0, max: 3 }),
    order: fc.boolean(),
  },
  { noNullPrototype: true },
);
const registerBody: fc.Arbitrary<RegisterBrokerBody> = fc.record(
  {
    topicConfigSerializeWrapper: fc.record(
      {
        topicConfigTable: fc
          .array(topicConfig, { maxLength: 10 })
          .map((ts) => Object.fromEntries(ts.map((t) => [t.topicName, t]))),
        dataVersion: fc.record(
          {
            timestamp: fc.integer({ min: 0, max: 4102444800000 }),
            counter: fc.integer({ min: 0, max: 1000000 }),
          },
          { noNullPrototype: true },
        ),
      },
      { noNullPrototype: true },
    ),
    filterServerList: fc.array(fc.constantFrom("10.0.0.1:40001", "10.0.0.2:40001"), { maxLength: 2 }),
  },
  { noNullPrototype: true },
);

test("REGISTER_BROKER body, JSON form, round-trips", () => {
  fc.assert(
    fc.property(registerBody, (b) => {
      assert.deepStrictEqual(decodeRegisterBrokerBody(encodeRegisterBrokerBody(b, false), false), b);
    }),
    { numRuns: 100 },
  );
});

test("REGISTER_BROKER body, compressed form: layout of spec §3.1; topicSysFlag/order are not carried", () => {
  fc.assert(
    fc.property(registerBody, (b) => {
      const raw = encodeRegisterBrokerBody(b, true);
      const plain = inflateSync(raw); // a zlib stream (RFC 1950), as Java's DeflaterOutputStream writes
      let p = 0;
      const block = () => {
        const n = plain.readInt32BE(p);
        p += 4;
        const s = plain.toString("utf8", p, p + n);
        p += n;
        return s;
      };
      assert.deepStrictEqual(JSON.parse(block()), b.topicConfigSerializeWrapper.dataVersion);
      const count = plain.readInt32BE(p);
      p += 4;
      const topics = Object.values(b.topicConfigSerializeWrapper.topicConfigTable);
      assert.equal(count, topics.length);
      for (const t of topics) {
        assert.equal(
          block(),
          `${t.topicName} ${t.readQueueNums} ${t.writeQueueNums} ${t.perm} ${t.topicFilterType}`,
        );
      }
      assert.deepStrictEqual(JSON.parse(block()), b.filterServerList);
      assert.equal(p, plain.length);

      const decoded = decodeRegisterBrokerBody(raw, true);
      const expected = Object.fromEntries(
        topics.map((t) => [t.topicName, { ...t, topicSysFlag: 0, order: false }]),
      );
      assert.deepStrictEqual(decoded, {
        topicConfigSerializeWrapper: {
          topicConfigTable: expected,
          dataVersion: b.topicConfigSerializeWrapper.dataVersion,
        },
        filterServerList: b.filterServerList,
      });
    }),
    { numRuns: 100 },
  );
});

/** A compressed register body built by hand, the way a Java broker writes it. */
function javaCompressed(dataVersion: string, topics: string[], filters = "[]"): Buffer {
  const parts: Buffer[] = [];
  const block = (s: string) => {
    const b = Buffer.from(s);
    const len = Buffer.alloc(4);
    len.writeInt32BE(b.length, 0);
    parts.push(len, b);
  };
  block(dataVersion);
  const count = Buffer.alloc(4);
  count.writeInt32BE(topics.length, 0);
  parts.push(count);
  topics.forEach(block);
  block(filters);
  return deflateSync(Buffer.concat(parts), { level: 9 });
}

test("a Java-written compressed body decodes, including 5.x's sixth attributes token", () => {
  const raw = javaCompressed('{"counter":3,"stateVersion":0,"timestamp":1700000000000}', [
    "TopicTest 8 8 6 SINGLE_TAG",
    'T2 4 4 7 MULTI_TAG {"+message.type":"NORMAL"}',
  ]);
  const b = decodeRegisterBrokerBody(raw, true);
  assert.deepStrictEqual(Object.keys(b.topicConfigSerializeWrapper.topicConfigTable), ["TopicTest", "T2"]);
  assert.equal(b.topicConfigSerializeWrapper.topicConfigTable.T2!.topicFilterType, "MULTI_TAG");
  assert.equal(b.topicConfigSerializeWrapper.dataVersion.counter, 3);
  assert.deepStrictEqual(b.filterServerList, []);
});

test("bad register bodies are MessageFormatErrors, an absent body is 'no topics, version 0/0'", () => {
  // A data-version block "{}" followed by a topic count of -1.
  const negative = Buffer.concat([
    Buffer.from([0, 0, 0, 2]),
    Buffer.from("{}"),
    Buffer.from([0xff, 0xff, 0xff, 0xff]),
  ]);
  const bad: Array<[string, Buffer, boolean]> = [
    ["not zlib", Buffer.from("garbage"), true],
    ["truncated block", deflateSync(Buffer.from([0, 0, 0, 50, 1, 2])), true],
    ["negative topic count", deflateSync(negative), true],
    ["too few tokens", javaCompressed('{"counter":0,"timestamp":0}', ["T 8 8 6"]), true],
    ["non-numeric queue count", javaCompressed('{"counter":0,"timestamp":0}', ["T x 8 6 SINGLE_TAG"]), true],
    ["not JSON", Buffer.from("{oops"), false],
    ["JSON null", Buffer.from("null"), false],
    ["JSON array", Buffer.from("[]"), false],
  ];
  for (const [what, raw, compressed] of bad) {
    assert.throws(() => decodeRegisterBrokerBody(raw, compressed), MessageFormatError, what);
  }
  const empty = {
    topicConfigSerializeWrapper: { topicConfigTable: {}, dataVersion: { timestamp: 0, counter: 0 } },
    filterServerList: [],
  };
  assert.deepStrictEqual(decodeRegisterBrokerBody(undefined, false), empty);
  assert.deepStrictEqual(decodeRegisterBrokerBody(Buffer.alloc(0), true), empty);
  // Brokers older than V3_0_11 send a bare TopicConfigSerializeWrapper.
  const bare = decodeRegisterBrokerBody(
    Buffer.from('{"topicConfigTable":{},"dataVersion":{"timestamp":5,"counter":1}}'),
    false,
  );
  assert.deepStrictEqual(bare.topicConfigSerializeWrapper.dataVersion, { timestamp: 5, counter: 1 });
});

test("JSON bodies with fastjson's unquoted numeric keys parse; strings are left alone", () => {
  const fastjson =
    '{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.1:10921"},"brokerName":"b","cluster":"C"}],' +
    '"filterServerTable":{},"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":8,"topicSysFlag":0,"writeQueueNums":8}]}';
  const route = decodeJson<TopicRouteData>(Buffer.from(fastjson), "route");
  assert.deepStrictEqual(route.brokerDatas[0]!.brokerAddrs, {
    "0": "127.0.0.1:10911",
    "1": "127.0.0.1:10921",
  });
  assert.equal(route.queueDatas[0]!.perm, 6);
  assert.equal(quoteNumericKeys('{ 0 : "a" ,\n-1:{2:"{3:4}"}}'), '{ "0" : "a" ,\n"-1":{"2":"{3:4}"}}');
  assert.equal(quoteNumericKeys('{"s":"a,1:b","t":"x\\",2:"}'), '{"s":"a,1:b","t":"x\\",2:"}');
  assert.equal(quoteNumericKeys("[1,2,3]"), "[1,2,3]");
  assert.throws(() => decodeJson(Buffer.from("{0:}"), "x"), MessageFormatError);
  assert.throws(() => decodeJson(undefined, "x"), MessageFormatError);
  assert.throws(() => decodeJson(Buffer.alloc(0), "x"), MessageFormatError);
  // Any JSON value with numeric-keyed maps, written unquoted, reads back equal.
  const numericMaps = fc.dictionary(
    fc.integer({ min: -5, max: 100000 }).map(String),
    fc.oneof(fc.string(), fc.integer(), fc.constant({ a: [1, 2] })),
    { noNullPrototype: true },
  );
  fc.assert(
    fc.property(fc.array(numericMaps, { maxLength: 4 }), (maps) => {
      const text = JSON.stringify({ list: maps }).replace(/"(-?\d+)":/g, "$1:");
      assert.deepStrictEqual(decodeJson(Buffer.from(text), "x"), JSON.parse(JSON.stringify({ list: maps })));
    }),
    { numRuns: 100 },
  );
  assert.deepStrictEqual(decodeJson(encodeJson({ a: 1 }), "x"), { a: 1 });
});

test("maps keyed by MessageQueue objects round-trip in fastjson's form", () => {
  const entries: Array<[object, unknown]> = [
    [
      { topic: "T", brokerName: "b", queueId: 0 },
      { minOffset: 0, maxOffset: 5, lastUpdateTimestamp: 0 },
    ],
    [{ topic: "T,}", brokerName: "b{", queueId: 1 }, [1, { x: "]" }]],
    [{ topic: "U", brokerName: "b", queueId: 2 }, 7],
  ];
  const text = encodeObjectKeyMap(entries);
  assert.ok(text.startsWith('{{"brokerName":"b","queueId":0,"topic":"T"}:{"minOffset":0'));
  assert.deepStrictEqual(
    decodeObjectKeyMap(text),
    entries.map(([k, v]) => [JSON.parse(JSON.stringify(k)), v]),
  );
  assert.deepStrictEqual(decodeObjectKeyMap("{}"), []);
  assert.throws(() => decodeObjectKeyMap('{{"a":1} 5}'), MessageFormatError);
  assert.throws(() => decodeObjectKeyMap("{{bad}:1}"), MessageFormatError);
  assert.equal(permToString(6), "RW-");
});
