import {
  createResponse,
  decodeBatchBody,
  decodeHeader,
  encodeProperties,
  isWriteable,
  MAX_PROPERTIES_BYTES,
  MessageConst,
  MessageSysFlag,
  Perm,
  parseProperties,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
  SendMessageRequestHeader,
  SendMessageRequestHeaderV2,
  sendHeaderFromV2,
  type TopicConfig,
  tagsHashCode,
  toStorableIPv4,
  transactionType,
} from "@tidemq/protocol";
import type { Connection } from "@tidemq/remoting";
import type { MessageInput, PutResult } from "@tidemq/store";
import type { BrokerContext } from "../context.js";
import { RequestQueue } from "../RequestQueue.js";
import type { TopicConfigManager } from "../TopicConfigManager.js";
import { dlqTopic, isNotAllowedSendTopic, isRetryTopic, topicNameProblem } from "../TopicValidator.js";
import { fail } from "./responses.js";

/** MQVersion V3_4_9: from this client version on, header `maxReconsumeTimes` is trusted. */
const V3_4_9 = 121;
/** Most entries one SEND_BATCH_MESSAGE may carry. */
export const MAX_BATCH_ENTRIES = 10_000;

/**
 * SEND_MESSAGE (10), SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320), in Java 4.9.8's
 * order of checks (spec §4.1, §4.2). Validation runs at once; the store put goes through
 * the bounded send queue so an overloaded store sheds load with SYSTEM_BUSY instead of
 * queueing without limit.
 *
 * Not yet: delay levels (`DELAY`) and transaction half messages (`TRAN_MSG`) are stored as
 * ordinary messages, delivered at once — a later issue adds scheduling and transactions.
 */
export class SendMessageProcessor {
  readonly queue: RequestQueue<RemotingCommand>;

  constructor(
    private readonly ctx: BrokerContext,
    private readonly topics: TopicConfigManager,
  ) {
    const c = ctx.config;
    this.queue = new RequestQueue<RemotingCommand>({
      capacity: () => c.sendThreadPoolQueueCapacity,
      maxWaitMs: () => c.waitTimeMillsInSendQueue,
      concurrency: () => c.sendMessageThreadPoolNums,
    });
  }

  private readonly warned = new Set<string>();

  /** Logs a limitation once per key (bounded, so a flood of topics cannot grow it). */
  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key) || this.warned.size >= 1000) return;
    this.warned.add(key);
    this.ctx.logger.warn(message);
  }

  register(): void {
    const handler = (req: RemotingCommand, conn: Connection) => this.process(req, conn);
    this.ctx.server.registerHandler(RequestCode.SEND_MESSAGE, handler);
    this.ctx.server.registerHandler(RequestCode.SEND_MESSAGE_V2, handler);
    this.ctx.server.registerHandler(RequestCode.SEND_BATCH_MESSAGE, handler);
  }

  async process(request: RemotingCommand, conn: Connection): Promise<RemotingCommand> {
    const header =
      request.code === RequestCode.SEND_MESSAGE
        ? decodeHeader(SendMessageRequestHeader, request.extFields, "SEND_MESSAGE")
        : sendHeaderFromV2(decodeHeader(SendMessageRequestHeaderV2, request.extFields, "SEND_MESSAGE_V2"));
    const batch = request.code === RequestCode.SEND_BATCH_MESSAGE || header.batch === true;
    const prepared = await this.prepare(request, header, batch, conn);
    const outcome = await this.queue.submit(() => this.store(request, prepared));
    switch (outcome.kind) {
      case "done":
        return outcome.value;
      case "shed":
        return createResponse(
          request,
          ResponseCode.SYSTEM_BUSY,
          `[TIMEOUT_CLEAN_QUEUE] broker busy: a send waited ${outcome.waitedMs} ms in the send queue (limit waitTimeMillsInSendQueue=${outcome.limitMs} ms); the store is slower than the incoming rate — see flushDiskType and the disk`,
        );
      case "rejected":
        return createResponse(
          request,
          ResponseCode.SYSTEM_BUSY,
          `[REJECTREQUEST] broker busy: the send queue is full (${outcome.queued} waiting, sendThreadPoolQueueCapacity=${outcome.capacity}); the store is slower than the incoming rate — see flushDiskType and the disk`,
        );
    }
  }

  /** Steps 1–7 and 10's size checks of spec §4.1; returns the messages to store. */
  private async prepare(
    request: RemotingCommand,
    header: SendMessageRequestHeader,
    batch: boolean,
    conn: Connection,
  ): Promise<{ inputs: MessageInput[]; topic: TopicConfig; requestedQueueId: number }> {
    const { config } = this.ctx;
    const topicName = header.topic;
    // 1. Broker permission. Java only refuses order topics here and relies on the
    // NameServer route for the rest; a read-only broker refusing every write is clearer.
    if (!isWriteable(config.brokerPermission)) {
      fail(ResponseCode.NO_PERMISSION, `the broker[${config.brokerName}] sending message is forbidden`);
    }
    // 2. Topic name rules.
    const problem = topicNameProblem(topicName);
    if (problem) fail(ResponseCode.SYSTEM_ERROR, problem);
    if (isNotAllowedSendTopic(topicName)) {
      fail(
        ResponseCode.NO_PERMISSION,
        `sending message to topic[${topicName}] is forbidden (a system topic)`,
      );
    }
    // 3. Topic lookup / auto-creation.
    let topic = this.topics.get(topicName);
    if (!topic) {
      if (isRetryTopic(topicName)) {
        // Retry topics are never made from the template: 1 queue, read-write (Java 4.9.8).
        topic = await this.topics.ensureSystemTopic(topicName, 1, Perm.READ | Perm.WRITE);
      } else {
        topic = await this.topics.createTopicInSendMessageMethod(
          topicName,
          header.defaultTopic,
          header.defaultTopicQueueNums,
        );
      }
    }
    if (!topic) {
      fail(
        ResponseCode.TOPIC_NOT_EXIST,
        `topic[${topicName}] not exist on broker ${config.brokerName}, apply first please! (autoCreateTopicEnable=${config.autoCreateTopicEnable})`,
      );
    }
    if (!isWriteable(topic.perm)) {
      fail(
        ResponseCode.NO_PERMISSION,
        `the topic[${topicName}] sending message is forbidden (perm ${topic.perm})`,
      );
    }
    // 4. Queue id.
    const queueMax = Math.max(topic.readQueueNums, topic.writeQueueNums);
    if (header.queueId >= queueMax) {
      fail(
        ResponseCode.SYSTEM_ERROR,
        `request queueId[${header.queueId}] is illegal, ${topicName} has ${queueMax} queues on broker ${config.brokerName}`,
      );
    }
    let queueId = header.queueId < 0 ? randomInt(Math.max(1, topic.writeQueueNums)) : header.queueId;

    const batchProps = parseProperties(header.properties);
    delete batchProps[MessageConst.WAIT_STORE_MSG_OK];
    batchProps[MessageConst.CLUSTER] = config.brokerClusterName;
    const reconsumeTimes = header.reconsumeTimes ?? 0;

    // 5. Retry topics: the group must exist; past the retry limit the message goes to the DLQ.
    let storeTopic = topic;
    if (isRetryTopic(topicName)) {
      if (batch)
        fail(ResponseCode.MESSAGE_ILLEGAL, `batch request does not support retry group ${topicName}`);
      const groupName = topicName.slice("%RETRY%".length);
      const group = this.ctx.subscriptionGroups.findOrCreate(groupName);
      if (!group) {
        fail(ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST, `subscription group not exist, ${groupName}`);
      }
      const maxReconsume =
        request.version >= V3_4_9 && header.maxReconsumeTimes !== undefined
          ? header.maxReconsumeTimes
          : group.retryMaxTimes;
      if (reconsumeTimes >= maxReconsume) {
        storeTopic = await this.topics.ensureSystemTopic(dlqTopic(groupName), 1, Perm.READ | Perm.WRITE);
        queueId = randomInt(Math.max(1, storeTopic.writeQueueNums));
        delete batchProps[MessageConst.DELAY_TIME_LEVEL];
        this.ctx.logger.info(
          `message to ${topicName} reached ${reconsumeTimes} reconsumes (max ${maxReconsume}); stored in ${storeTopic.topicName}`,
        );
      }
    }
    // 6. sysFlag.
    let sysFlag = header.sysFlag;
    if (storeTopic.topicFilterType === "MULTI_TAG") sysFlag |= MessageSysFlag.MULTI_TAGS;
    // 8–9. Transactions and delays are a later issue: such messages are stored as ordinary
    // ones (visible at once) rather than refused, and the log says so once per group/topic.
    if (transactionType(sysFlag) !== 0 || batchProps[MessageConst.TRANSACTION_PREPARED] === "true") {
      sysFlag &= ~MessageSysFlag.TRANSACTION_ROLLBACK_TYPE;
      this.warnOnce(
        `tx:${header.producerGroup}`,
        `transaction message from producer group ${header.producerGroup}: transactions are not supported yet, stored as an ordinary message (delivered at once, END_TRANSACTION is not served)`,
      );
    }
    const delay = Number(batchProps[MessageConst.DELAY_TIME_LEVEL] ?? 0);
    if (
      delay > 0 ||
      batchProps[MessageConst.START_DELIVER_TIME] ||
      batchProps[MessageConst.TIMER_DELIVER_MS]
    ) {
      this.warnOnce(
        `delay:${topicName}`,
        `delayed message to ${topicName}: delivery delays are not supported yet, stored as an ordinary message (delivered at once)`,
      );
    }

    // 7. Build the stored message(s).
    const bornHost = { host: toStorableIPv4(conn.remoteAddress), port: conn.remotePort };
    const body = request.body ?? Buffer.alloc(0);
    if (body.length > config.maxMessageSize) {
      fail(
        ResponseCode.MESSAGE_ILLEGAL,
        `the message body size ${body.length} bytes exceeds maxMessageSize ${config.maxMessageSize} of broker ${config.brokerName}`,
      );
    }
    const base = {
      topic: storeTopic.topicName,
      queueId,
      sysFlag,
      bornTimestamp: header.bornTimestamp,
      bornHost,
      reconsumeTimes,
      preparedTransactionOffset: 0,
    };
    const inputs: MessageInput[] = [];
    if (!batch) {
      checkProperties(batchProps);
      inputs.push({
        ...base,
        flag: header.flag,
        body,
        properties: batchProps,
        tagsCode: tagsHashCode(batchProps.TAGS),
      });
    } else {
      if (topicName.length > 127)
        fail(ResponseCode.MESSAGE_ILLEGAL, `batch topic ${topicName} is longer than 127`);
      const entries = decodeBatchBody(body);
      if (entries.length === 0) fail(ResponseCode.MESSAGE_ILLEGAL, "the batch is empty");
      if (entries.length > MAX_BATCH_ENTRIES) {
        fail(
          ResponseCode.MESSAGE_ILLEGAL,
          `the batch has ${entries.length} messages; at most ${MAX_BATCH_ENTRIES}`,
        );
      }
      for (const e of entries) {
        const props = { ...e.properties, ...batchProps };
        delete props[MessageConst.WAIT_STORE_MSG_OK];
        if (props[MessageConst.DELAY_TIME_LEVEL] && Number(props[MessageConst.DELAY_TIME_LEVEL]) > 0) {
          fail(ResponseCode.MESSAGE_ILLEGAL, "a batch message cannot carry a delay level");
        }
        checkProperties(props);
        inputs.push({
          ...base,
          flag: e.flag,
          body: e.body,
          properties: props,
          tagsCode: tagsHashCode(props.TAGS),
        });
      }
    }
    return { inputs, topic: storeTopic, requestedQueueId: queueId };
  }

  /** Step 10: the put, and the response RocketMQ clients read (msgId = offsetMsgId). */
  private async store(
    request: RemotingCommand,
    p: { inputs: MessageInput[]; topic: TopicConfig; requestedQueueId: number },
  ): Promise<RemotingCommand> {
    const { config } = this.ctx;
    const result: PutResult =
      p.inputs.length === 1 && request.code !== RequestCode.SEND_BATCH_MESSAGE
        ? await this.ctx.store.putMessage(p.inputs[0]!)
        : await this.ctx.store.putMessages(p.inputs);
    let bytes = 0;
    for (const m of p.inputs) bytes += m.body.length;
    this.ctx.stats.recordPut(result.count, bytes);
    const code =
      result.status === "FLUSH_DISK_TIMEOUT" ? ResponseCode.FLUSH_DISK_TIMEOUT : ResponseCode.SUCCESS;
    return createResponse(request, code, code === ResponseCode.SUCCESS ? undefined : "flush disk timeout", {
      msgId: result.msgIds.join(","),
      queueId: p.requestedQueueId,
      queueOffset: result.queueOffset,
      MSG_REGION: config.regionId,
      TRACE_ON: String(config.traceOn),
    });
  }
}

function checkProperties(props: Record<string, string>): void {
  const len = Buffer.byteLength(encodeProperties(props), "utf8");
  if (len > MAX_PROPERTIES_BYTES) {
    fail(
      ResponseCode.MESSAGE_ILLEGAL,
      `the message properties take ${len} bytes; at most ${MAX_PROPERTIES_BYTES}`,
    );
  }
}

function randomInt(n: number): number {
  return Math.floor(Math.random() * n);
}
