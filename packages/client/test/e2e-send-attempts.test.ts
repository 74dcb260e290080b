/**
 * How many requests a failing send makes, counted at a real broker whose send handlers refuse
 * (or never answer): 1 + retryTimesWhenSendFailed against a broker that answers SYSTEM_ERROR,
 * for a transaction half (SEND_HALF_BATCH or SEND_MESSAGE_V2) and a plain send alike; and one
 * only against a broker that does not answer, because the first attempt used up sendMsgTimeout.
 * The producer knows the topic's route before the counted send.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import {
  createResponse,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
  TransactionRequestCode,
} from "@tidemq/protocol";
import type { Logger } from "@tidemq/remoting";
import { BrokerError, Producer } from "../src/index.js";
import { FAST, TestCluster, uniq } from "./cluster.js";

const clusters: TestCluster[] = [];
after(async () => {
  for (const c of clusters) await c.stop();
});

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const add = (level: string) => (msg: string) => lines.push(`${level} ${msg}`);
  return { lines, debug() {}, info: add("INFO"), warn: add("WARN"), error: add("ERROR") };
}

const SEND_CODES = [
  RequestCode.SEND_MESSAGE_V2,
  RequestCode.SEND_MESSAGE,
  TransactionRequestCode.SEND_HALF_BATCH,
];

/**
 * A one-broker cluster with `topic`, a producer that has sent one message to it (so the route
 * is known), and from then on send handlers that count requests and answer with `answer`.
 */
async function refusingBroker(
  autoBatch: boolean,
  answer: (req: RemotingCommand) => RemotingCommand | Promise<RemotingCommand | undefined>,
  sendMsgTimeout = 3000,
): Promise<{ topic: string; producer: Producer; requests: () => number; log: { lines: string[] } }> {
  const c = await TestCluster.start(["broker-a"]);
  clusters.push(c);
  const topic = uniq("Attempts");
  await c.createTopic(topic, 2);
  const log = recordingLogger();
  const producer = new Producer({
    endpoints: c.nsAddr,
    producerGroup: uniq("AttemptsP"),
    logger: log,
    retryTimesWhenSendFailed: 2,
    sendMsgTimeout,
    autoBatch,
    ...FAST,
  });
  await producer.startup();
  await producer.send({ topic, body: "route" });
  let requests = 0;
  const server = c.brokers.get("broker-a")!.context.server;
  for (const code of SEND_CODES) {
    server.registerHandler(code, (req) => {
      requests++;
      return answer(req);
    });
  }
  return { topic, producer, requests: () => requests, log };
}

const systemError = (req: RemotingCommand) =>
  createResponse(req, ResponseCode.SYSTEM_ERROR, "refused by the test");

for (const autoBatch of [true, false]) {
  test(`a half refused with SYSTEM_ERROR (autoBatch ${autoBatch}): exactly 1 + retryTimesWhenSendFailed requests, then the broker's error`, async () => {
    const { topic, producer, requests, log } = await refusingBroker(autoBatch, systemError);
    try {
      const tx = producer.beginTransaction();
      await assert.rejects(
        producer.send({ topic, body: "half" }, tx),
        (err: unknown) => err instanceof BrokerError && err.code === ResponseCode.SYSTEM_ERROR,
      );
      assert.equal(requests(), 3, "three attempts: the first and two retries");
      assert.deepEqual(
        log.lines.filter((l) => /retrying/.test(l)).map((l) => /\(attempt \d of \d\)/.exec(l)?.[0]),
        ["(attempt 2 of 3)", "(attempt 3 of 3)"],
      );
    } finally {
      await producer.shutdown();
    }
  });
}

test("a plain send refused with SYSTEM_ERROR (autoBatch off): exactly 1 + retryTimesWhenSendFailed requests", async () => {
  const { topic, producer, requests } = await refusingBroker(false, systemError);
  try {
    await assert.rejects(
      producer.send({ topic, body: "plain" }),
      (err: unknown) => err instanceof BrokerError && err.code === ResponseCode.SYSTEM_ERROR,
    );
    assert.equal(requests(), 3);
  } finally {
    await producer.shutdown();
  }
});

test("a half to a broker that never answers: one request, failed by sendMsgTimeout, no retry after the time is used up", async () => {
  const held: Array<() => void> = [];
  const { topic, producer, requests } = await refusingBroker(
    true,
    () => new Promise<undefined>((resolve) => held.push(() => resolve(undefined))),
    1500,
  );
  try {
    const tx = producer.beginTransaction();
    await assert.rejects(producer.send({ topic, body: "half" }, tx), /timed out|timeout/i);
    assert.equal(requests(), 1, "the first attempt's timeout is the whole sendMsgTimeout");
  } finally {
    for (const release of held) release();
    await producer.shutdown();
  }
});
