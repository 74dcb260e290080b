/**
 * A commit piggybacked on a pull never moves the group's offset back: a pull that waited in
 * the pull queue carries the offset of when it was sent and must not undo a newer explicit
 * commit (the orderly hand-over commits, unlocks, and the next owner starts from that commit).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createRequest, PullSysFlag, RequestCode, ResponseCode } from "@tidemq/protocol";
import { type BrokerUnderTest, createTopicRequest, openBroker, pullRequest } from "./helpers.js";

let t: BrokerUnderTest | undefined;
before(async () => {
  t = await openBroker("broker-pullcommit");
});
after(() => t?.close());

test("a pull's piggybacked commit only moves an offset forward; an explicit update may move it back", async () => {
  const { client, addr } = t!;
  await client.invoke(addr, createTopicRequest("T_PC", 1));
  const update = (offset: number) =>
    client.invoke(
      addr,
      createRequest(RequestCode.UPDATE_CONSUMER_OFFSET, {
        consumerGroup: "CG_PC",
        topic: "T_PC",
        queueId: 0,
        commitOffset: offset,
      }),
    );
  const query = async () => {
    const res = await client.invoke(
      addr,
      createRequest(RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: "CG_PC", topic: "T_PC", queueId: 0 }),
    );
    return Number(res.extFields?.offset);
  };
  const pullCommitting = (offset: number) =>
    client.invoke(
      addr,
      pullRequest("T_PC", 0, 0, {
        group: "CG_PC",
        sysFlag: PullSysFlag.SUBSCRIPTION | PullSysFlag.COMMIT_OFFSET,
        commitOffset: offset,
      }),
    );
  assert.equal((await update(10)).code, ResponseCode.SUCCESS);
  await pullCommitting(5);
  assert.equal(await query(), 10, "a stale pull does not move the offset back");
  await pullCommitting(12);
  assert.equal(await query(), 12);
  await update(3);
  assert.equal(await query(), 3, "an explicit update (a reset) may move it back");
});
