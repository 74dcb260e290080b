import { createUniqId, MessageConst, type Properties, setOwn } from "@tidemq/protocol";
import { ClientError } from "./errors.js";
import { checkTopic } from "./options.js";

// hasOwnProperty.call inside for-in is turned by V8 into a map check; Object.hasOwn is not
// (4-property objects: ~11 against ~40 ns a loop, measured). These loops run per message.
const hasOwn = Object.prototype.hasOwnProperty;

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
  /**
   * Set by prepareMessage: whether a property keeps the message out of an auto-batch (a delay,
   * a transaction or producer-group mark). Absent = unknown (the accumulator checks itself).
   */
  unbatchable?: boolean;
  /**
   * Set by prepareMessage: the bytes of name\u0001value\u0002… of every property but WAIT
   * when all names and values are printable ASCII (a batch entry's properties, written then
   * straight from the object), or -1. Absent = unknown (the batch encoder measures itself).
   */
  asciiPropertiesBytes?: number;
}

/**
 * Properties that make a message unfit for a batch: the broker stores one sysFlag and one
 * set of request properties per batch and refuses delays in a batch (RocketMQ 5's
 * DefaultMQProducer.canBatch refuses the same: delayed, PGROUP-marked messages).
 */
export const UNBATCHABLE_PROPERTIES: ReadonlySet<string> = new Set([
  MessageConst.DELAY_TIME_LEVEL,
  MessageConst.TIMER_DELIVER_MS,
  MessageConst.TIMER_DELAY_SEC,
  MessageConst.TIMER_DELAY_MS,
  MessageConst.START_DELIVER_TIME,
  MessageConst.TRANSACTION_PREPARED,
  MessageConst.PRODUCER_GROUP,
]);

function checkPropertyText(s: string, what: string): void {
  if (s.includes("\u0001") || s.includes("\u0002"))
    throw new ClientError(`${what} contains \\u0001 or \\u0002`);
}

/** Printable ASCII only: one byte per character, and no separator can hide inside. */
const PRINTABLE_ASCII = /^[\x20-\x7f]*$/;

/**
 * Checks a user-given name or value; returns whether it is printable ASCII. One regex test
 * in the common case: such a string cannot contain a separator.
 */
function checkText(s: string, what: string): boolean {
  if (PRINTABLE_ASCII.test(s)) return true;
  checkPropertyText(s, what);
  return false;
}

/** The topic checked last: a producer mostly sends to one topic, so the regex runs once. */
let lastTopic: string | undefined;

function topicOf(topic: unknown): string {
  if (lastTopic !== undefined && topic === lastTopic) return lastTopic;
  lastTopic = checkTopic(topic);
  return lastTopic;
}

function bodyOf(body: unknown, maxMessageSize: number): Buffer {
  let b: Buffer;
  if (typeof body === "string") b = Buffer.from(body, "utf8");
  else if (Buffer.isBuffer(body)) b = body;
  else if (body instanceof Uint8Array) b = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  else throw new ClientError("message body must be a Buffer, Uint8Array or string");
  if (b.length === 0) throw new ClientError("message body is empty");
  if (b.length > maxMessageSize) {
    throw new ClientError(`message body of ${b.length} bytes exceeds maxMessageSize ${maxMessageSize}`);
  }
  return b;
}

/** Copies one user property; returns whether its name and value are printable ASCII. */
function putUserProperty(props: Properties, k: unknown, v: unknown): boolean {
  if (typeof k !== "string" || k.length === 0 || typeof v !== "string") {
    throw new ClientError("message properties must map non-empty strings to strings");
  }
  const ascii = checkText(k, `property name "${k}"`);
  const asciiValue = checkText(v, `property "${k}"`);
  setOwn(props, k, v);
  return ascii && asciiValue;
}

/** What copying the user properties found out. */
interface UserProperties {
  /** One of them keeps the message out of a batch. */
  unbatchable: boolean;
  /** Every name and value is printable ASCII. */
  ascii: boolean;
}

/** Copies user properties. */
function putUserProperties(
  props: Properties,
  user: Map<string, string> | Record<string, string>,
): UserProperties {
  const found = { unbatchable: false, ascii: true };
  const put = (k: string, v: unknown): void => {
    if (!putUserProperty(props, k, v)) found.ascii = false;
    if (UNBATCHABLE_PROPERTIES.has(k)) found.unbatchable = true;
  };
  if (user instanceof Map) {
    for (const [k, v] of user) put(k, v);
    return found;
  }
  for (const k in user) if (hasOwn.call(user, k)) put(k, user[k]);
  return found;
}

/** KEYS: the trimmed non-empty keys joined by spaces, or "" when there are none. */
function keysText(keys: string[] | string): string {
  const list = typeof keys === "string" ? [keys] : keys;
  let out = "";
  for (const raw of list) {
    if (typeof raw !== "string") continue;
    const k = raw.trim();
    if (k.length === 0) continue;
    checkText(k, "key");
    out = out.length === 0 ? k : `${out} ${k}`;
  }
  return out;
}

/** Bytes of name\u0001value\u0002… of every property but WAIT, all known to be one-byte text. */
function asciiBytesWithoutWait(props: Properties): number {
  let n = 0;
  for (const k in props) {
    if (hasOwn.call(props, k) && k !== MessageConst.WAIT_STORE_MSG_OK) n += k.length + props[k]!.length + 2;
  }
  return n;
}

/** TIMER_DELIVER_MS of a delayed message, or undefined. */
function deliverAtOf(m: MessageOptions, now: number): number | undefined {
  let deliverAt: number | undefined;
  if (m.deliveryTimestamp !== undefined) {
    deliverAt =
      m.deliveryTimestamp instanceof Date ? m.deliveryTimestamp.getTime() : Number(m.deliveryTimestamp);
  } else if (m.delay !== undefined) {
    if (!Number.isFinite(m.delay) || m.delay < 0) throw new ClientError("delay must be a number of ms >= 0");
    deliverAt = now + m.delay;
  }
  if (deliverAt !== undefined && !Number.isFinite(deliverAt))
    throw new ClientError("deliveryTimestamp is not a valid time");
  return deliverAt;
}

/**
 * Validates a message and builds its properties (TAGS, KEYS, UNIQ_KEY, WAIT, delay keys).
 * Runs once per message, so optional parts cost nothing when absent.
 */
export function prepareMessage(m: MessageOptions, maxMessageSize: number, now = Date.now()): PreparedMessage {
  if (!m || typeof m !== "object") throw new ClientError("message must be an object");
  const topic = topicOf(m.topic);
  const body = bodyOf(m.body, maxMessageSize);
  const props: Properties = {};
  let unbatchable = false;
  // Whether every name and value is printable ASCII: what we add ourselves always is.
  let ascii = true;
  if (m.properties !== undefined && m.properties !== null)
    ({ unbatchable, ascii } = putUserProperties(props, m.properties));
  if (m.tag !== undefined) {
    if (typeof m.tag !== "string" || m.tag.length === 0 || m.tag.includes("||")) {
      throw new ClientError(`tag ${JSON.stringify(m.tag)} must be a non-empty string without "||"`);
    }
    if (!checkText(m.tag, "tag")) ascii = false;
    props[MessageConst.TAGS] = m.tag;
  }
  if (m.keys !== undefined && m.keys !== null) {
    const keys = keysText(m.keys);
    if (keys.length > 0) props[MessageConst.KEYS] = keys;
    if (!PRINTABLE_ASCII.test(keys)) ascii = false;
  }
  const shardingKey = m.messageGroup ?? m.shardingKey;
  if (shardingKey !== undefined) {
    if (typeof shardingKey !== "string" || shardingKey.length === 0)
      throw new ClientError("messageGroup / shardingKey must be a non-empty string");
    if (!checkText(shardingKey, "messageGroup")) ascii = false;
    // RocketMQ 5's spelling; queue selection itself happens in the producer.
    props.__SHARDINGKEY = shardingKey;
  }
  const deliverAt =
    m.deliveryTimestamp !== undefined || m.delay !== undefined ? deliverAtOf(m, now) : undefined;
  if (deliverAt !== undefined) {
    if (shardingKey !== undefined)
      throw new ClientError("delay/deliveryTimestamp is mutually exclusive with messageGroup");
    props[MessageConst.TIMER_DELIVER_MS] = String(Math.floor(deliverAt));
    unbatchable = true;
  }
  if (m.delayLevel !== undefined) {
    if (!Number.isInteger(m.delayLevel) || m.delayLevel < 0)
      throw new ClientError("delayLevel must be an integer >= 0");
    if (m.delayLevel > 0) {
      props[MessageConst.DELAY_TIME_LEVEL] = String(m.delayLevel);
      unbatchable = true;
    }
  }
  const flag = m.flag ?? 0;
  if (!Number.isInteger(flag)) throw new ClientError("flag must be an integer");
  const uniqId = createUniqId(now);
  props[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX] = uniqId;
  props[MessageConst.WAIT_STORE_MSG_OK] = "true";
  const asciiPropertiesBytes = ascii ? asciiBytesWithoutWait(props) : -1;
  return { topic, body, flag, properties: props, uniqId, shardingKey, unbatchable, asciiPropertiesBytes };
}
