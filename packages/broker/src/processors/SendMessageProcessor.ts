import {
  createResponse,
  decodeBatchBody,
  decodeHeader,
  decodeSendMessageHeaderV2,
  encodeProperties,
  FLAG_RESPONSE,
  isWriteable,
  MAX_PROPERTIES_BYTES,
  MessageConst,
  MessageSysFlag,
  NAME_VALUE_SEPARATOR,
  Perm,
  PROPERTY_SEPARATOR,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
  SendMessageRequestHeader,
  setOwn,
  TIDEMQ_VERSION,
  type TopicConfig,
  tagsHashCode,
  toStorableIPv4,
  transactionType,
} from "@tidemq/protocol";
import type { Connection } from "@tidemq/remoting";
import type { MessageInput } from "@tidemq/store";
import type { BrokerContext } from "../context.js";
import { RequestQueue } from "../RequestQueue.js";
import { maxReconsumeTimes } from "../SubscriptionGroupManager.js";
import type { TopicConfigManager } from "../TopicConfigManager.js";
import {
  dlqTopic,
  isNotAllowedSendTopic,
  isRetryTopic,
  RETRY_GROUP_TOPIC_PREFIX,
  topicNameProblem,
} from "../TopicValidator.js";
import { PutCoalescer } from "./PutCoalescer.js";
import { fail } from "./responses.js";

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
  private readonly coalescer: PutCoalescer;
  /** Limitations already logged (warnOnce). */
  private readonly warned = new Set<string>();
  /** Topic names that passed the name checks (bounded). */
  private readonly sendableNames = new Set<string>();
  private readonly bornHosts = new WeakMap<Connection, { host: string; port: number }>();
  /** TAGS → tags hash code (bounded). */
  private readonly tagCodes = new Map<string, number>();

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
    this.coalescer = new PutCoalescer(ctx.store);
  }

  /**
   * Steps 6 (sysFlag) and 8–9. Transactions and delays are a later issue: such messages are
   * stored as ordinary ones (visible at once) rather than refused, and the log says so
   * once per group/topic.
   */
  private storedSysFlag(
    header: SendMessageRequestHeader,
    storeTopic: TopicConfig,
    batchProps: Record<string, string>,
  ): number {
    let sysFlag = header.sysFlag;
    if (storeTopic.topicFilterType === "MULTI_TAG") sysFlag |= MessageSysFlag.MULTI_TAGS;
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
        `delay:${header.topic}`,
        `delayed message to ${header.topic}: delivery delays are not supported yet, stored as an ordinary message (delivered at once)`,
      );
    }
    return sysFlag;
  }

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

  /**
   * Synchronous up to the store put when the topic exists (the common case): every send of
   * a socket chunk reaches the PutCoalescer in the same turn and becomes one append.
   */
  process(request: RemotingCommand, conn: Connection): Promise<RemotingCommand> {
    const header =
      request.code === RequestCode.SEND_MESSAGE
        ? decodeHeader(SendMessageRequestHeader, request.extFields, "SEND_MESSAGE")
        : decodeSendMessageHeaderV2(request.extFields);
    const batch = request.code === RequestCode.SEND_BATCH_MESSAGE || header.batch === true;
    const prepared = this.prepare(request, header, batch, conn);
    if (prepared instanceof Promise) return prepared.then((p) => this.enqueue(request, p));
    return this.enqueue(request, prepared);
  }

  private enqueue(request: RemotingCommand, prepared: Prepared): Promise<RemotingCommand> {
    return this.queue
      .submit(() => this.store(request, prepared))
      .then((outcome) => {
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
      });
  }

  /** Steps 1–7 and 10's size checks of spec §4.1; returns the messages to store. */
  private prepare(
    request: RemotingCommand,
    header: SendMessageRequestHeader,
    batch: boolean,
    conn: Connection,
  ): Prepared | Promise<Prepared> {
    const { config } = this.ctx;
    const topicName = header.topic;
    // 1. Broker permission. Java only refuses order topics here and relies on the
    // NameServer route for the rest; a read-only broker refusing every write is clearer.
    if (!isWriteable(config.brokerPermission)) {
      fail(ResponseCode.NO_PERMISSION, `the broker[${config.brokerName}] sending message is forbidden`);
    }
    // 2. Topic name rules (a name that passed once passes again: remembered, bounded).
    if (!this.sendableNames.has(topicName)) {
      const problem = topicNameProblem(topicName);
      if (problem) fail(ResponseCode.SYSTEM_ERROR, problem);
      if (isNotAllowedSendTopic(topicName)) {
        fail(
          ResponseCode.NO_PERMISSION,
          `sending message to topic[${topicName}] is forbidden (a system topic)`,
        );
      }
      if (this.sendableNames.size >= 10_000) this.sendableNames.clear();
      this.sendableNames.add(topicName);
    }
    // 3. Topic lookup / auto-creation (the only step that may wait).
    const known = this.topics.get(topicName);
    if (known) return this.prepareFor(request, header, batch, conn, known);
    const creating = isRetryTopic(topicName)
      ? // Retry topics are never made from the template: 1 queue, read-write (Java 4.9.8).
        this.topics.ensureSystemTopic(topicName, 1, Perm.READ | Perm.WRITE)
      : this.topics.createTopicInSendMessageMethod(
          topicName,
          header.defaultTopic,
          header.defaultTopicQueueNums,
        );
    return Promise.resolve(creating).then((topic) => this.prepareFor(request, header, batch, conn, topic));
  }

  private prepareFor(
    request: RemotingCommand,
    header: SendMessageRequestHeader,
    batch: boolean,
    conn: Connection,
    topic: TopicConfig | undefined,
  ): Prepared | Promise<Prepared> {
    const { config } = this.ctx;
    const topicName = header.topic;
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
    const queueId = header.queueId < 0 ? randomInt(Math.max(1, topic.writeQueueNums)) : header.queueId;

    const batchProps = storedProperties(header.properties, config.brokerClusterName);

    // 5. Retry topics: the group must exist; past the retry limit the message goes to the DLQ.
    if (isRetryTopic(topicName)) {
      if (batch)
        fail(ResponseCode.MESSAGE_ILLEGAL, `batch request does not support retry group ${topicName}`);
      const groupName = topicName.slice(RETRY_GROUP_TOPIC_PREFIX.length);
      const reconsumeTimes = header.reconsumeTimes ?? 0;
      const group = this.ctx.subscriptionGroups.findOrCreate(groupName);
      if (!group) {
        fail(ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST, `subscription group not exist, ${groupName}`);
      }
      const maxReconsume = maxReconsumeTimes(request.version, header.maxReconsumeTimes, group);
      if (reconsumeTimes >= maxReconsume) {
        delete batchProps[MessageConst.DELAY_TIME_LEVEL];
        return Promise.resolve(
          this.topics.ensureSystemTopic(dlqTopic(groupName), 1, Perm.READ | Perm.WRITE),
        ).then((dlq) => {
          this.ctx.logger.info(
            `message to ${topicName} reached ${reconsumeTimes} reconsumes (max ${maxReconsume}); stored in ${dlq.topicName}`,
          );
          return this.build(
            request,
            header,
            batch,
            conn,
            dlq,
            randomInt(Math.max(1, dlq.writeQueueNums)),
            batchProps,
          );
        });
      }
    }
    return this.build(request, header, batch, conn, topic, queueId, batchProps);
  }

  /** Steps 6–9: sysFlag (storedSysFlag) and the stored message(s). */
  private build(
    request: RemotingCommand,
    header: SendMessageRequestHeader,
    batch: boolean,
    conn: Connection,
    storeTopic: TopicConfig,
    queueId: number,
    batchProps: Record<string, string>,
  ): Prepared {
    const { config } = this.ctx;
    const reconsumeTimes = header.reconsumeTimes ?? 0;
    const sysFlag = this.storedSysFlag(header, storeTopic, batchProps);

    // 7. Build the stored message(s).
    const bornHost = this.bornHostOf(conn);
    const body = request.body ?? Buffer.alloc(0);
    if (body.length > config.maxMessageSize) {
      fail(
        ResponseCode.MESSAGE_ILLEGAL,
        `the message body size ${body.length} bytes exceeds maxMessageSize ${config.maxMessageSize} of broker ${config.brokerName}`,
      );
    }
    const topic = storeTopic.topicName;
    const bornTimestamp = header.bornTimestamp;
    const inputs: MessageInput[] = [];
    if (!batch) {
      // The properties string came in under the frame limit; re-encoded with CLUSTER added it
      // is at most 3 UTF-8 bytes a char: skip the exact count when even that fits.
      const bound = 3 * ((header.properties?.length ?? 0) + config.brokerClusterName.length + 16);
      if (bound > MAX_PROPERTIES_BYTES) checkProperties(batchProps);
      // One literal shape for every MessageInput (the store reads them in a hot loop).
      inputs.push({
        topic,
        queueId,
        flag: header.flag,
        body,
        properties: batchProps,
        sysFlag,
        bornTimestamp,
        bornHost,
        reconsumeTimes,
        preparedTransactionOffset: 0,
        tagsCode: this.tagsCode(batchProps.TAGS),
      });
    } else {
      const entries = decodeBatchBody(body);
      if (entries.length === 0) fail(ResponseCode.MESSAGE_ILLEGAL, "the batch is empty");
      if (entries.length > MAX_BATCH_ENTRIES) {
        fail(
          ResponseCode.MESSAGE_ILLEGAL,
          `the batch has ${entries.length} messages; at most ${MAX_BATCH_ENTRIES}`,
        );
      }
      for (const e of entries) {
        const props = batchEntryProperties(e.properties, batchProps);
        inputs.push({
          topic,
          queueId,
          flag: e.flag,
          body: e.body,
          properties: props,
          sysFlag,
          bornTimestamp,
          bornHost,
          reconsumeTimes,
          preparedTransactionOffset: 0,
          tagsCode: this.tagsCode(props.TAGS),
        });
      }
    }
    return { inputs, requestedQueueId: queueId };
  }

  /** The connection's address as stored (IPv4), worked out once per connection. */
  private bornHostOf(conn: Connection): { host: string; port: number } {
    let h = this.bornHosts.get(conn);
    if (!h) {
      h = { host: toStorableIPv4(conn.remoteAddress), port: conn.remotePort };
      this.bornHosts.set(conn, h);
    }
    return h;
  }

  private tagsCode(tags: string | undefined): number {
    if (!tags) return 0;
    let c = this.tagCodes.get(tags);
    if (c === undefined) {
      c = tagsHashCode(tags);
      if (this.tagCodes.size >= 4096) this.tagCodes.clear();
      this.tagCodes.set(tags, c);
    }
    return c;
  }

  /** Step 10: the put, and the response RocketMQ clients read (msgId = offsetMsgId). */
  private store(request: RemotingCommand, p: Prepared): Promise<RemotingCommand> {
    return this.coalescer.put(p.inputs).then((result) => {
      const { config } = this.ctx;
      this.ctx.stats.recordPut(result.count);
      const code =
        result.status === "FLUSH_DISK_TIMEOUT" ? ResponseCode.FLUSH_DISK_TIMEOUT : ResponseCode.SUCCESS;
      // Built directly (ext fields already strings): this runs once per message.
      return {
        code,
        language: "JAVA",
        version: TIDEMQ_VERSION,
        opaque: request.opaque,
        flag: FLAG_RESPONSE,
        remark: code === ResponseCode.SUCCESS ? undefined : "flush disk timeout",
        extFields: {
          msgId: result.msgIds.length === 1 ? result.msgIds[0]! : result.msgIds.join(","),
          queueId: String(p.requestedQueueId),
          queueOffset: String(result.queueOffset),
          MSG_REGION: config.regionId,
          TRACE_ON: String(config.traceOn),
        },
        serializeType: request.serializeType,
      };
    });
  }
}

/**
 * The request's properties as stored: parsed as parseProperties does, without WAIT, with
 * CLUSTER set to this cluster (in place when the producer sent one, else appended).
 */
function storedProperties(text: string | undefined, cluster: string): Record<string, string> {
  const out: Record<string, string> = {};
  let sawCluster = false;
  if (text) {
    let start = 0;
    while (start <= text.length) {
      let end = text.indexOf(PROPERTY_SEPARATOR, start);
      if (end < 0) end = text.length;
      if (end > start) {
        const i = text.indexOf(NAME_VALUE_SEPARATOR, start);
        if (i > start && i < end) {
          const name = text.slice(start, i);
          if (name === MessageConst.CLUSTER) {
            sawCluster = true;
            out[name] = cluster;
          } else if (name !== MessageConst.WAIT_STORE_MSG_OK) {
            setOwn(out, name, text.slice(i + 1, end));
          }
        }
      }
      start = end + 1;
    }
  }
  if (!sawCluster) out[MessageConst.CLUSTER] = cluster;
  return out;
}

/**
 * A batch entry's stored properties: the entry's, then the request's (which win), without
 * WAIT; built by assignment, not spread + delete (delete leaves a slow dictionary-mode object).
 */
function batchEntryProperties(
  entry: Record<string, string>,
  batchProps: Record<string, string>,
): Record<string, string> {
  const props: Record<string, string> = {};
  for (const k in entry) {
    if (k !== MessageConst.WAIT_STORE_MSG_OK && Object.hasOwn(entry, k)) setOwn(props, k, entry[k]!);
  }
  for (const k in batchProps) setOwn(props, k, batchProps[k]!);
  if (props[MessageConst.DELAY_TIME_LEVEL] && Number(props[MessageConst.DELAY_TIME_LEVEL]) > 0) {
    fail(ResponseCode.MESSAGE_ILLEGAL, "a batch message cannot carry a delay level");
  }
  if (propertiesBound(props) > MAX_PROPERTIES_BYTES) checkProperties(props);
  return props;
}

/** An upper bound of the UTF-8 bytes encodeProperties would produce (3 bytes a UTF-16 unit). */
function propertiesBound(props: Record<string, string>): number {
  let n = 0;
  for (const k in props) n += k.length + (props[k]?.length ?? 0) + 2;
  return 3 * n;
}

interface Prepared {
  inputs: MessageInput[];
  requestedQueueId: number;
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
