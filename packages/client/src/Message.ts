import { createUniqId, MessageConst, type Properties } from "@tidemq/protocol";
import { ClientError } from "./errors.js";
import { checkTopic } from "./options.js";

/** A message to send; the shape of rocketmq-client-nodejs' MessageOptions plus 4.x extras. */
export interface MessageOptions {
  /** Destination topic. */
  topic: string;
  /** Payload; strings are sent as UTF-8. */
  body: Buffer | Uint8Array | string;
  /** The tag (RocketMQ's second-level classifier, used by tag filters). */
  tag?: string;
  /** Business keys, indexed by the broker for lookup by key. */
  keys?: string[] | string;
  /** User properties. Names must not contain \u0001 or \u0002. */
  properties?: Map<string, string> | Record<string, string>;
  /**
   * Messages with the same group go to the same queue (in send order), so an orderly
   * consumer sees them in order. Same as `shardingKey`. Disables send retries on other brokers.
   */
  messageGroup?: string;
  /** 4.x / ali-ons name of `messageGroup`. */
  shardingKey?: string;
  /** Deliver after this many ms (sets TIMER_DELIVER_MS, RocketMQ 5 timer messages). */
  delay?: number;
  /** Deliver at this time (sets TIMER_DELIVER_MS). */
  deliveryTimestamp?: Date | number;
  /** RocketMQ 4.x delay level 1-18 (1s 5s 10s 30s 1m … 2h); sets the DELAY property. */
  delayLevel?: number;
  /** User flag stored with the message (4.x `flag`). Default 0. */
  flag?: number;
}

/** What the producer puts on the wire for one message. */
export interface PreparedMessage {
  topic: string;
  body: Buffer;
  flag: number;
  properties: Properties;
  /** The UNIQ_KEY, which the receipt reports as messageId. */
  uniqId: string;
  /** Queue-selection key (messageGroup / shardingKey), if any. */
  shardingKey: string | undefined;
}

function checkPropertyText(s: string, what: string): void {
  if (s.includes("\u0001") || s.includes("\u0002"))
    throw new ClientError(`${what} contains \\u0001 or \\u0002`);
}

/** Validates a message and builds its properties (TAGS, KEYS, UNIQ_KEY, WAIT, delay keys). */
export function prepareMessage(m: MessageOptions, maxMessageSize: number, now = Date.now()): PreparedMessage {
  if (!m || typeof m !== "object") throw new ClientError("message must be an object");
  const topic = checkTopic(m.topic);
  let body: Buffer;
  if (typeof m.body === "string") body = Buffer.from(m.body, "utf8");
  else if (Buffer.isBuffer(m.body)) body = m.body;
  else if (m.body instanceof Uint8Array)
    body = Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength);
  else throw new ClientError("message body must be a Buffer, Uint8Array or string");
  if (body.length === 0) throw new ClientError("message body is empty");
  if (body.length > maxMessageSize) {
    throw new ClientError(`message body of ${body.length} bytes exceeds maxMessageSize ${maxMessageSize}`);
  }
  const props: Properties = {};
  const user = m.properties instanceof Map ? [...m.properties.entries()] : Object.entries(m.properties ?? {});
  for (const [k, v] of user) {
    if (typeof k !== "string" || k.length === 0 || typeof v !== "string") {
      throw new ClientError("message properties must map non-empty strings to strings");
    }
    checkPropertyText(k, `property name "${k}"`);
    checkPropertyText(v, `property "${k}"`);
    props[k] = v;
  }
  if (m.tag !== undefined) {
    if (typeof m.tag !== "string" || m.tag.length === 0 || m.tag.includes("||")) {
      throw new ClientError(`tag ${JSON.stringify(m.tag)} must be a non-empty string without "||"`);
    }
    checkPropertyText(m.tag, "tag");
    props[MessageConst.TAGS] = m.tag;
  }
  const keys = typeof m.keys === "string" ? [m.keys] : (m.keys ?? []);
  const cleanKeys = keys.filter((k) => typeof k === "string" && k.trim().length > 0).map((k) => k.trim());
  for (const k of cleanKeys) checkPropertyText(k, "key");
  if (cleanKeys.length > 0) props[MessageConst.KEYS] = cleanKeys.join(" ");
  const shardingKey = m.messageGroup ?? m.shardingKey;
  if (shardingKey !== undefined && (typeof shardingKey !== "string" || shardingKey.length === 0)) {
    throw new ClientError("messageGroup / shardingKey must be a non-empty string");
  }
  if (shardingKey !== undefined) {
    checkPropertyText(shardingKey, "messageGroup");
    // RocketMQ 5's spelling; queue selection itself happens in the producer.
    props.__SHARDINGKEY = shardingKey;
  }
  let deliverAt: number | undefined;
  if (m.deliveryTimestamp !== undefined) {
    deliverAt =
      m.deliveryTimestamp instanceof Date ? m.deliveryTimestamp.getTime() : Number(m.deliveryTimestamp);
  } else if (m.delay !== undefined) {
    if (!Number.isFinite(m.delay) || m.delay < 0) throw new ClientError("delay must be a number of ms >= 0");
    deliverAt = now + m.delay;
  }
  if (deliverAt !== undefined) {
    if (!Number.isFinite(deliverAt)) throw new ClientError("deliveryTimestamp is not a valid time");
    if (shardingKey !== undefined)
      throw new ClientError("delay/deliveryTimestamp is mutually exclusive with messageGroup");
    props[MessageConst.TIMER_DELIVER_MS] = String(Math.floor(deliverAt));
  }
  if (m.delayLevel !== undefined) {
    if (!Number.isInteger(m.delayLevel) || m.delayLevel < 0)
      throw new ClientError("delayLevel must be an integer >= 0");
    if (m.delayLevel > 0) props[MessageConst.DELAY_TIME_LEVEL] = String(m.delayLevel);
  }
  const flag = m.flag ?? 0;
  if (!Number.isInteger(flag)) throw new ClientError("flag must be an integer");
  const uniqId = createUniqId(now);
  props[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX] = uniqId;
  props[MessageConst.WAIT_STORE_MSG_OK] = "true";
  return { topic, body, flag, properties: props, uniqId, shardingKey };
}
