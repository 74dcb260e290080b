/**
 * Offset administration: a queue's offset range and the offset stored at a time, a group's
 * committed offset of a queue (read and set), and resetting a group's offsets of a topic to
 * a time (mqadmin resetOffsetByTime), with the old per-queue procedure as its fallback.
 */
import { type MessageQueue, RequestCode, ResponseCode } from "@tidemq/protocol";
import { BrokerAdmin } from "./BrokerAdmin.js";
import { objectKeyMapField } from "./bodies.js";
import { BrokerError } from "./errors.js";
import { compareQueues } from "./MessageQueue.js";

export interface ResetOffsetEntry {
  mq: MessageQueue;
  /** The group's committed offset of `mq` after the reset. */
  offset: number;
}

/** Offsets: queue offsets, committed offsets, reset by time. */
export class OffsetAdmin extends BrokerAdmin {
  /** Sets a group's committed offset of one queue (the group's consumers should be offline). */
  async updateConsumerOffset(
    brokerAddr: string,
    consumerGroup: string,
    mq: MessageQueue,
    offset: number,
  ): Promise<void> {
    await this.api.updateConsumerOffset(brokerAddr, consumerGroup, mq, offset);
  }

  async queryConsumerOffset(brokerAddr: string, consumerGroup: string, mq: MessageQueue): Promise<number> {
    return this.api.queryConsumerOffset(brokerAddr, consumerGroup, mq);
  }

  /**
   * Resets a group's offsets of a topic to the first message stored at or after `timestamp`
   * (−1 = the end) on every master of the topic (mqadmin resetOffsetByTime, spec §6.7):
   * INVOKE_BROKER_TO_RESET_OFFSET (222), after which online consumers move at once. Without
   * `isForce` an offset only moves backwards. When a broker answers CONSUMER_NOT_ONLINE, or
   * refuses because some queue has no committed offset (RocketMQ 4.9 refuses the whole
   * reset then), the old procedure runs on that broker instead, as long as the group has an
   * offset on one of its queues: see resetQueuesOnBroker. Returns the new offsets, sorted.
   */
  async resetOffsetByTime(
    consumerGroup: string,
    topic: string,
    timestamp: number,
    isForce = true,
  ): Promise<ResetOffsetEntry[]> {
    const route = await this.getTopicRoute(topic);
    const out: ResetOffsetEntry[] = [];
    for (const bd of route.brokerDatas) {
      const addr = bd.brokerAddrs["0"];
      if (!addr) continue;
      const res = await this.api.call(
        addr,
        RequestCode.INVOKE_BROKER_TO_RESET_OFFSET,
        { topic, group: consumerGroup, timestamp, isForce },
        undefined,
        { ok: [ResponseCode.SUCCESS, ResponseCode.CONSUMER_NOT_ONLINE, ResponseCode.SYSTEM_ERROR] },
      );
      if (res.code === ResponseCode.SUCCESS) {
        for (const [mq, offset] of objectKeyMapField<number>(
          res.body?.toString("utf8") ?? "{}",
          "offsetTable",
        )) {
          out.push({ mq, offset });
        }
        continue;
      }
      // SYSTEM_ERROR "…group … not exist": some queue has no committed offset (the group
      // never consumed it). The per-queue procedure handles that; other errors stand.
      const refusal = new BrokerError(res.code, res.remark, addr, "INVOKE_BROKER_TO_RESET_OFFSET");
      if (res.code === ResponseCode.SYSTEM_ERROR && !/not exist/i.test(res.remark ?? "")) throw refusal;
      const writeQueueNums =
        route.queueDatas.find((q) => q.brokerName === bd.brokerName)?.writeQueueNums ?? 0;
      const queues = Array.from({ length: writeQueueNums }, (_, queueId) => ({
        topic,
        brokerName: bd.brokerName,
        queueId,
      }));
      out.push(...(await this.resetQueuesOnBroker(addr, consumerGroup, queues, timestamp, isForce, refusal)));
    }
    return out.sort((a, b) => compareQueues(a.mq, b.mq));
  }

  /**
   * The old reset procedure on one broker: per queue SEARCH_OFFSET_BY_TIMESTAMP (or
   * GET_MAX_OFFSET for −1) and UPDATE_CONSUMER_OFFSET. A group with no offset at all on the
   * broker is not one to reset (nor to create): `refusal` is thrown then.
   */
  private async resetQueuesOnBroker(
    addr: string,
    consumerGroup: string,
    queues: MessageQueue[],
    timestamp: number,
    isForce: boolean,
    refusal: Error,
  ): Promise<ResetOffsetEntry[]> {
    const committed: number[] = [];
    for (const mq of queues) committed.push(await this.queryConsumerOffset(addr, consumerGroup, mq));
    if (committed.every((c) => c < 0)) throw refusal;
    const out: ResetOffsetEntry[] = [];
    for (const [i, mq] of queues.entries()) {
      const target = Math.max(
        0,
        timestamp === -1 ? await this.getMaxOffset(addr, mq) : await this.searchOffset(addr, mq, timestamp),
      );
      // As Java's old procedure, a queue without a committed offset counts as offset 0.
      const current = Math.max(0, committed[i]!);
      const offset = isForce || target < current ? target : current;
      await this.updateConsumerOffset(addr, consumerGroup, mq, offset);
      out.push({ mq, offset });
    }
    return out;
  }

  async getMaxOffset(brokerAddr: string, mq: MessageQueue): Promise<number> {
    return this.api.getMaxOffset(brokerAddr, mq);
  }

  async getMinOffset(brokerAddr: string, mq: MessageQueue): Promise<number> {
    return this.api.getMinOffset(brokerAddr, mq);
  }

  async searchOffset(brokerAddr: string, mq: MessageQueue, timestamp: number): Promise<number> {
    return this.api.searchOffset(brokerAddr, mq, timestamp);
  }
}
