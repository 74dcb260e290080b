import {
  createResponse,
  decodeHeader,
  decodeSendMessageHeaderV2,
  isWriteable,
  MessageConst,
  Perm,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
  SendMessageRequestHeader,
  type TopicConfig,
} from "@tidemq/protocol";
import type { Connection } from "@tidemq/remoting";
import type { MessageInput, PutResult } from "@tidemq/store";
import type { BrokerContext } from "../context.js";
import type { DuplicateDetector, OriginalSend } from "../dedup/DuplicateDetector.js";
import { recordOffsets } from "../dedup/RecordOffsets.js";
import { type QueueOutcome, RequestQueue } from "../RequestQueue.js";
import { maxReconsumeTimes } from "../SubscriptionGroupManager.js";
import type { TopicConfigManager } from "../TopicConfigManager.js";
import {
  dlqTopic,
  isNotAllowedSendTopic,
  isRetryTopic,
  RETRY_GROUP_TOPIC_PREFIX,
  topicNameProblem,
} from "../TopicValidator.js";
import type { StoredHalves } from "../transaction/HalfBatch.js";
import type { HalfSendBase, HalfTopic } from "../transaction/HalfInput.js";
import { type HalfFacts, halfMessage } from "../transaction/HalfMessage.js";
import { recentHalvesOf } from "../transaction/RecentHalves.js";
import { PutCoalescer } from "./PutCoalescer.js";
import { fail } from "./responses.js";
import { type Prepared, SendInputBuilder, storedProperties } from "./SendInputBuilder.js";

/**
 * SEND_MESSAGE (10), SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320), in Java 4.9.8's
 * order of checks (spec §4.1, §4.2). Validation runs at once; the store put goes through
 * the bounded send queue so an overloaded store sheds load with SYSTEM_BUSY instead of
 * queueing without limit.
 *
 * Transaction half messages (`TRAN_MSG`) go to RMQ_SYS_TRANS_HALF_TOPIC (transaction/HalfMessage),
 * timer messages to the timer topic (timer/timerSend), delay levels (`DELAY`) to
 * SCHEDULE_TOPIC_XXXX (schedule/DelayLevelRouter), in that order of precedence.
 */
export class SendMessageProcessor {
  readonly queue: RequestQueue<RemotingCommand>;
  private readonly coalescer: PutCoalescer;
  private readonly inputs: SendInputBuilder;
  /** Topic names that passed the name checks (bounded). */
  private readonly sendableNames = new Set<string>();
  /** What SEND_HALF_BATCH's HalfInput needs of a topic, by its config. */
  private readonly halfTopics = new WeakMap<TopicConfig, HalfTopic>();

  constructor(
    private readonly ctx: BrokerContext,
    private readonly topics: TopicConfigManager,
    /** Producer de-duplication (duplicateDetectionEnable), if on. */
    private readonly dedup?: DuplicateDetector,
  ) {
    const c = ctx.config;
    this.queue = new RequestQueue<RemotingCommand>({
      capacity: () => c.sendThreadPoolQueueCapacity,
      maxWaitMs: () => c.waitTimeMillsInSendQueue,
      concurrency: () => c.sendMessageThreadPoolNums,
      shareSlotPerTurn: true,
    });
    this.coalescer = new PutCoalescer(ctx.store);
    this.inputs = new SendInputBuilder(ctx);
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
    return this.processDecoded(request, header, conn);
  }

  /** A send whose header is already decoded (SEND_HALF_BATCH's entries: transaction/HalfBatch). */
  processDecoded(
    request: RemotingCommand,
    header: SendMessageRequestHeader,
    conn: Connection,
  ): Promise<RemotingCommand> {
    const t0 = this.ctx.traffic?.startSendTiming() ?? -1;
    const batch = request.code === RequestCode.SEND_BATCH_MESSAGE || header.batch === true;
    const prepared = this.prepare(request, header, batch, conn);
    if (prepared instanceof Promise) return prepared.then((p) => this.enqueue(request, p, t0));
    return this.enqueue(request, prepared, t0);
  }

  private enqueue(request: RemotingCommand, prepared: Prepared, t0: number): Promise<RemotingCommand> {
    const dedup = this.dedup;
    if (dedup === undefined) return this.submit(request, prepared, t0, -1);
    // Entered in the de-duplication window now (a ticket); a match waits for or is confirmed
    // against the original first.
    const admitted = dedup.admit(prepared.inputs, dedup.now());
    if (typeof admitted === "number") return this.submit(request, prepared, t0, admitted);
    return admitted.then((a) =>
      typeof a === "number" ? this.submit(request, prepared, t0, a) : this.duplicateResponse(request, a),
    );
  }

  /** `ticket`: the de-duplication window's entry of the send (-1: none), settled by store() or here. */
  private submit(
    request: RemotingCommand,
    prepared: Prepared,
    t0: number,
    ticket: number,
  ): Promise<RemotingCommand> {
    return this.queue
      .submit(() => this.store(request, prepared, ticket))
      .then((outcome) => {
        if (t0 >= 0) this.ctx.traffic?.sendLatency.observe(performance.now() - t0);
        if (ticket >= 0 && outcome.kind !== "done") this.dedup?.released(prepared.inputs, ticket);
        return outcome.kind === "done"
          ? outcome.value
          : createResponse(request, ResponseCode.SYSTEM_BUSY, busyRemark(outcome));
      });
  }

  /**
   * Whether sends may share one send-queue task (SEND_HALF_BATCH, transaction/HalfBatch):
   * not with duplicate detection or replica acknowledgement, which work per send.
   */
  get sharedTaskAllowed(): boolean {
    return this.dedup === undefined && this.ctx.replicaAck === undefined;
  }

  /** A send's checks (steps 1–7 of spec §4.1), for sends that then share one task. */
  prepareDecoded(
    request: RemotingCommand,
    header: SendMessageRequestHeader,
    conn: Connection,
  ): Prepared | Promise<Prepared> {
    return this.prepare(request, header, false, conn);
  }

  /**
   * Runs `task` (the stores of several prepared sends, through putHalves) as one
   * send-queue task, timed as one send; a task shed or refused by the queue is answered by
   * `busy` with the remark a single send would get.
   */
  submitShared(
    task: () => Promise<RemotingCommand>,
    busy: (remark: string) => RemotingCommand,
  ): Promise<RemotingCommand> {
    const t0 = this.ctx.traffic?.startSendTiming() ?? -1;
    return this.queue.submit(task).then((outcome) => {
      if (t0 >= 0) this.ctx.traffic?.sendLatency.observe(performance.now() - t0);
      return outcome.kind === "done" ? outcome.value : busy(busyRemark(outcome));
    });
  }

  /**
   * store()'s put and bookkeeping for halves inside a shared task (sharedTaskAllowed), one
   * input each, as ONE coalescer part: one promise and one result for the lot. Rejects as a
   * whole; the caller then puts them one by one, so a half the store refuses fails alone.
   */
  putHalves(
    inputs: MessageInput[],
    facts: ReadonlyArray<HalfFacts | undefined>,
    requestBytes: number,
  ): Promise<StoredHalves> {
    // No msgId strings: the answer writes the ids from the records' offsets.
    return this.coalescer.put(inputs, false).then((put) => {
      const offsets = recordOffsets(put, inputs.length);
      const recent = recentHalvesOf(this.ctx.store);
      for (let i = 0; i < inputs.length; i++) {
        recent.keep(inputs[i]!, put.queueOffset + i, offsets[i]!, put.storeTimestamp, facts[i]);
      }
      this.ctx.stats.recordPut(put.count);
      this.ctx.traffic?.recordIn(inputs[0]!.topic, put.count, requestBytes);
      return { put, offsets };
    });
  }

  /** The store's offset message id prefix (its host and port in hex). */
  get msgIdPrefix(): string {
    return this.ctx.store.offsetMsgIdPrefix;
  }

  offsetMsgId(commitLogOffset: number): string {
    return this.ctx.store.offsetMsgId(commitLogOffset);
  }

  /**
   * Steps 1–3 and the topic's permission (spec §4.1) for halves SEND_HALF_BATCH builds itself
   * (transaction/HalfInput), without a refusal: the topic when every step passes for an
   * existing topic whose name passed before; undefined otherwise, and the caller then sends
   * the half the full way (which refuses it, or creates the topic).
   */
  halfTopic(topicName: string): HalfTopic | undefined {
    const { config } = this.ctx;
    if (!isWriteable(config.brokerPermission) || config.brokerRole === "SLAVE") return undefined;
    if (!this.sendableNames.has(topicName)) return undefined;
    const t = this.topics.get(topicName);
    if (!t || !isWriteable(t.perm)) return undefined;
    // Per topic config (a changed topic is a new config): its halves' stored suffixes stay cached.
    let h = this.halfTopics.get(t);
    if (h === undefined) {
      h = {
        topicName: t.topicName,
        queueMax: Math.max(t.readQueueNums, t.writeQueueNums),
        multiTag: t.topicFilterType === "MULTI_TAG",
        suffixes: [],
        cluster: undefined,
      };
      this.halfTopics.set(t, h);
    } else {
      h.queueMax = Math.max(t.readQueueNums, t.writeQueueNums);
      h.multiTag = t.topicFilterType === "MULTI_TAG";
    }
    return h;
  }

  /** What every half of one SEND_HALF_BATCH request shares (transaction/HalfInput). */
  halfSendBase(producerGroup: string, conn: Connection): HalfSendBase {
    return {
      producerGroup,
      bornHost: this.inputs.bornHostOf(conn),
      cluster: this.inputs.clusterPair(),
      maxMessageSize: this.ctx.config.maxMessageSize,
    };
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
    // A slave stores only what its master sends it (14 is retryable: clients go to the master).
    if (config.brokerRole === "SLAVE") {
      fail(
        ResponseCode.SERVICE_NOT_AVAILABLE,
        `broker ${config.brokerName} (brokerId ${config.brokerId}) is a slave and takes no sends; send to its master`,
      );
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
    // Transactions first: a half (TRAN_MSG) is handled before delays and retries (a delayed half is refused there).
    const half = halfMessage(header, batch, () => this.inputs.single(request, header, conn, topic, queueId));
    if (half) {
      half.half = true;
      return half;
    }
    if (isRetryTopic(topicName)) return this.prepareRetry(request, header, batch, conn, topic, queueId);
    return batch
      ? this.inputs.batch(request, header, conn, topic, queueId)
      : this.inputs.single(request, header, conn, topic, queueId);
  }

  /** Step 5. Retry topics: the group must exist; past the retry limit the message goes to the DLQ. */
  private prepareRetry(
    request: RemotingCommand,
    header: SendMessageRequestHeader,
    batch: boolean,
    conn: Connection,
    topic: TopicConfig,
    queueId: number,
  ): Prepared | Promise<Prepared> {
    const topicName = topic.topicName;
    if (batch) fail(ResponseCode.MESSAGE_ILLEGAL, `batch request does not support retry group ${topicName}`);
    const props = storedProperties(header.properties, this.ctx.config.brokerClusterName);
    const groupName = topicName.slice(RETRY_GROUP_TOPIC_PREFIX.length);
    const reconsumeTimes = header.reconsumeTimes ?? 0;
    const group = this.ctx.subscriptionGroups.findOrCreate(groupName);
    if (!group) {
      fail(ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST, `subscription group not exist, ${groupName}`);
    }
    const maxReconsume = maxReconsumeTimes(request.version, header.maxReconsumeTimes, group);
    if (reconsumeTimes < maxReconsume) {
      const prepared = this.inputs.fromObject(request, header, conn, topic, queueId, props);
      // Back-off: the copy waits its delay level in SCHEDULE_TOPIC_XXXX (spec §8.5 step 4).
      this.ctx.schedule?.router.routeRetry(prepared.inputs[0]!);
      return prepared;
    }
    delete props[MessageConst.DELAY_TIME_LEVEL];
    return Promise.resolve(
      this.topics.ensureSystemTopic(dlqTopic(groupName), 1, Perm.READ | Perm.WRITE),
    ).then((dlq) => {
      this.ctx.logger.info(
        `message to ${topicName} reached ${reconsumeTimes} reconsumes (max ${maxReconsume}); stored in ${dlq.topicName}`,
      );
      const dlqQueue = randomInt(Math.max(1, dlq.writeQueueNums));
      return this.inputs.fromObject(request, header, conn, dlq, dlqQueue, props);
    });
  }

  /** A resend of stored messages: the original answer, nothing stored. */
  private duplicateResponse(request: RemotingCommand, original: OriginalSend): RemotingCommand {
    const { config } = this.ctx;
    return createResponse(request, ResponseCode.SUCCESS, undefined, {
      msgId: original.msgId,
      queueId: original.queueId,
      queueOffset: original.queueOffset,
      MSG_REGION: config.regionId,
      TRACE_ON: config.traceOn,
    });
  }

  /** Step 10: the put, and the response RocketMQ clients read (msgId = offsetMsgId). */
  private store(request: RemotingCommand, p: Prepared, ticket: number): Promise<RemotingCommand> {
    // A failed put: resends waiting for this one store themselves.
    const unstored =
      ticket < 0
        ? undefined
        : (err: unknown) => {
            this.dedup?.released(p.inputs, ticket);
            throw err;
          };
    return this.coalescer.put(p.inputs).then((result) => {
      if (p.half) recentHalvesOf(this.ctx.store).stored(p.inputs, result, p.halfFacts);
      this.ctx.stats.recordPut(result.count);
      this.ctx.traffic?.recordIn(p.inputs[0]!.topic, result.count, request.body?.length ?? 0);
      if (ticket >= 0) this.dedup?.stored(p.inputs, ticket, result);
      const code =
        result.status === "FLUSH_DISK_TIMEOUT" ? ResponseCode.FLUSH_DISK_TIMEOUT : ResponseCode.SUCCESS;
      const replicaAck = this.ctx.replicaAck;
      if (replicaAck === undefined) return this.putResponse(request, p, result, code);
      // SYNC_MASTER: the answer waits for a slave to hold everything stored so far (≥ this
      // message's end); a replication outcome overrides a flush timeout (RocketMQ does too).
      return replicaAck
        .awaitSlave(this.ctx.store.confirmedPhysicalOffset)
        .then((slaveCode) =>
          this.putResponse(request, p, result, slaveCode === ResponseCode.SUCCESS ? code : slaveCode),
        );
    }, unstored);
  }

  private putResponse(
    request: RemotingCommand,
    p: Prepared,
    result: PutResult,
    code: number,
  ): RemotingCommand {
    const { config } = this.ctx;
    return createResponse(request, code, REMARKS[code], {
      msgId: result.msgIds.length === 1 ? result.msgIds[0]! : result.msgIds.join(","),
      queueId: p.requestedQueueId,
      queueOffset: result.queueOffset,
      MSG_REGION: config.regionId,
      TRACE_ON: config.traceOn,
      recallHandle: p.recallHandle,
    });
  }
}

/** Remarks of the stored-but-not-fully-acknowledged outcomes (spec §1.5). */
const REMARKS: Record<number, string | undefined> = {
  [ResponseCode.FLUSH_DISK_TIMEOUT]: "flush disk timeout",
  [ResponseCode.FLUSH_SLAVE_TIMEOUT]:
    "stored on the master; no slave acknowledged it within syncFlushTimeout",
  [ResponseCode.SLAVE_NOT_AVAILABLE]: "stored on the master; no slave is connected to replicate it",
};

/** The SYSTEM_BUSY remark of a send the send queue shed or refused. */
function busyRemark(outcome: Exclude<QueueOutcome<unknown>, { kind: "done" }>): string {
  return outcome.kind === "shed"
    ? `[TIMEOUT_CLEAN_QUEUE] broker busy: a send waited ${outcome.waitedMs} ms in the send queue (limit waitTimeMillsInSendQueue=${outcome.limitMs} ms); the store is slower than the incoming rate — see flushDiskType and the disk`
    : `[REJECTREQUEST] broker busy: the send queue is full (${outcome.queued} waiting, sendThreadPoolQueueCapacity=${outcome.capacity}); the store is slower than the incoming rate — see flushDiskType and the disk`;
}

function randomInt(n: number): number {
  return Math.floor(Math.random() * n);
}
