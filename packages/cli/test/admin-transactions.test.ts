/**
 * `tidemq admin` and transactional messages: transactionStatus counts pending halves, and
 * queryMsgById tells a transactional message's state (half pending, committed, rolled back).
 * The real executable as child processes, against a NameServer and broker in this process.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Admin, Producer } from "@tidemq/client";
import { createLogger } from "@tidemq/remoting";
import { startTestCluster, type TestCluster } from "./cluster.js";
import { adminOk } from "./runAdmin.js";

let tc: TestCluster;
let brokerAddr: string;
const logger = createLogger("test", "error");

before(async () => {
  tc = await startTestCluster("tidemq-admin-tx-");
  brokerAddr = tc.broker.brokerAddr;
});
after(async () => {
  await tc?.stop();
});

const admin = (args: string[]): Promise<string> => adminOk(tc.nsAddr, args, tc.children);

test("transactionStatus and queryMsgById follow a half from pending to committed or rolled back", async () => {
  const topic = `AdminTx_${process.pid}`;
  const a = new Admin({ endpoints: tc.nsAddr, logger });
  await a.createTopic({ topic, brokerAddr, readQueueNums: 2, writeQueueNums: 2 });
  await a.shutdown();
  const p = new Producer({ endpoints: tc.nsAddr, producerGroup: "AdminTxP", topic, logger });
  await p.startup();
  try {
    const tx1 = p.beginTransaction();
    const h1 = await p.send({ topic, keys: ["o-1"], body: "one" }, tx1);
    const tx2 = p.beginTransaction();
    const h2 = await p.send({ topic, keys: ["o-2"], body: "two" }, tx2);

    const status = JSON.parse(await admin(["transactionStatus", "-b", brokerAddr, "--json"]));
    assert.equal(status.pending, 2);
    assert.deepEqual(status.byGroup, { AdminTxP: 2 });
    assert.ok(status.oldestStoreTimestamp > 0 && status.oldestStoreTimestamp <= Date.now());
    const table = await admin(["transactionStatus", "-c", tc.cluster]);
    assert.match(table, /#Pending Halves/);
    assert.match(table, /AdminTxP:2/);

    // By client id (with -t) and by the half's offset id: pending.
    assert.match(await admin(["queryMsgById", "-t", topic, "-i", h1.messageId]), /Transaction: half pending/);
    assert.match(await admin(["queryMsgById", "-i", h1.offsetMessageId]), /Transaction: half pending/);

    await tx1.commit();
    await tx2.rollback();
    const committed = JSON.parse(await admin(["queryMsgById", "-t", topic, "-i", h1.messageId, "--json"]));
    assert.equal(committed.transaction.state, "committed");
    assert.equal(committed.topic, topic);
    assert.match(await admin(["queryMsgById", "-t", topic, "-i", h2.messageId]), /Transaction: rolled back/);
    assert.match(await admin(["queryMsgById", "-i", h1.offsetMessageId]), /Transaction: committed/);
    assert.equal(JSON.parse(await admin(["transactionStatus", "-b", brokerAddr, "--json"])).pending, 0);
  } finally {
    await p.shutdown();
  }
});
