import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  createRequest,
  encodeFrame,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
  SerializeType,
} from "@tidemq/protocol";
import { RemotingClient } from "@tidemq/remoting";
import type { NameServer } from "../src/index.js";
import { RawConnection, registerRequest, silentLogger, startNameServer, topicConfig } from "./helpers.js";

// Bad input (issue 2, item 5): each case gets an error response or a closed connection,
// and the NameServer keeps serving a healthy client throughout.

let ns: NameServer;
let healthy: RemotingClient;
let addr: string;

before(async () => {
  ns = await startNameServer();
  addr = `127.0.0.1:${ns.port}`;
  healthy = new RemotingClient({ logger: silentLogger });
  const res = await healthy.invoke(
    addr,
    registerRequest({ brokerName: "good-a", brokerAddr: "127.0.0.1:10911" }, [topicConfig("GoodTopic")]),
  );
  assert.equal(res.code, ResponseCode.SUCCESS);
});

after(async () => {
  await healthy.close();
  await ns.stop();
});

async function assertStillServing(): Promise<void> {
  const r = await healthy.invoke(
    addr,
    createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "GoodTopic" }),
    3000,
  );
  assert.equal(r.code, ResponseCode.SUCCESS);
}

function frame(cmd: RemotingCommand, opaque: number): Buffer {
  return encodeFrame({ ...cmd, opaque });
}

test("garbage bytes close that connection only", async () => {
  const raw = await RawConnection.open(ns.port);
  try {
    raw.write(Buffer.from("GET / HTTP/1.1\r\nHost: example\r\n\r\n"));
    assert.equal(await raw.closedWithin(3000), true, "the server closes a connection that sends garbage");
    await assertStillServing();
  } finally {
    raw.destroy();
  }
});

test("a frame with an unknown serialize type or an unparsable header closes the connection", async () => {
  for (const bytes of [
    Buffer.from([0, 0, 0, 8, 5, 0, 0, 2, 0x7b, 0x7d, 0, 0]), // serialize type 5
    Buffer.concat([Buffer.from([0, 0, 0, 9, 0, 0, 0, 5]), Buffer.from("{nope")]),
    Buffer.concat([Buffer.from([0, 0, 0, 6, 0, 0, 0, 2]), Buffer.from("{}")]), // no "code"
    Buffer.from([0, 0, 0, 4, 0, 0xff, 0xff, 0xff]), // header longer than the frame
  ]) {
    const raw = await RawConnection.open(ns.port);
    try {
      raw.write(bytes);
      assert.equal(await raw.closedWithin(3000), true, `closed after ${bytes.toString("hex")}`);
    } finally {
      raw.destroy();
    }
  }
  await assertStillServing();
});

test("a 2 GiB length (and a negative one) closes the connection without allocating it", async () => {
  for (const length of [0x7fffffff, 0x80000000, 0xffffffff, 16 * 1024 * 1024 + 1]) {
    const raw = await RawConnection.open(ns.port);
    try {
      const head = Buffer.alloc(8);
      head.writeUInt32BE(length, 0);
      head.writeUInt32BE(2, 4);
      raw.write(Buffer.concat([head, Buffer.from("{}")]));
      assert.equal(await raw.closedWithin(3000), true, `closed after length ${length}`);
    } finally {
      raw.destroy();
    }
  }
  await assertStillServing();
});

test("a truncated frame stalls only its own connection", async () => {
  const raw = await RawConnection.open(ns.port);
  try {
    const whole = frame(createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "GoodTopic" }), 1);
    raw.write(whole.subarray(0, whole.length - 5));
    await assertStillServing();
    // The rest arrives late: the frame completes and is answered.
    raw.write(whole.subarray(whole.length - 5));
    const r = await raw.response(1);
    assert.equal(r?.code, ResponseCode.SUCCESS);
    // Cut short for good: the client gives up mid-frame; the server just drops the connection.
    raw.write(whole.subarray(0, 10));
    raw.socket.end();
    assert.equal(await raw.closedWithin(3000), true);
    await assertStillServing();
  } finally {
    raw.destroy();
  }
});

test("an unknown request code is answered REQUEST_CODE_NOT_SUPPORTED and the connection stays usable", async () => {
  const raw = await RawConnection.open(ns.port);
  try {
    raw.write(frame(createRequest(4242, { x: "y" }), 11));
    const r = await raw.response(11);
    assert.equal(r?.code, ResponseCode.REQUEST_CODE_NOT_SUPPORTED);
    assert.equal(r?.remark, " request type 4242 not supported");
    raw.write(frame(createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "GoodTopic" }), 12));
    assert.equal((await raw.response(12))?.code, ResponseCode.SUCCESS);
  } finally {
    raw.destroy();
  }
});

test("headers missing required fields get SYSTEM_ERROR naming the field", async () => {
  const raw = await RawConnection.open(ns.port);
  try {
    const cases: Array<[RemotingCommand, string]> = [
      [createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC), "topic"],
      [
        createRequest(RequestCode.REGISTER_BROKER, { brokerName: "b", brokerAddr: "1.2.3.4:1" }),
        "clusterName",
      ],
      [createRequest(RequestCode.UNREGISTER_BROKER, { brokerName: "b" }), "brokerAddr"],
      [createRequest(RequestCode.PUT_KV_CONFIG, { namespace: "n", key: "k" }), "value"],
      [createRequest(RequestCode.GET_TOPICS_BY_CLUSTER, {}), "cluster"],
      [
        createRequest(RequestCode.REGISTER_BROKER, {
          brokerName: "b",
          brokerAddr: "1.2.3.4:1",
          clusterName: "c",
          haServerAddr: "1.2.3.4:2",
          brokerId: "not-a-number",
        }),
        "brokerId",
      ],
    ];
    let opaque = 100;
    for (const [req, field] of cases) {
      raw.write(frame(req, ++opaque));
      const r = await raw.response(opaque);
      assert.equal(r?.code, ResponseCode.SYSTEM_ERROR, `code ${req.code}`);
      assert.ok(r?.remark?.includes(`"${field}"`), `remark names ${field}: ${r?.remark}`);
    }
    assert.equal(raw.isClosed, false);
  } finally {
    raw.destroy();
  }
  await assertStillServing();
});

test("a request in the binary ROCKETMQ serialization is answered in it", async () => {
  const raw = await RawConnection.open(ns.port);
  try {
    const req = createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "GoodTopic" }, undefined, {
      serializeType: SerializeType.ROCKETMQ,
    });
    raw.write(frame(req, 77));
    const r = await raw.response(77);
    assert.equal(r?.code, ResponseCode.SUCCESS);
    assert.equal(r?.serializeType, SerializeType.ROCKETMQ);
    assert.match(r?.body?.toString() ?? "", /"brokerName":"good-a"/);
  } finally {
    raw.destroy();
  }
});

/** mulberry32: a small seeded PRNG so a failing fuzz run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FUZZ_CODES = [
  100, 101, 102, 103, 104, 105, 106, 205, 206, 216, 217, 219, 224, 304, 322, 327, 0, 1, 10, 11, 34, 9999, -1,
  32767,
];
const FUZZ_FIELDS = [
  "topic",
  "brokerName",
  "brokerAddr",
  "clusterName",
  "haServerAddr",
  "brokerId",
  "compressed",
  "bodyCrc32",
  "heartbeatTimeoutMillis",
  "namespace",
  "key",
  "value",
  "cluster",
  "acceptStandardJsonOnly",
];

test("a few thousand random frames do not stop the NameServer from serving", async () => {
  const seed = Number(process.env.FUZZ_SEED ?? 20261124);
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const randomBytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const randomValue = (): string => {
    switch (int(6)) {
      case 0:
        return String(int(5));
      case 1:
        return String(int(2 ** 31) - 2 ** 30);
      case 2:
        return rnd() < 0.5 ? "true" : "false";
      case 3:
        return "";
      case 4:
        return `10.0.${int(4)}.${int(4)}:${10911 + int(3)}`;
      default:
        return randomBytes(int(40)).toString("latin1");
    }
  };
  const randomBody = (): Buffer | undefined => {
    switch (int(5)) {
      case 0:
        return undefined;
      case 1:
        return randomBytes(int(200));
      case 2:
        return Buffer.from(JSON.stringify({ timestamp: int(1000), counter: int(10) }));
      case 3:
        return registerRequest(
          { brokerName: `fz-${int(5)}`, brokerAddr: randomValue() },
          [topicConfig(`F${int(9)}`)],
          {
            compressed: rnd() < 0.5,
          },
        ).body;
      default:
        return Buffer.from(
          '{"topicConfigSerializeWrapper":{"topicConfigTable":{"x":null}},"filterServerList":7}',
        );
    }
  };
  const randomFrame = (opaque: number): Buffer => {
    const ext: Record<string, string> = {};
    for (let i = int(8); i > 0; i--) ext[FUZZ_FIELDS[int(FUZZ_FIELDS.length)]!] = randomValue();
    const cmd: RemotingCommand = {
      code: FUZZ_CODES[int(FUZZ_CODES.length)]!,
      language: rnd() < 0.9 ? "JAVA" : "NOPE",
      version: int(500),
      opaque,
      flag: rnd() < 0.85 ? 0 : int(4),
      extFields: ext,
      body: randomBody(),
      serializeType: rnd() < 0.8 ? SerializeType.JSON : SerializeType.ROCKETMQ,
    };
    if (rnd() < 0.05) cmd.remark = randomValue();
    return encodeFrame(cmd);
  };

  const total = 3000;
  let sent = 0;
  let answered = 0;
  let ended = 0;
  for (let conn = 0; sent < total && conn < 500; conn++) {
    const raw = await RawConnection.open(ns.port);
    try {
      const frames = 1 + int(60);
      let opaque = 0;
      for (let i = 0; i < frames && sent < total; i++, sent++) raw.write(randomFrame(++opaque));
      const endsInGarbage = rnd() < 0.4;
      if (endsInGarbage) {
        sent++;
        // Random bytes, possibly a random length prefix or a partial frame.
        raw.write(rnd() < 0.5 ? randomBytes(1 + int(64)) : randomFrame(++opaque).subarray(0, 1 + int(20)));
        raw.socket.end();
        assert.equal(await raw.closedWithin(3000), true, `seed ${seed}, connection ${conn}: garbage ends it`);
        ended++;
      } else {
        // A well-formed request after the random ones must still be answered on this connection.
        const sentinel = 1_000_000 + conn;
        raw.write(frame(createRequest(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER), sentinel));
        const r = await raw.response(sentinel, 5000);
        assert.equal(r?.code, ResponseCode.SUCCESS, `seed ${seed}, connection ${conn}: sentinel answered`);
        answered++;
      }
    } finally {
      raw.destroy();
    }
  }
  assert.ok(sent >= total, `sent ${sent} frames`);
  assert.ok(answered > 0 && ended > 0, `answered ${answered}, ended ${ended}`);

  // After the storm: normal requests work, and the NameServer's own state is sound.
  await assertStillServing();
  const reg = await healthy.invoke(
    addr,
    registerRequest({ brokerName: "after-fuzz", brokerAddr: "127.0.0.1:10999" }, [topicConfig("AfterFuzz")]),
  );
  assert.equal(reg.code, ResponseCode.SUCCESS);
  const r = await healthy.invoke(
    addr,
    createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "AfterFuzz" }),
  );
  assert.equal(r.code, ResponseCode.SUCCESS);
});
