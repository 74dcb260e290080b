import { MessageConst, type MessageExt, messageKeys } from "@tidemq/protocol";
import type { MessageQueue } from "./MessageQueue.js";

/**
 * A received message (rocketmq-client-nodejs' MessageView plus the 4.x MessageExt fields).
 * Bodies arrive decompressed. For a message redelivered from %RETRY%<group>, `topic` is the
 * original topic while `messageQueue` is the retry queue it was pulled from.
 */
export class MessageView {
  /** Client message id (UNIQ_KEY), or the offset message id when the producer set none (ali-ons). */
  readonly messageId: string;
  /** Broker id of this stored record (store host + commit-log offset). */
  readonly offsetMessageId: string;
  readonly topic: string;
  readonly tag: string | undefined;
  readonly keys: string[];
  /** Every property, system ones included (TAGS, KEYS, UNIQ_KEY, …). */
  readonly properties: Map<string, string>;
  readonly body: Buffer;
  readonly messageGroup: string | undefined;
  readonly bornTimestamp: Date;
  readonly bornHost: string;
  readonly storeTimestamp: Date;
  readonly storeHost: string;
  /** How many times it has been delivered, 1 for the first delivery. */
  deliveryAttempt: number;
  /** Times the broker redelivered it through the retry topic (4.x reconsumeTimes). */
  readonly reconsumeTimes: number;
  readonly queueId: number;
  readonly queueOffset: number;
  /** Same as queueOffset (rocketmq-client-nodejs name). */
  readonly offset: number;
  readonly commitLogOffset: number;
  readonly messageQueue: MessageQueue;
  readonly flag: number;
  readonly deliveryTimestamp: Date | undefined;
  /** Always false: corrupt records are rejected while decoding. */
  readonly corrupted = false;

  constructor(ext: MessageExt, mq: MessageQueue) {
    const p = ext.properties;
    const retryTopic = p[MessageConst.RETRY_TOPIC];
    this.topic = retryTopic && ext.topic.startsWith("%RETRY%") ? retryTopic : ext.topic;
    this.messageId = p[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX] || ext.msgId;
    this.offsetMessageId = ext.msgId;
    const tag = p[MessageConst.TAGS];
    this.tag = tag === undefined || tag === "" ? undefined : tag;
    this.keys = messageKeys(p);
    this.properties = new Map(Object.entries(p));
    this.body = ext.body;
    this.messageGroup = p[MessageConst.SHARDING_KEY] ?? p.__SHARDINGKEY;
    this.bornTimestamp = new Date(ext.bornTimestamp);
    this.bornHost = `${ext.bornHost.host}:${ext.bornHost.port}`;
    this.storeTimestamp = new Date(ext.storeTimestamp);
    this.storeHost = `${ext.storeHost.host}:${ext.storeHost.port}`;
    this.reconsumeTimes = ext.reconsumeTimes;
    this.deliveryAttempt = ext.reconsumeTimes + 1;
    this.queueId = ext.queueId;
    this.queueOffset = ext.queueOffset;
    this.offset = ext.queueOffset;
    this.commitLogOffset = ext.commitLogOffset;
    this.messageQueue = mq;
    this.flag = ext.flag;
    const at = Number(p[MessageConst.TIMER_DELIVER_MS]);
    this.deliveryTimestamp = Number.isFinite(at) && at > 0 ? new Date(at) : undefined;
  }

  /** Body as UTF-8 text. */
  bodyText(): string {
    return this.body.toString("utf8");
  }

  getMessageId(): string {
    return this.messageId;
  }
  getTopic(): string {
    return this.topic;
  }
  getBody(): Buffer {
    return Buffer.from(this.body);
  }
  getProperties(): Map<string, string> {
    return new Map(this.properties);
  }
  getTag(): string | undefined {
    return this.tag;
  }
  getKeys(): string[] {
    return [...this.keys];
  }
  getMessageGroup(): string | undefined {
    return this.messageGroup;
  }
  getBornTimestamp(): Date {
    return this.bornTimestamp;
  }
  getBornHost(): string {
    return this.bornHost;
  }
  getDeliveryAttempt(): number {
    return this.deliveryAttempt;
  }
  getDeliveryTimestamp(): Date | undefined {
    return this.deliveryTimestamp;
  }
}
