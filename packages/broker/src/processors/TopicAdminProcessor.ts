import {
  CreateTopicRequestHeader,
  createResponse,
  DeleteTopicRequestHeader,
  decodeHeader,
  encodeJson,
  encodeObjectKeyMap,
  GetTopicStatsInfoRequestHeader,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
  type TopicConfig,
} from "@tidemq/protocol";
import type { BrokerContext } from "../context.js";
import { refuseMetadataChangeOnSlave } from "../ha/slaveGuard.js";
import type { TopicConfigManager } from "../TopicConfigManager.js";
import { isSystemTopic, topicNameProblem } from "../TopicValidator.js";
import { fail } from "./responses.js";

/** Most queues one topic may have on one broker (RocketMQ's BenchmarkTest uses 1024). */
export const MAX_QUEUE_NUMS = 1024;

/**
 * Topic administration on the broker (spec §6.1–6.3): UPDATE_AND_CREATE_TOPIC (17),
 * DELETE_TOPIC_IN_BROKER (215), GET_ALL_TOPIC_CONFIG (21), GET_TOPIC_STATS_INFO (202).
 */
export class TopicAdminProcessor {
  constructor(
    private readonly ctx: BrokerContext,
    private readonly topics: TopicConfigManager,
  ) {}

  register(): void {
    const s = this.ctx.server;
    s.registerHandler(RequestCode.UPDATE_AND_CREATE_TOPIC, (r) => this.updateAndCreateTopic(r));
    s.registerHandler(RequestCode.DELETE_TOPIC_IN_BROKER, (r) => this.deleteTopic(r));
    s.registerHandler(RequestCode.GET_ALL_TOPIC_CONFIG, (r) => this.getAllTopicConfig(r));
    s.registerHandler(RequestCode.GET_TOPIC_STATS_INFO, (r) => this.getTopicStatsInfo(r));
  }

  async updateAndCreateTopic(request: RemotingCommand): Promise<RemotingCommand> {
    const h = decodeHeader(CreateTopicRequestHeader, request.extFields, "UPDATE_AND_CREATE_TOPIC");
    if (this.ctx.config.brokerRole === "SLAVE") {
      fail(
        ResponseCode.NO_PERMISSION,
        "a slave broker does not accept topic changes; send them to the master",
      );
    }
    const problem = topicNameProblem(h.topic);
    if (problem) fail(ResponseCode.SYSTEM_ERROR, problem);
    if (isSystemTopic(h.topic))
      fail(ResponseCode.SYSTEM_ERROR, `The topic[${h.topic}] is conflict with system topic.`);
    for (const [name, v] of [
      ["readQueueNums", h.readQueueNums],
      ["writeQueueNums", h.writeQueueNums],
    ] as const) {
      if (v < 0 || v > MAX_QUEUE_NUMS)
        fail(ResponseCode.SYSTEM_ERROR, `${name} ${v} is outside 0..${MAX_QUEUE_NUMS}`);
    }
    if (h.readQueueNums === 0 && h.writeQueueNums === 0) {
      fail(ResponseCode.SYSTEM_ERROR, "a topic needs at least one read or write queue");
    }
    if (h.perm < 0 || h.perm > 15)
      fail(ResponseCode.SYSTEM_ERROR, `perm ${h.perm} is not a permission (0..15)`);
    const tc: TopicConfig = {
      topicName: h.topic,
      readQueueNums: h.readQueueNums,
      writeQueueNums: h.writeQueueNums,
      perm: h.perm,
      topicFilterType: h.topicFilterType === "MULTI_TAG" ? "MULTI_TAG" : "SINGLE_TAG",
      topicSysFlag: h.topicSysFlag ?? 0,
      order: h.order,
    };
    await this.topics.upsert(tc);
    this.ctx.logger.info(
      `topic ${tc.topicName} created/updated: ${tc.readQueueNums} read / ${tc.writeQueueNums} write queues, perm ${tc.perm}${tc.order ? ", order" : ""}`,
      { topic: tc.topicName },
    );
    return createResponse(request, ResponseCode.SUCCESS);
  }

  async deleteTopic(request: RemotingCommand): Promise<RemotingCommand> {
    refuseMetadataChangeOnSlave(this.ctx.config, "DELETE_TOPIC_IN_BROKER");
    const h = decodeHeader(DeleteTopicRequestHeader, request.extFields, "DELETE_TOPIC_IN_BROKER");
    if (isSystemTopic(h.topic))
      fail(ResponseCode.SYSTEM_ERROR, `The topic[${h.topic}] is conflict with system topic.`);
    await this.topics.delete(h.topic);
    // 4.9.8 keeps the consumer offsets of a deleted topic; only its queues go.
    await this.ctx.store.deleteTopics([h.topic]);
    this.ctx.logger.info(`topic ${h.topic} deleted`, { topic: h.topic });
    return createResponse(request, ResponseCode.SUCCESS);
  }

  getAllTopicConfig(request: RemotingCommand): RemotingCommand {
    return createResponse(
      request,
      ResponseCode.SUCCESS,
      undefined,
      undefined,
      encodeJson(this.topics.wrapper()),
    );
  }

  async getTopicStatsInfo(request: RemotingCommand): Promise<RemotingCommand> {
    const h = decodeHeader(GetTopicStatsInfoRequestHeader, request.extFields, "GET_TOPIC_STATS_INFO");
    const tc = this.topics.get(h.topic);
    if (!tc) fail(ResponseCode.TOPIC_NOT_EXIST, `topic[${h.topic}] not exist`);
    const store = this.ctx.store;
    const entries: Array<[object, unknown]> = [];
    for (let queueId = 0; queueId < tc.writeQueueNums; queueId++) {
      const minOffset = Math.max(0, store.getMinOffsetInQueue(h.topic, queueId));
      const maxOffset = Math.max(0, store.getMaxOffsetInQueue(h.topic, queueId));
      const lastUpdateTimestamp =
        maxOffset > 0
          ? Math.max(0, await store.getMessageStoreTimestamp(h.topic, queueId, maxOffset - 1))
          : 0;
      entries.push([
        { brokerName: this.ctx.config.brokerName, queueId, topic: h.topic },
        { minOffset, maxOffset, lastUpdateTimestamp },
      ]);
    }
    const body = Buffer.from(`{"offsetTable":${encodeObjectKeyMap(entries)}}`, "utf8");
    return createResponse(request, ResponseCode.SUCCESS, undefined, undefined, body);
  }
}
