/**
 * SQL92 subscriptions filtered on the broker (spec §9.2), at the protocol level: a raw pull
 * returns only matching messages, in queue order and without skipping any; a scan with no
 * match answers PULL_RETRY_IMMEDIATELY with the offset to resume from; a malformed
 * expression is SUBSCRIPTION_PARSE_FAILED with its position at pull, heartbeat and
 * CHECK_CLIENT_CONFIG; enablePropertyFilter=false refuses SQL92 clearly.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  createRequest,
  decodeMessages,
  encodeJson,
  PullSysFlag,
  RequestCode,
  ResponseCode,
} from "@tidemq/protocol";
import { MAX_SQL_SCAN } from "../src/filter/sqlPull.js";
import {
  type BrokerUnderTest,
  createTopicRequest,
  openBroker,
  pullAll,
  pullRequest,
  sendRequest,
} from "./helpers.js";

let t: BrokerUnderTest | undefined;
before(async () => {
  t = await openBroker("broker-sql92");
});
after(() => t?.close());

async function send(topic: string, props: Array<Record<string, string>>): Promise<void> {
  const { client, addr } = t!;
  // In order: a queue's offsets follow the sends.
  for (const p of props) {
    const res = await client.invoke(
      addr,
      sendRequest(topic, Buffer.from(JSON.stringify(p)), { properties: p }),
    );
    assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
  }
}

function sqlPull(topic: string, offset: number, expr: string, maxMsgNums = 32) {
  return pullRequest(topic, 0, offset, { subscription: expr, expressionType: "SQL92", maxMsgNums });
}

test("a raw pull returns only the messages whose properties match, in queue order", async () => {
  const { client, addr } = t!;
  await client.invoke(addr, createTopicRequest("T_SQL", 1));
  await send(
    "T_SQL",
    Array.from({ length: 10 }, (_, i) => ({ a: String(i + 1), region: i % 2 === 0 ? "EU" : "US" })),
  );
  const all = await pullAll(client, addr, "T_SQL", 0, 0, { subscription: "a > 5", expressionType: "SQL92" });
  assert.deepEqual(
    all.messages.map((m) => m.properties.a),
    ["6", "7", "8", "9", "10"],
  );
  const eu = await pullAll(client, addr, "T_SQL", 0, 0, {
    subscription: "a BETWEEN 2 AND 9 AND region = 'EU'",
    expressionType: "SQL92",
  });
  assert.deepEqual(
    eu.messages.map((m) => m.properties.a),
    ["3", "5", "7", "9"],
  );
  assert.deepEqual(
    eu.messages.map((m) => Number(m.queueOffset)),
    [2, 4, 6, 8],
  );

  // The wanted count reached in the middle of what was read: the next pull starts right after
  // the last match, so nothing is skipped.
  const first = await client.invoke(addr, sqlPull("T_SQL", 0, "a > 2", 3));
  assert.equal(first.code, ResponseCode.SUCCESS, first.remark);
  assert.deepEqual(
    decodeMessages(first.body!).map((m) => m.properties.a),
    ["3", "4", "5"],
  );
  assert.equal(first.extFields?.nextBeginOffset, "5");
  const second = await client.invoke(addr, sqlPull("T_SQL", 5, "a > 2", 3));
  assert.deepEqual(
    decodeMessages(second.body!).map((m) => m.properties.a),
    ["6", "7", "8"],
  );
});

test("a scan that finds nothing answers PULL_RETRY_IMMEDIATELY with the offset to resume from", async () => {
  const { client, addr } = t!;
  await client.invoke(addr, createTopicRequest("T_SQL_SPARSE", 1));
  const total = MAX_SQL_SCAN + 100;
  await send(
    "T_SQL_SPARSE",
    Array.from({ length: total }, (_, i) => ({ n: String(i), hit: i === total - 1 ? "yes" : "no" })),
  );
  const res = await client.invoke(addr, sqlPull("T_SQL_SPARSE", 0, "hit = 'yes'"));
  assert.equal(res.code, ResponseCode.PULL_RETRY_IMMEDIATELY, res.remark);
  assert.equal(Number(res.extFields?.nextBeginOffset), MAX_SQL_SCAN);
  const next = await client.invoke(addr, sqlPull("T_SQL_SPARSE", MAX_SQL_SCAN, "hit = 'yes'"));
  assert.equal(next.code, ResponseCode.SUCCESS, next.remark);
  assert.deepEqual(
    decodeMessages(next.body!).map((m) => m.properties.n),
    [String(total - 1)],
  );
  assert.equal(Number(next.extFields?.nextBeginOffset), total);
  // At the end of the queue the pull is an ordinary "nothing new" (and may be parked).
  const end = await client.invoke(addr, sqlPull("T_SQL_SPARSE", total, "hit = 'yes'"));
  assert.equal(end.code, ResponseCode.PULL_NOT_FOUND);
});

test("heartbeat-registered SQL92 subscriptions filter pulls without the subscription bit", async () => {
  const { client, addr } = t!;
  await client.invoke(addr, createTopicRequest("T_SQL_HB", 1));
  await send(
    "T_SQL_HB",
    Array.from({ length: 6 }, (_, i) => ({ k: String(i) })),
  );
  const hb = await client.invoke(addr, heartbeatRequest("CG_SQL_HB", "T_SQL_HB", "k IN ('1', '4')"));
  assert.equal(hb.code, ResponseCode.SUCCESS, hb.remark);
  const { messages } = await pullAll(client, addr, "T_SQL_HB", 0, 0, { group: "CG_SQL_HB", sysFlag: 0 });
  assert.deepEqual(
    messages.map((m) => m.properties.k),
    ["1", "4"],
  );
});

function heartbeatRequest(group: string, topic: string, expression: string) {
  return createRequest(
    RequestCode.HEART_BEAT,
    undefined,
    encodeJson({
      clientID: "127.0.0.1@sql",
      producerDataSet: [],
      consumerDataSet: [
        {
          groupName: group,
          consumeType: "CONSUME_PASSIVELY",
          messageModel: "CLUSTERING",
          consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
          subscriptionDataSet: [
            {
              topic,
              subString: expression,
              tagsSet: [],
              codeSet: [],
              subVersion: 1,
              expressionType: "SQL92",
            },
          ],
        },
      ],
    }),
  );
}

test("a malformed expression is SUBSCRIPTION_PARSE_FAILED with its position, at pull, heartbeat and CHECK_CLIENT_CONFIG", async () => {
  const { client, addr } = t!;
  await client.invoke(addr, createTopicRequest("T_SQL_BAD", 1));
  await send("T_SQL_BAD", [{ a: "1" }]);
  const bad = "a >>> 5 AND (";
  const pull = await client.invoke(addr, sqlPull("T_SQL_BAD", 0, bad));
  assert.equal(pull.code, ResponseCode.SUBSCRIPTION_PARSE_FAILED);
  assert.match(pull.remark!, /position 3/);

  const hb = await client.invoke(addr, heartbeatRequest("CG_SQL_BAD", "T_SQL_BAD", bad));
  assert.equal(hb.code, ResponseCode.SUBSCRIPTION_PARSE_FAILED);
  assert.match(hb.remark!, /position 3: expected a property name/);

  const check = (expression: string) =>
    client.invoke(
      addr,
      createRequest(
        RequestCode.CHECK_CLIENT_CONFIG,
        undefined,
        encodeJson({
          group: "CG_SQL_BAD",
          subscriptionData: {
            topic: "T_SQL_BAD",
            subString: expression,
            expressionType: "SQL92",
            subVersion: 1,
          },
        }),
      ),
    );
  const refused = await check("a = NULL");
  assert.equal(refused.code, ResponseCode.SUBSCRIPTION_PARSE_FAILED);
  assert.match(refused.remark!, /position 4: NULL cannot be compared/);
  assert.equal((await check("a IS NULL")).code, ResponseCode.SUCCESS);
  // The broker keeps serving, and a good expression on the same topic still works.
  const good = await client.invoke(addr, sqlPull("T_SQL_BAD", 0, "a = 1"));
  assert.equal(good.code, ResponseCode.SUCCESS, good.remark);
});

test("with enablePropertyFilter=false an SQL92 pull is refused with the setting's name", async () => {
  const off = await openBroker("broker-sql92-off", { enablePropertyFilter: false });
  try {
    await off.client.invoke(off.addr, createTopicRequest("T_SQL_OFF", 1));
    const res = await off.client.invoke(
      off.addr,
      pullRequest("T_SQL_OFF", 0, 0, {
        subscription: "a > 1",
        expressionType: "SQL92",
        sysFlag: PullSysFlag.SUBSCRIPTION,
      }),
    );
    assert.equal(res.code, ResponseCode.SYSTEM_ERROR);
    assert.match(res.remark!, /enablePropertyFilter=true/);
  } finally {
    await off.close();
  }
});
