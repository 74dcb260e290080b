import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  CreateTopicRequestHeader,
  createRequest,
  decodeHeader,
  encodeFrame,
  encodeHeader,
  F,
  FrameDecoder,
  HeaderError,
  PullMessageRequestHeader,
  QueryMessageRequestHeader,
  RegisterBrokerRequestHeader,
  ResetOffsetRequestHeader,
  ResponseCode,
  SendMessageRequestHeader,
  SendMessageRequestHeaderV2,
  sendHeaderFromV2,
  sendHeaderToV2,
} from "../src/index.js";

const pull = {
  consumerGroup: "CG",
  topic: "T",
  queueId: "0",
  queueOffset: "12",
  maxMsgNums: "32",
  sysFlag: "6",
  commitOffset: "0",
  suspendTimeoutMillis: "15000",
  subscription: "TagA || TagB",
  subVersion: "1700000000000",
};

test("decodeHeader types every field of a Java-style (all strings) header", () => {
  const h = decodeHeader(PullMessageRequestHeader, { ...pull, bname: "ignored" }, "PULL_MESSAGE");
  assert.deepStrictEqual(h, {
    consumerGroup: "CG",
    topic: "T",
    queueId: 0,
    queueOffset: 12,
    maxMsgNums: 32,
    sysFlag: 6,
    commitOffset: 0,
    suspendTimeoutMillis: 15000,
    subscription: "TagA || TagB",
    subVersion: 1700000000000,
  });
});

test("a missing required field is a HeaderError naming it, answered as SYSTEM_ERROR", () => {
  for (const name of Object.keys(pull).filter((k) => k !== "subscription")) {
    const ext: Record<string, string> = { ...pull };
    delete ext[name];
    assert.throws(
      () => decodeHeader(PullMessageRequestHeader, ext, "PULL_MESSAGE"),
      (err: unknown) =>
        err instanceof HeaderError &&
        err.code === ResponseCode.SYSTEM_ERROR &&
        err.message.includes(`"${name}"`),
    );
  }
  assert.throws(() => decodeHeader(PullMessageRequestHeader, undefined, "PULL_MESSAGE"), HeaderError);
  // An empty string is no number: a required int given "" is missing.
  assert.throws(() => decodeHeader(PullMessageRequestHeader, { ...pull, queueId: "" }, "PULL"), HeaderError);
  // An optional field may be absent.
  const { subscription: _s, ...noSub } = pull;
  assert.equal(decodeHeader(PullMessageRequestHeader, noSub, "PULL").subscription, undefined);
});

test("a malformed or out-of-range integer is a HeaderError", () => {
  for (const bad of ["abc", "1.5", "1e3", "0x10", "12abc", "--1", " ", "2147483648", "-2147483649"]) {
    assert.throws(
      () => decodeHeader(PullMessageRequestHeader, { ...pull, queueId: bad }, "PULL"),
      HeaderError,
      bad,
    );
  }
  for (const bad of ["9223372036854775808", "-9223372036854775809", "1.0", "NaN"]) {
    assert.throws(
      () => decodeHeader(PullMessageRequestHeader, { ...pull, queueOffset: bad }, "PULL"),
      HeaderError,
      bad,
    );
  }
  // What Integer/Long.parseLong accept, plus surrounding blanks.
  const h = decodeHeader(PullMessageRequestHeader, { ...pull, queueId: "+7", queueOffset: " -1 " }, "PULL");
  assert.equal(h.queueId, 7);
  assert.equal(h.queueOffset, -1);
  // mqadmin's "no end" timestamp is Long.MAX_VALUE: accepted, larger than any real timestamp.
  const q = decodeHeader(
    QueryMessageRequestHeader,
    { topic: "T", key: "k", maxNum: "64", beginTimestamp: "0", endTimestamp: "9223372036854775807" },
    "QUERY_MESSAGE",
  );
  assert.ok(q.endTimestamp > 4102444800000);
});

test("long fields are exact for every safe integer, int fields for every int", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: -2147483648, max: 2147483647 }),
      fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
      (i, l) => {
        const h = decodeHeader({ i: F.int, l: F.long }, encodeHeader({ i, l }), "T");
        assert.deepStrictEqual(h, { i, l });
      },
    ),
  );
});

test("ali-ons numbers and booleans are coerced, from a decoded frame and from raw values", () => {
  // ali-ons puts JS values in extFields: numbers, booleans; the frame decoder makes strings of them.
  const header =
    '{"code":310,"language":"JAVA","opaque":1,"flag":0,"version":121,"extFields":{"a":"PG","b":"T","c":"TBW102","d":4,"e":0,"f":0,"g":1700000000123,"h":0,"i":"","j":0,"k":false}}';
  const h = Buffer.from(header);
  const frame = Buffer.alloc(8 + h.length);
  frame.writeInt32BE(4 + h.length, 0);
  frame.writeInt32BE(h.length, 4);
  h.copy(frame, 8);
  const [cmd] = new FrameDecoder().push(frame);
  const v2 = decodeHeader(SendMessageRequestHeaderV2, cmd!.extFields, "SEND_MESSAGE_V2");
  assert.deepStrictEqual(v2, {
    a: "PG",
    b: "T",
    c: "TBW102",
    d: 4,
    e: 0,
    f: 0,
    g: 1700000000123,
    h: 0,
    i: "",
    j: 0,
    k: false,
  });
  // Raw JS values handed straight to decodeHeader are read through String() as well.
  const raw = { queueId: 3, commitOffset: 5, unit: true, flagged: "TRUE", off: false } as unknown as Record<
    string,
    string
  >;
  const r = decodeHeader(
    { queueId: F.int, commitOffset: F.long, unit: F.bool, flagged: F.bool, off: F.optBool },
    raw,
    "T",
  );
  assert.deepStrictEqual(r, { queueId: 3, commitOffset: 5, unit: true, flagged: true, off: false });
});

test("booleans follow Boolean.parseBoolean: only 'true' in any case is true", () => {
  for (const [v, want] of [
    ["true", true],
    ["TRUE", true],
    ["True", true],
    ["false", false],
    ["1", false],
    ["yes", false],
  ] as const) {
    assert.equal(decodeHeader({ b: F.bool }, { b: v }, "T").b, want, v);
  }
});

test("fields Java fills with a default are not required on the wire", () => {
  const topic = {
    topic: "T",
    defaultTopic: "TBW102",
    readQueueNums: "8",
    writeQueueNums: "8",
    perm: "6",
    topicFilterType: "SINGLE_TAG",
  };
  assert.equal(decodeHeader(CreateTopicRequestHeader, topic, "UPDATE_AND_CREATE_TOPIC").order, false);
  assert.equal(decodeHeader(CreateTopicRequestHeader, { ...topic, order: "true" }, "CREATE").order, true);
  assert.throws(
    () => decodeHeader(CreateTopicRequestHeader, { ...topic, perm: undefined } as never, "C"),
    HeaderError,
  );
  const reset = decodeHeader(ResetOffsetRequestHeader, { topic: "T", group: "G", timestamp: "-1" }, "RESET");
  assert.deepStrictEqual(reset, { topic: "T", group: "G", timestamp: -1, isForce: false });
});

test("inherited names are not fields: a header lacking 'constructor' lacks it", () => {
  assert.throws(() => decodeHeader({ constructor: F.str }, {}, "T"), HeaderError);
});

test("SEND_MESSAGE V1 and V2 headers convert both ways", () => {
  const v1 = {
    producerGroup: "PG",
    topic: "T",
    defaultTopic: "TBW102",
    defaultTopicQueueNums: 4,
    queueId: 1,
    sysFlag: 0,
    bornTimestamp: 1700000000000,
    flag: 0,
    properties: "TAGS\u0001A\u0002",
    reconsumeTimes: 0,
    unitMode: false,
    batch: true,
  };
  const v2 = sendHeaderToV2(v1);
  assert.deepStrictEqual(v2, {
    a: "PG",
    b: "T",
    c: "TBW102",
    d: 4,
    e: 1,
    f: 0,
    g: 1700000000000,
    h: 0,
    i: "TAGS\u0001A\u0002",
    j: 0,
    k: false,
    m: true,
  });
  assert.deepStrictEqual(sendHeaderFromV2(v2), v1);
  const onWire = decodeHeader(SendMessageRequestHeaderV2, encodeHeader(v2), "SEND_MESSAGE_V2");
  assert.deepStrictEqual(sendHeaderFromV2(onWire), v1);
  assert.deepStrictEqual(decodeHeader(SendMessageRequestHeader, encodeHeader(v1), "SEND_MESSAGE"), v1);
});

test("REGISTER_BROKER header: required fields and the optional compressed/bodyCrc32", () => {
  const req = createRequest(103, {
    brokerName: "broker-a",
    brokerAddr: "127.0.0.1:10911",
    clusterName: "DefaultCluster",
    haServerAddr: "127.0.0.1:10912",
    brokerId: 0,
    compressed: true,
    bodyCrc32: 12345,
  });
  const [cmd] = new FrameDecoder().push(encodeFrame(req));
  const h = decodeHeader(RegisterBrokerRequestHeader, cmd!.extFields, "REGISTER_BROKER");
  assert.equal(h.brokerId, 0);
  assert.equal(h.compressed, true);
  assert.equal(h.bodyCrc32, 12345);
  assert.equal(h.heartbeatTimeoutMillis, undefined);
});
