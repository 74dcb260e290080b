/**
 * Golden vectors against the unmodified npm package ali-ons@3.12.0 (the referee client):
 * frames and message records go both ways between its encoder/decoder and ours.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";
import { deflateSync } from "node:zlib";
import fc from "fast-check";
import {
  ConsumerSendMsgBackRequestHeader,
  CreateTopicRequestHeader,
  compressBody,
  createOffsetMsgId,
  createRequest,
  createResponse,
  decodeHeader,
  decodeMessages,
  encodeFrame,
  encodeJson,
  encodeMessage,
  FrameDecoder,
  GetConsumerListByGroupRequestHeader,
  GetKVConfigByValueRequestHeader,
  GetMaxOffsetRequestHeader,
  type HeaderSchema,
  isResponse,
  javaStringHashCode,
  type MessageRecordInput,
  MessageSysFlag,
  PullMessageRequestHeader,
  PullMessageResponseHeader,
  parseProperties,
  QueryConsumerOffsetRequestHeader,
  RequestCode,
  ResponseCode,
  SearchOffsetRequestHeader,
  SendMessageRequestHeaderV2,
  SendMessageResponseHeader,
  sendHeaderFromV2,
  type TopicRouteData,
  tagsHashCode,
  UnregisterClientRequestHeader,
  UpdateConsumerOffsetRequestHeader,
} from "../src/index.js";
import { ipv4Host, offset, port, properties, text, timestamp } from "./arbitraries.js";

const require = createRequire(import.meta.url);

interface AliCommand {
  code: number;
  opaque: number;
  flag: number;
  remark?: string;
  extFields: Record<string, unknown>;
  body?: Buffer | null;
  readonly isResponseType: boolean;
  encode(): Buffer;
  decodeCommandCustomHeader(): Record<string, unknown>;
}
interface AliRemotingCommand {
  createRequestCommand(code: number, customHeader: object | null): AliCommand;
  createResponseCommand(code: number, opaque: number, remark?: string): AliCommand;
  decode(packet: Buffer): AliCommand;
}
interface AliLong {
  toNumber(): number;
}
interface AliMessageExt {
  storeSize: number;
  bodyCRC: number;
  queueId: number;
  flag: number;
  queueOffset: number;
  commitLogOffset: number;
  sysFlag: number;
  bornTimestamp: number;
  bornHost: string;
  storeTimestamp: number;
  storeHost: string;
  reconsumeTimes: number;
  preparedTransactionOffset: number;
  body?: Buffer;
  topic: string;
  properties: Record<string, string | null>;
  msgId: string;
}
interface AliMessageDecoder {
  messageProperties2String(properties: Record<string, unknown>): string;
  decodeMessageId(msgId: string): { address: string; offset: AliLong };
  decodes(byteBuffer: unknown): AliMessageExt[];
}
interface AliMessage {
  properties: Record<string, string | null>;
  keys: string[];
  body: Buffer;
}

const AliRC = require("ali-ons/lib/protocol/command/remoting_command.js") as AliRemotingCommand;
const AliDecoder = require("ali-ons/lib/message/message_decoder.js") as AliMessageDecoder;
const AliMessage = require("ali-ons/lib/message/message.js") as new (...args: unknown[]) => AliMessage;
const aliUtils = require("ali-ons/lib/utils/index.js") as { hashCode(s: string): number };
const AliRequestCode = require("ali-ons/lib/protocol/request_code.js") as Record<string, number>;
// ali-ons' own dependencies, resolved from ali-ons so the exact copies it uses are loaded.
const aliRequire = createRequire(require.resolve("ali-ons/package.json"));
const ByteBuffer = aliRequire("byte") as { wrap(b: Buffer): unknown };
const JSON2 = aliRequire("JSON2") as { parse(s: string): unknown };

/** ali-ons' own pull-body decoding (mq_client_api.pullMessage): a ByteBuffer over the body, then decodes(). */
function aliDecodeRecords(body: Buffer): AliMessageExt[] {
  return AliDecoder.decodes(ByteBuffer.wrap(Buffer.from(body)));
}

function decodeOne(frame: Buffer) {
  const out = new FrameDecoder().push(frame);
  assert.equal(out.length, 1);
  return out[0]!;
}

test("GET_ROUTEINFO_BY_TOPIC: ali-ons' bytes are the spec's worked example and exactly what we encode", () => {
  const ali = AliRC.createRequestCommand(AliRequestCode.GET_ROUTEINTO_BY_TOPIC!, { topic: "TopicTest" });
  ali.opaque = 1;
  const aliBytes = ali.encode();
  const spec = Buffer.concat([
    Buffer.from("0000006600000062", "hex"),
    Buffer.from(
      '{"code":105,"language":"JAVA","opaque":1,"flag":0,"version":121,"extFields":{"topic":"TopicTest"}}',
    ),
  ]);
  assert.deepStrictEqual(aliBytes, spec);

  const ours = createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "TopicTest" }, undefined, {
    version: 121,
  });
  ours.opaque = 1;
  assert.deepStrictEqual(encodeFrame(ours), spec);

  const cmd = decodeOne(aliBytes);
  assert.equal(cmd.code, 105);
  assert.equal(cmd.language, "JAVA");
  assert.equal(cmd.version, 121);
  assert.equal(cmd.opaque, 1);
  assert.equal(cmd.flag, 0);
  assert.ok(!isResponse(cmd));
  assert.deepStrictEqual(cmd.extFields, { topic: "TopicTest" });
  assert.equal(cmd.body, undefined);
});

test("SEND_MESSAGE_V2 written by ali-ons (numbers, booleans, properties, body) decodes into our typed header", () => {
  const msg = new AliMessage("TopicTest", "TagA", Buffer.from("Hello 世界 🌊"));
  msg.keys = ["order-1", "键"];
  msg.properties.__STARTDELIVERTIME = "1700000060000";
  msg.properties.ünï = "cödé";
  const header = {
    a: "PG",
    b: "TopicTest",
    c: "TBW102",
    d: 4,
    e: 3,
    f: 0,
    g: 1700000000123,
    h: 0,
    i: AliDecoder.messageProperties2String(msg.properties),
    j: 0,
    k: false,
    l: undefined,
  };
  const ali = AliRC.createRequestCommand(AliRequestCode.SEND_MESSAGE_V2!, header);
  ali.body = msg.body;
  const cmd = decodeOne(ali.encode());
  assert.equal(cmd.code, RequestCode.SEND_MESSAGE_V2);
  assert.equal(cmd.opaque, ali.opaque);
  assert.equal(cmd.version, 121);
  assert.deepStrictEqual(cmd.body, Buffer.from("Hello 世界 🌊"));
  const h = sendHeaderFromV2(decodeHeader(SendMessageRequestHeaderV2, cmd.extFields, "SEND_MESSAGE_V2"));
  assert.deepStrictEqual(
    { ...h, properties: undefined },
    {
      producerGroup: "PG",
      topic: "TopicTest",
      defaultTopic: "TBW102",
      defaultTopicQueueNums: 4,
      queueId: 3,
      sysFlag: 0,
      bornTimestamp: 1700000000123,
      flag: 0,
      properties: undefined,
      reconsumeTimes: 0,
      unitMode: false,
    },
  );
  assert.deepStrictEqual(parseProperties(h.properties), {
    TAGS: "TagA",
    KEYS: "order-1 键",
    __STARTDELIVERTIME: "1700000060000",
    ünï: "cödé",
  });
});

test("the request headers ali-ons writes (JS numbers, booleans, absent optionals) satisfy our schemas", () => {
  // Values typed as ali-ons' mq_push_consumer / remote_broker / mq_client_api build them.
  const cases: Array<[number, Record<string, unknown>, HeaderSchema, Record<string, unknown>]> = [
    [
      AliRequestCode.PULL_MESSAGE!,
      {
        consumerGroup: "CG",
        topic: "TopicTest",
        queueId: 2,
        queueOffset: 40,
        maxMsgNums: 32,
        sysFlag: 6,
        commitOffset: 0,
        suspendTimeoutMillis: 15000,
        subscription: "TagA || TagB",
        subVersion: 1700000000000,
      },
      PullMessageRequestHeader,
      { queueId: 2, queueOffset: 40, sysFlag: 6, subVersion: 1700000000000, expressionType: undefined },
    ],
    [
      AliRequestCode.QUERY_CONSUMER_OFFSET!,
      { topic: "T", consumerGroup: "CG", queueId: 0 },
      QueryConsumerOffsetRequestHeader,
      { queueId: 0 },
    ],
    [
      AliRequestCode.UPDATE_CONSUMER_OFFSET!,
      { topic: "T", consumerGroup: "CG", queueId: 1, commitOffset: -1 },
      UpdateConsumerOffsetRequestHeader,
      { commitOffset: -1 },
    ],
    [AliRequestCode.GET_MAX_OFFSET!, { topic: "T", queueId: 3 }, GetMaxOffsetRequestHeader, { queueId: 3 }],
    [
      AliRequestCode.SEARCH_OFFSET_BY_TIMESTAMP!,
      { topic: "T", queueId: 3, timestamp: 1700000000000 },
      SearchOffsetRequestHeader,
      { timestamp: 1700000000000 },
    ],
    [
      AliRequestCode.CONSUMER_SEND_MSG_BACK!,
      {
        offset: 123456,
        group: "CG",
        delayLevel: 0,
        originMsgId: "7F00000100002A9F0000000000000000",
        originTopic: "T",
        unitMode: false,
        maxReconsumeTimes: undefined,
      },
      ConsumerSendMsgBackRequestHeader,
      { offset: 123456, delayLevel: 0, unitMode: false, maxReconsumeTimes: undefined },
    ],
    [
      AliRequestCode.UNREGISTER_CLIENT!,
      { clientID: "10.0.0.5@123", producerGroup: undefined, consumerGroup: "CG" },
      UnregisterClientRequestHeader,
      { clientID: "10.0.0.5@123", producerGroup: undefined },
    ],
    [
      AliRequestCode.GET_CONSUMER_LIST_BY_GROUP!,
      { consumerGroup: "CG" },
      GetConsumerListByGroupRequestHeader,
      {},
    ],
    [
      // mq_client_api.createTopic copies topicConfig fields; `order` may be undefined there.
      AliRequestCode.UPDATE_AND_CREATE_TOPIC!,
      {
        topic: "T",
        defaultTopic: "TBW102",
        readQueueNums: 8,
        writeQueueNums: 8,
        perm: 6,
        topicFilterType: "SINGLE_TAG",
        topicSysFlag: 0,
        order: undefined,
      },
      CreateTopicRequestHeader,
      { readQueueNums: 8, perm: 6, topicSysFlag: 0, order: false },
    ],
    [
      AliRequestCode.GET_KV_CONFIG_BY_VALUE!,
      { namespace: "PROJECT_CONFIG", key: "10.0.0.5" },
      GetKVConfigByValueRequestHeader,
      { namespace: "PROJECT_CONFIG", key: "10.0.0.5" },
    ],
  ];
  for (const [code, header, schema, expect] of cases) {
    const cmd = decodeOne(AliRC.createRequestCommand(code, header).encode());
    assert.equal(cmd.code, code);
    const h = decodeHeader(schema, cmd.extFields, `code ${code}`) as Record<string, unknown>;
    for (const [k, v] of Object.entries(expect)) assert.deepStrictEqual(h[k], v, `${code}.${k}`);
  }
});

test("a message ali-ons creates without a tag carries the literal TAGS 'null' (spec §7.5)", () => {
  const msg = new AliMessage("TopicTest", Buffer.from("no tag"));
  const props = parseProperties(AliDecoder.messageProperties2String(msg.properties));
  assert.deepStrictEqual(props, { TAGS: "null" });
  assert.equal(tagsHashCode(props.TAGS), 3392903);
});

test("ali-ons' properties encoder and our parser agree on random properties", () => {
  fc.assert(
    fc.property(properties, (p) => {
      assert.deepStrictEqual(parseProperties(AliDecoder.messageProperties2String(p)), p);
    }),
    { numRuns: 200 },
  );
});

test("a request we encode is read by ali-ons' decoder; with string values it is byte-identical to ali-ons'", () => {
  const header = { consumerGroup: "CG", topic: "T", queueId: "0", commitOffset: "-1", note: "ünï 🌊" };
  const ours = createRequest(RequestCode.UPDATE_CONSUMER_OFFSET, header, Buffer.from([0, 1, 2, 255]), {
    version: 121,
  });
  ours.opaque = 77;
  const frame = encodeFrame(ours);
  const ali = AliRC.decode(frame);
  assert.equal(ali.code, 15);
  assert.equal(ali.opaque, 77);
  assert.equal(ali.isResponseType, false);
  assert.deepStrictEqual({ ...ali.extFields }, header);
  assert.deepStrictEqual(ali.body, Buffer.from([0, 1, 2, 255]));

  const aliReq = AliRC.createRequestCommand(15, header);
  aliReq.opaque = 77;
  aliReq.body = Buffer.from([0, 1, 2, 255]);
  assert.deepStrictEqual(aliReq.encode(), frame);
});

test("a response we encode is read by ali-ons: code, opaque, remark, extFields, body, response flag", () => {
  const req = createRequest(RequestCode.SEND_MESSAGE_V2, { a: "PG" });
  req.opaque = 4242;
  const ok = createResponse(req, ResponseCode.SUCCESS, "stored ✓ 中文", {
    msgId: "7F00000100002A9F0000000000000000",
    queueId: 3,
    queueOffset: 17,
  });
  const ali = AliRC.decode(encodeFrame(ok));
  assert.equal(ali.code, 0);
  assert.equal(ali.opaque, 4242);
  assert.equal(ali.isResponseType, true);
  assert.equal(ali.remark, "stored ✓ 中文");
  // What ali-ons' sendMessage reads from the response header.
  const rh = ali.decodeCommandCustomHeader();
  assert.equal(rh.msgId, "7F00000100002A9F0000000000000000");
  assert.equal(Number(rh.queueId), 3);
  assert.equal(Number(rh.queueOffset), 17);
  assert.equal(ali.body, undefined);

  const err = createResponse(
    req,
    ResponseCode.TOPIC_NOT_EXIST,
    "No topic route info",
    undefined,
    Buffer.from("b"),
  );
  const aliErr = AliRC.decode(encodeFrame(err));
  assert.equal(aliErr.code, 17);
  assert.equal(aliErr.remark, "No topic route info");
  assert.deepStrictEqual(aliErr.extFields, {});
  assert.deepStrictEqual(aliErr.body, Buffer.from("b"));
});

test("random responses we encode are read by ali-ons with the same fields", () => {
  const ext = fc.dictionary(text(10), text(20), { maxKeys: 5, noNullPrototype: true });
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 400 }),
      fc.integer({ min: 1, max: 2147483647 }),
      fc.option(text(40), { nil: undefined }),
      ext,
      fc.uint8Array({ maxLength: 200 }),
      (code, opaque, remark, extFields, body) => {
        const req = createRequest(1);
        req.opaque = opaque;
        const res = createResponse(req, code, remark, extFields, Buffer.from(body));
        const ali = AliRC.decode(encodeFrame(res));
        assert.equal(ali.code, code);
        assert.equal(ali.opaque, opaque);
        assert.equal(ali.isResponseType, true);
        assert.equal(ali.remark, remark);
        assert.deepStrictEqual(Object.entries(ali.extFields), Object.entries(extFields));
        assert.deepStrictEqual(ali.body, body.length > 0 ? Buffer.from(body) : undefined);
      },
    ),
    { numRuns: 200 },
  );
});

test("a response ali-ons encodes is decoded by ours", () => {
  const ali = AliRC.createResponseCommand(ResponseCode.PULL_NOT_FOUND, 99, "OFFSET_OVERFLOW_ONE 中文");
  ali.extFields = { nextBeginOffset: 5, minOffset: "0", maxOffset: 5, suggestWhichBrokerId: 0 };
  ali.body = Buffer.from("tail");
  const cmd = decodeOne(ali.encode());
  assert.equal(cmd.code, 19);
  assert.equal(cmd.opaque, 99);
  assert.ok(isResponse(cmd));
  assert.equal(cmd.remark, "OFFSET_OVERFLOW_ONE 中文");
  assert.deepStrictEqual(decodeHeader(PullMessageResponseHeader, cmd.extFields, "PULL"), {
    nextBeginOffset: 5,
    minOffset: 0,
    maxOffset: 5,
    suggestWhichBrokerId: 0,
  });
  assert.deepStrictEqual(cmd.body, Buffer.from("tail"));
  // ali-ons' default remark, and a send response as a broker would get it back.
  const bare = AliRC.createResponseCommand(0, 7);
  bare.extFields = { msgId: "AB", queueId: 1, queueOffset: 2 };
  const sent = decodeOne(bare.encode());
  assert.equal(sent.remark, "not set any response code");
  assert.deepStrictEqual(decodeHeader(SendMessageResponseHeader, sent.extFields, "SEND"), {
    msgId: "AB",
    queueId: 1,
    queueOffset: 2,
  });
});

const baseRecord: MessageRecordInput = {
  queueId: 1,
  flag: 0,
  queueOffset: 0,
  commitLogOffset: 0,
  sysFlag: 0,
  bornTimestamp: 1700000000000,
  bornHost: { host: "10.0.0.5", port: 53211 },
  storeTimestamp: 1700000000005,
  storeHost: { host: "127.0.0.1", port: 10911 },
  reconsumeTimes: 0,
  preparedTransactionOffset: 0,
  body: Buffer.alloc(0),
  topic: "TopicTest",
};

function assertAliSees(ali: AliMessageExt, m: MessageRecordInput, record: Buffer, plainBody: Buffer): void {
  assert.equal(ali.storeSize, record.length);
  assert.equal(ali.queueId, m.queueId);
  assert.equal(ali.flag, m.flag);
  assert.equal(ali.queueOffset, m.queueOffset);
  assert.equal(ali.commitLogOffset, m.commitLogOffset);
  assert.equal(ali.sysFlag, m.sysFlag);
  assert.equal(ali.bornTimestamp, m.bornTimestamp);
  assert.equal(ali.bornHost, `${m.bornHost.host}:${m.bornHost.port}`);
  assert.equal(ali.storeTimestamp, m.storeTimestamp);
  assert.equal(ali.storeHost, `${m.storeHost.host}:${m.storeHost.port}`);
  assert.equal(ali.reconsumeTimes, m.reconsumeTimes);
  assert.equal(ali.preparedTransactionOffset, m.preparedTransactionOffset);
  assert.equal(ali.topic, m.topic);
  assert.equal(ali.msgId, createOffsetMsgId(m.storeHost, m.commitLogOffset));
  assert.deepStrictEqual(ali.body ?? Buffer.alloc(0), plainBody);
  for (const [k, v] of Object.entries(m.properties ?? {})) {
    // ali-ons parses into a plain object with `map[name] = value`, so it cannot hold a
    // property named __proto__ (its limitation, not a difference in the bytes).
    if (k !== "__proto__") assert.equal(ali.properties[k], v, k);
  }
}

test("a pulled batch we encode is decoded by ali-ons: topic, body, tags/keys, offsets, msgId, hosts, zlib body", () => {
  const big = Buffer.from("payload ".repeat(1000));
  const compressed = compressBody(big);
  const records: Array<[MessageRecordInput, Buffer]> = [
    [
      { ...baseRecord, body: Buffer.from("Hello 世界"), properties: { TAGS: "TagA", KEYS: "k1 k2" } },
      Buffer.from("Hello 世界"),
    ],
    [
      {
        ...baseRecord,
        queueOffset: 1,
        commitLogOffset: 0x1_2345_6789,
        body: compressed.body,
        sysFlag: compressed.sysFlagBits,
        properties: { TAGS: "TagB", CLUSTER: "DefaultCluster" },
      },
      big,
    ],
    [
      // ali-ons-style compression: bit 0 only.
      {
        ...baseRecord,
        queueOffset: 2,
        commitLogOffset: 9000,
        body: deflateSync(big),
        sysFlag: MessageSysFlag.COMPRESSED,
      },
      big,
    ],
    [
      { ...baseRecord, queueOffset: 3, commitLogOffset: 12000, reconsumeTimes: 2, properties: {} },
      Buffer.alloc(0),
    ],
  ];
  const bufs = records.map(([m]) => encodeMessage(m));
  const pullBody = Buffer.concat(bufs);

  // The whole PULL response frame, as ali-ons' pullMessage reads it.
  const req = createRequest(RequestCode.PULL_MESSAGE, {});
  req.opaque = 5;
  const res = createResponse(
    req,
    ResponseCode.SUCCESS,
    undefined,
    { suggestWhichBrokerId: 0, nextBeginOffset: 4, minOffset: 0, maxOffset: 4 },
    pullBody,
  );
  const aliRes = AliRC.decode(encodeFrame(res));
  const rh = aliRes.decodeCommandCustomHeader();
  assert.equal(Number(rh.nextBeginOffset), 4);
  assert.equal(String(rh.minOffset), "0");
  assert.equal(String(rh.maxOffset), "4");
  const msgs = aliDecodeRecords(aliRes.body!);
  assert.equal(msgs.length, records.length);
  for (let i = 0; i < msgs.length; i++) assertAliSees(msgs[i]!, records[i]![0], bufs[i]!, records[i]![1]);
  assert.equal(msgs[0]!.properties.TAGS, "TagA");
  assert.equal(msgs[0]!.properties.KEYS, "k1 k2");
  assert.equal(msgs[1]!.msgId, "7F00000100002A9F0000000123456789");
  assert.ok(msgs[3]!.properties.TAGS == null); // no properties at all: ali-ons has no TAGS
  // And ours reads the same body the same way.
  assert.deepStrictEqual(
    decodeMessages(pullBody).map((m) => m.msgId),
    msgs.map((m) => m.msgId),
  );
});

test("random IPv4 records: ali-ons decodes every field as we encoded it", () => {
  const rec = fc.record(
    {
      queueId: fc.integer({ min: 0, max: 1023 }),
      flag: fc.integer({ min: -2147483648, max: 2147483647 }),
      queueOffset: offset,
      commitLogOffset: offset,
      sysFlag: fc.constantFrom(0, MessageSysFlag.MULTI_TAGS, MessageSysFlag.TRANSACTION_COMMIT_TYPE),
      bornTimestamp: timestamp,
      bornHost: fc.record({ host: ipv4Host, port }, { noNullPrototype: true }),
      storeTimestamp: timestamp,
      storeHost: fc.record({ host: ipv4Host, port }, { noNullPrototype: true }),
      reconsumeTimes: fc.integer({ min: 0, max: 16 }),
      preparedTransactionOffset: offset,
      body: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      topic: fc.stringMatching(/^[%|A-Za-z0-9_-]{1,64}$/),
      properties,
    },
    { noNullPrototype: true },
  );
  fc.assert(
    fc.property(fc.array(rec, { minLength: 1, maxLength: 6 }), (ms) => {
      const bufs = ms.map((m) => encodeMessage(m));
      const ali = aliDecodeRecords(Buffer.concat(bufs));
      assert.equal(ali.length, ms.length);
      for (let i = 0; i < ali.length; i++) assertAliSees(ali[i]!, ms[i]!, bufs[i]!, ms[i]!.body);
    }),
    { numRuns: 150 },
  );
});

test("ali-ons reads the offset message ids we create (reverse of its own msgId computation)", () => {
  fc.assert(
    fc.property(ipv4Host, port, offset, (host, p, off) => {
      const id = createOffsetMsgId({ host, port: p }, off);
      const d = AliDecoder.decodeMessageId(id);
      assert.equal(d.address, `${host}:${p}`);
      assert.equal(d.offset.toNumber(), off);
    }),
    { numRuns: 200 },
  );
});

test("ali-ons' String.hashCode equivalent (used for subscription codeSet) equals ours", () => {
  for (const [s, h] of [
    ["TagA", 2598919],
    ["TagB", 2598920],
    ["null", 3392903],
    ["*", 42],
    ["中文标签", 622041809],
  ] as const) {
    assert.equal(aliUtils.hashCode(s), h);
    assert.equal(javaStringHashCode(s), h);
  }
  fc.assert(
    fc.property(text(80), (s) => {
      assert.equal(javaStringHashCode(s), aliUtils.hashCode(s));
    }),
    { numRuns: 500 },
  );
});

test("ali-ons' JSON2 parser reads the route body we emit (quoted numeric keys)", () => {
  const route: TopicRouteData = {
    brokerDatas: [
      { brokerAddrs: { "0": "127.0.0.1:10911" }, brokerName: "broker-a", cluster: "DefaultCluster" },
    ],
    filterServerTable: {},
    queueDatas: [{ brokerName: "broker-a", perm: 6, readQueueNums: 8, topicSysFlag: 0, writeQueueNums: 8 }],
  };
  assert.deepStrictEqual(JSON2.parse(encodeJson(route).toString()), route);
});
