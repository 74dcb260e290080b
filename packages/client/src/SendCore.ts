import {
  compressBody,
  type ExtFields,
  encodeProperties,
  MessageConst,
  MessageSysFlag,
  RequestCode,
  type TopicRouteData,
} from "@tidemq/protocol";
import type { Logger } from "@tidemq/remoting";
import { BufferPool } from "./BufferPool.js";
import { type BatchItem, batchBytes, batchItem, checkBatchMessages, encodeBatchItems } from "./batchBody.js";
import { ClientError, NoRouteError } from "./errors.js";
import type { HalfBatcher } from "./HalfBatcher.js";
import { type FaultToleranceOptions, LatencyFaultTolerance } from "./LatencyFaultTolerance.js";
import type { PreparedMessage } from "./Message.js";
import type { MessageQueue } from "./MessageQueue.js";
import type { SendResultRaw } from "./MQClientAPI.js";
import { AUTO_CREATE_TOPIC_KEY, type MQClientInstance } from "./MQClientInstance.js";
import { RoundRobinSelector, selectByShardingKey } from "./QueueSelector.js";
import { afterSendFailure } from "./SendFailover.js";
import type { BatchSendReceipt, SendReceipt } from "./SendReceipt.js";
import { masterAddr, publishQueues, routeFromTemplate } from "./TopicRoute.js";

export interface SendCoreOptions {
  group: string;
  sendMsgTimeout: number;
  retryTimesWhenSendFailed: number;
  compressMsgBodyOverHowmuch: number;
  maxMessageSize: number;
  sendLatencyFaultEnable: boolean;
  faultTolerance?: FaultToleranceOptions;
  /** Queues per broker for a topic created on first send through the TBW102 template. */
  defaultTopicQueueNums: number;
  /**
   * The sender's own logger. The client instance's logger is the one of whichever producer or
   * consumer created the shared instance, so a producer's warnings would carry a consumer's tag.
   */
  logger?: Logger;
}

/** Picks a queue for a message: return one of `queues`. */
export type QueueSelectorFn = (queues: MessageQueue[], message: PreparedMessage) => MessageQueue;

/** How the caller pins a send's queue (the selector already bound to the message). */
interface Choice {
  selector?: (queues: MessageQueue[]) => MessageQueue;
  queue?: MessageQueue;
}

/** What one successful send request returned: its queue, the broker's answer, the broker address. */
export interface SendOutcome {
  mq: MessageQueue;
  raw: SendResultRaw;
  addr: string;
}

/** A first attempt made outside the retry loop that failed (see SendCore.attempt). */
export interface FailedAttempt {
  mq: MessageQueue;
  err: unknown;
  /** When that attempt was sent, and the deadline of the whole send (sendMsgTimeout). */
  t0: number;
  deadline: number;
  /** The queues it was chosen from. */
  queues: MessageQueue[];
}

/** A batch request's own properties: WAIT only (each entry carries its own properties). */
const BATCH_PROPERTIES = encodeProperties({ [MessageConst.WAIT_STORE_MSG_OK]: "true" });
/** reconsumeTimes 0, unitMode false, batch true: what Java sends for a MessageBatch. */
const BATCH_FIELDS: Readonly<Record<string, string>> = { j: "0", k: "false", m: "true" };

/** Extra header fields of a client-built retry message (spec §8.5 step 4). */
export interface RetryHeaderFields {
  reconsumeTimes: number;
  maxReconsumeTimes: number;
}

/**
 * The send path shared by Producer and by consumers' fallback retries (RocketMQ's
 * DefaultMQProducerImpl.sendDefaultImpl): route lookup (with the TBW102 template for a topic
 * that does not exist yet), queue choice, compression, and retries on another broker.
 */
/** ClientError code: the topic's route has queues, but on no broker with a master right now. */
const NO_MASTER_NOW = 10004;

export class SendCore {
  readonly fault: LatencyFaultTolerance;
  private readonly selectors = new Map<string, RoundRobinSelector>();
  private readonly templateRoutes = new Map<string, TopicRouteData>();
  /** Topics sent to; the client instance refreshes their routes. */
  readonly topics = new Set<string>();
  /** Coalesces transaction halves into SEND_HALF_BATCH requests (producers with autoBatch). */
  halves: HalfBatcher | undefined;

  /** @internal Batch body buffers, reused (see BufferPool): auto-batches and SEND_HALF_BATCH bodies. */
  readonly bodies = new BufferPool();
  /** defaultTopicQueueNums as the header carries it. */
  private readonly queueNumsText: string;

  constructor(
    /** @internal */ readonly instance: MQClientInstance,
    readonly options: SendCoreOptions,
  ) {
    this.fault = new LatencyFaultTolerance(options.faultTolerance);
    this.queueNumsText = String(options.defaultTopicQueueNums);
  }

  /** Writable queues per route object (worked out once per route, not once per message). */
  private readonly queueCache = new WeakMap<TopicRouteData, MessageQueue[]>();

  private queuesOf(topic: string, route: TopicRouteData): MessageQueue[] {
    let queues = this.queueCache.get(route);
    if (!queues || queues[0]?.topic !== topic) {
      queues = publishQueues(topic, route);
      this.queueCache.set(route, queues);
    }
    return queues;
  }

  // The last topic asked for, its route object and what came of it: a producer mostly sends
  // to one topic, and a transaction's halves each choose their queue and broker (three map
  // lookups and a search of the route saved per half). Routes are replaced, never changed in
  // place (MQClientInstance.setRoute), so the route's identity says whether they still hold.
  private lastTopic: string | undefined;
  private lastRoute: TopicRouteData | undefined;
  private lastQueues: MessageQueue[] = [];
  private selectorTopic: string | undefined;
  private lastSelector: RoundRobinSelector | undefined;
  /** The last master address found in `lastAddrRoute` itself, for broker `lastAddrBroker`. */
  private lastAddrRoute: TopicRouteData | undefined;
  private lastAddrBroker: string | undefined;
  private lastAddr = "";

  /** @internal The writable queues when the route is known (no promise); undefined otherwise. */
  knownQueues(topic: string): MessageQueue[] | undefined {
    const route = this.instance.getRoute(topic);
    if (!route) return undefined;
    if (route !== this.lastRoute || topic !== this.lastTopic) {
      this.topics.add(topic);
      this.lastQueues = this.queuesOf(topic, route);
      this.lastRoute = route;
      this.lastTopic = topic;
    }
    const queues = this.lastQueues;
    return queues.length > 0 ? queues : undefined;
  }

  /** Writable queues of a topic, fetching its route when it is not known yet. */
  async publishQueues(topic: string): Promise<MessageQueue[]> {
    this.topics.add(topic);
    let route = this.instance.getRoute(topic);
    if (!route) {
      try {
        route = await this.instance.updateRoute(topic);
        this.templateRoutes.delete(topic);
      } catch (err) {
        if (!(err instanceof NoRouteError) || !err.outcomes.some((o) => o.outcome === "TOPIC_NOT_EXIST"))
          throw err;
        route = this.templateRoutes.get(topic) ?? (await this.templateRoute(topic, err));
      }
    }
    const queues = this.queuesOf(topic, route);
    if (queues.length === 0) {
      throw new ClientError(`topic "${topic}" has a route but no writable queue on a broker with a master`, {
        retriable: true,
        code: NO_MASTER_NOW,
      });
    }
    return queues.slice();
  }

  /** Java's fallback: the TBW102 route, so the broker creates the topic on first send (autoCreateTopicEnable). */
  private async templateRoute(topic: string, notFound: NoRouteError): Promise<TopicRouteData> {
    const { route } = await this.instance.fetchRoute(AUTO_CREATE_TOPIC_KEY);
    if (!route) {
      throw new NoRouteError(
        topic,
        notFound.outcomes,
        `the auto-create template ${AUTO_CREATE_TOPIC_KEY} has no route either, so auto-create is off`,
      );
    }
    const t = routeFromTemplate(route, this.options.defaultTopicQueueNums);
    this.templateRoutes.set(topic, t);
    return t;
  }

  private selector(topic: string): RoundRobinSelector {
    // Selectors are never replaced: the last one asked for is still its topic's.
    if (topic === this.selectorTopic && this.lastSelector !== undefined) return this.lastSelector;
    let s = this.selectors.get(topic);
    if (!s) {
      s = new RoundRobinSelector();
      this.selectors.set(topic, s);
    }
    this.selectorTopic = topic;
    this.lastSelector = s;
    return s;
  }

  /** @internal The address of the master of `mq`'s broker. */
  brokerAddr(mq: MessageQueue): string {
    const route = this.instance.getRoute(mq.topic);
    if (route !== undefined && route === this.lastAddrRoute && mq.brokerName === this.lastAddrBroker)
      return this.lastAddr;
    const own = route && masterAddr(route, mq.brokerName);
    if (own) {
      // Found in the route itself: holds as long as this route object is the topic's.
      this.lastAddrRoute = route;
      this.lastAddrBroker = mq.brokerName;
      this.lastAddr = own;
      return own;
    }
    const addr = this.instance.findMasterAddr(mq.brokerName);
    if (addr) return addr;
    const t = this.templateRoutes.get(mq.topic)?.brokerDatas.find((b) => b.brokerName === mq.brokerName)
      ?.brokerAddrs["0"];
    if (t) return t;
    throw new ClientError(`broker ${mq.brokerName} has no master in the known routes`, {
      retriable: true,
      code: 10003,
    });
  }

  /** Sends one message; retries on another broker unless its queue is pinned (see attempt). */
  async send(
    msg: PreparedMessage,
    choose?: { selector?: QueueSelectorFn; queue?: MessageQueue },
    retry?: RetryHeaderFields,
  ): Promise<SendReceipt> {
    let body = msg.body;
    // A transaction half carries the PREPARED bits as well as TRAN_MSG (what Java sends).
    let sysFlag = msg.properties.TRAN_MSG === "true" ? MessageSysFlag.TRANSACTION_PREPARED_TYPE : 0;
    if (body.length > this.options.compressMsgBodyOverHowmuch) {
      const c = compressBody(body);
      body = c.body;
      sysFlag |= c.sysFlagBits;
    }
    const selector = choose?.selector;
    const properties = encodeProperties(msg.properties);
    // Optional fields at their defaults are left out (brokers read absent as 0 / false,
    // Java's @CFNullable fields): fewer fields to encode and decode per message.
    const extra = retry && { j: String(retry.reconsumeTimes), l: String(retry.maxReconsumeTimes) };
    const pin: Choice | undefined =
      choose?.queue !== undefined || selector !== undefined
        ? { queue: choose?.queue, selector: selector && ((queues) => selector(queues, msg)) }
        : undefined;
    const sendOne = (mq: MessageQueue, addr: string, timeoutMs: number) =>
      this.sendTo(
        RequestCode.SEND_MESSAGE_V2,
        mq,
        addr,
        body,
        timeoutMs,
        sysFlag,
        msg.flag,
        properties,
        extra,
      );
    // A transaction half may share a SEND_HALF_BATCH with the halves of this turn (autoBatch).
    const halves = sysFlag & MessageSysFlag.TRANSACTION_PREPARED_TYPE ? this.halves : undefined;
    const { mq, raw, addr } = await this.attempt(
      msg.topic,
      msg.shardingKey,
      pin,
      halves
        ? (mq, addr, timeoutMs) =>
            halves.send(
              addr,
              {
                topic: mq.topic,
                queueId: mq.queueId,
                sysFlag,
                bornTimestamp: Date.now(),
                flag: msg.flag,
                properties,
                body,
              },
              timeoutMs,
              () => sendOne(mq, addr, timeoutMs),
            )
        : sendOne,
    );
    return {
      messageId: msg.uniqId,
      offsetMessageId: raw.offsetMsgId,
      messageQueue: { topic: msg.topic, brokerName: mq.brokerName, queueId: raw.queueId },
      queueOffset: raw.queueOffset,
      offset: raw.queueOffset,
      brokerAddr: addr,
      sendStatus: raw.sendStatus,
      transactionId: sysFlag & MessageSysFlag.TRANSACTION_PREPARED_TYPE ? msg.uniqId : "",
      ...(raw.recallHandle ? { recallHandle: raw.recallHandle } : {}),
    };
  }

  /** SEND_BATCH_MESSAGE: all messages to one queue, consecutive offsets (spec §4.2). */
  async sendBatch(msgs: PreparedMessage[], choose?: { queue?: MessageQueue }): Promise<BatchSendReceipt> {
    checkBatchMessages(msgs);
    const topic = msgs[0]!.topic;
    const shardingKey = msgs[0]!.shardingKey;
    const items = msgs.map(batchItem);
    const bytes = batchBytes(items);
    if (bytes > this.options.maxMessageSize) {
      throw new ClientError(
        `batch of ${bytes} bytes exceeds maxMessageSize ${this.options.maxMessageSize}; split it`,
      );
    }
    const { mq, raw, addr } = await this.sendBatchItems(topic, shardingKey, items, bytes, choose);
    const ids = msgs.map((m) => m.uniqId);
    return {
      messageId: ids[0]!,
      messageIds: ids,
      offsetMessageId: raw.offsetMsgId,
      messageQueue: { topic, brokerName: mq.brokerName, queueId: raw.queueId },
      queueOffset: raw.queueOffset,
      offset: raw.queueOffset,
      brokerAddr: addr,
      sendStatus: raw.sendStatus,
      transactionId: "",
    };
  }

  /**
   * Batch entries as one SEND_BATCH_MESSAGE (`bytes` = batchBytes(items)), with the retries
   * of a single send: a failed attempt fails, and a retry resends, every message in it.
   */
  async sendBatchItems(
    topic: string,
    shardingKey: string | undefined,
    items: readonly BatchItem[],
    bytes: number,
    choose?: { queue?: MessageQueue },
  ): Promise<SendOutcome> {
    const buffer = this.bodies.take(bytes);
    const body = encodeBatchItems(items, bytes, buffer);
    let attempts = 0;
    const outcome = await this.attempt(
      topic,
      shardingKey,
      choose?.queue ? choose : undefined,
      (mq, addr, timeoutMs) => {
        attempts++;
        return this.sendTo(
          RequestCode.SEND_BATCH_MESSAGE,
          mq,
          addr,
          body,
          timeoutMs,
          0,
          0,
          BATCH_PROPERTIES,
          BATCH_FIELDS,
        );
      },
    );
    // The broker answered the only request that carried the buffer, so it read every byte:
    // no socket holds it any more. After a failed attempt some socket might still (a timed-out
    // write can sit in a stalled connection's queue), so then the buffer is left to the GC.
    if (attempts === 1) this.bodies.give(buffer);
    return outcome;
  }

  /**
   * @internal SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE to `mq`. The V2 header (one-letter names,
   * spec §4.1) is built directly as wire strings in field order: this runs once per request.
   */
  sendTo(
    code: number,
    mq: MessageQueue,
    addr: string,
    body: Buffer,
    timeoutMs: number,
    sysFlag: number,
    flag: number,
    properties: string,
    extra: Readonly<Record<string, string>> | undefined,
  ): Promise<SendResultRaw> {
    const ext: ExtFields = {
      a: this.options.group,
      b: mq.topic,
      c: AUTO_CREATE_TOPIC_KEY,
      d: this.queueNumsText,
      e: String(mq.queueId),
      f: String(sysFlag),
      g: String(Date.now()),
      h: String(flag),
      i: properties,
    };
    if (extra) Object.assign(ext, extra);
    return this.instance.api.sendMessage(addr, code, ext, body, timeoutMs);
  }

  /** @internal The queue of one attempt: the fixed one, the selector's, the sharding key's, or round robin. */
  chooseQueue(
    topic: string,
    queues: MessageQueue[],
    lastBroker: string | undefined,
    shardingKey: string | undefined,
    choose: Choice | undefined,
    /** The caller's clock read, when it has one. */
    now?: number,
  ): MessageQueue {
    let mq: MessageQueue | undefined;
    if (choose?.queue) mq = choose.queue;
    else if (choose?.selector) mq = choose.selector(queues.slice());
    else if (shardingKey !== undefined) mq = selectByShardingKey(queues, shardingKey);
    else {
      // The clock only for the fault records (Date.now is a runtime call: ~0.1 µs a half).
      const fault = this.options.sendLatencyFaultEnable ? this.fault : undefined;
      mq = this.selector(topic).select(queues, fault, lastBroker, fault ? (now ?? Date.now()) : 0);
    }
    if (!mq || typeof mq.queueId !== "number") throw new ClientError("the queue selector returned no queue");
    if (mq.topic !== topic) {
      throw new ClientError(`a queue of topic ${mq.topic} was chosen for a message of topic ${topic}`);
    }
    return mq;
  }

  /**
   * @internal The retry loop: up to 1 + retries attempts within sendMsgTimeout, each on a
   * freshly chosen queue; one attempt only when the queue is pinned (fixed, selector, sharding
   * key). `failed`: a first attempt made elsewhere (HalfBatcher's) that failed; the loop goes
   * on from it with its deadline and broker, as if it had made it.
   */
  async attempt(
    topic: string,
    shardingKey: string | undefined,
    choose: Choice | undefined,
    doSend: (mq: MessageQueue, addr: string, timeoutMs: number) => Promise<SendResultRaw>,
    failed?: FailedAttempt,
  ): Promise<SendOutcome> {
    const pinned = shardingKey !== undefined || choose?.selector !== undefined || choose?.queue !== undefined;
    const deadline = failed ? failed.deadline : Date.now() + this.options.sendMsgTimeout;
    const times = pinned ? 1 : 1 + this.options.retryTimesWhenSendFailed;
    let lastBroker = failed?.mq.brokerName;
    let lastErr = failed?.err;
    let i = failed
      ? (await afterSendFailure(this, topic, failed.mq, failed.queues, failed.err, 0, times, failed.t0)) + 1
      : 0;
    for (; i < times; i++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      // Known route: no promise hop; the queue list is shared, so it is only read here.
      let queues: MessageQueue[];
      try {
        queues = this.knownQueues(topic) ?? (await this.publishQueues(topic));
      } catch (err) {
        // Every broker of the topic is without a master (a group electing its leader): ask
        // the NameServers again shortly, within sendMsgTimeout, instead of failing at once.
        if (!(err instanceof ClientError) || err.code !== NO_MASTER_NOW) throw err;
        lastErr = err;
        await new Promise((r) => setTimeout(r, Math.min(100, Math.max(0, deadline - Date.now()))));
        await this.instance.updateRoute(topic).catch(() => undefined);
        i--;
        continue;
      }
      const mq = this.chooseQueue(topic, queues, lastBroker, shardingKey, choose);
      const t0 = Date.now();
      try {
        const addr = this.brokerAddr(mq);
        const raw = await doSend(mq, addr, remaining);
        this.fault.update(mq.brokerName, Date.now() - t0, false, Date.now());
        return { mq, raw, addr };
      } catch (err) {
        lastErr = err;
        lastBroker = mq.brokerName;
        i = await afterSendFailure(this, topic, mq, queues, err, i, times, t0);
      }
    }
    if (lastErr) throw lastErr;
    throw new ClientError(
      `send to topic ${topic} did not complete within sendMsgTimeout ${this.options.sendMsgTimeout} ms`,
      {
        retriable: true,
        code: 10002,
      },
    );
  }
}
