import { MessageFormatError } from "./errors.js";

/** Property name/value separator (\u0001) and pair separator (\u0002), spec §7.4. */
export const NAME_VALUE_SEPARATOR = "\u0001";
export const PROPERTY_SEPARATOR = "\u0002";

/** Property keys with meaning to brokers and clients (spec §7.5). */
export const MessageConst = {
  KEYS: "KEYS",
  TAGS: "TAGS",
  WAIT_STORE_MSG_OK: "WAIT",
  DELAY_TIME_LEVEL: "DELAY",
  RETRY_TOPIC: "RETRY_TOPIC",
  REAL_TOPIC: "REAL_TOPIC",
  REAL_QUEUE_ID: "REAL_QID",
  TRANSACTION_PREPARED: "TRAN_MSG",
  PRODUCER_GROUP: "PGROUP",
  MIN_OFFSET: "MIN_OFFSET",
  MAX_OFFSET: "MAX_OFFSET",
  BUYER_ID: "BUYER_ID",
  ORIGIN_MESSAGE_ID: "ORIGIN_MESSAGE_ID",
  RECONSUME_TIME: "RECONSUME_TIME",
  MAX_RECONSUME_TIMES: "MAX_RECONSUME_TIMES",
  MSG_REGION: "MSG_REGION",
  TRACE_SWITCH: "TRACE_ON",
  UNIQ_CLIENT_MESSAGE_ID_KEYIDX: "UNIQ_KEY",
  CONSUME_START_TIME: "CONSUME_START_TIME",
  TRANSACTION_PREPARED_QUEUE_OFFSET: "TRAN_PREPARED_QUEUE_OFFSET",
  TRANSACTION_CHECK_TIMES: "TRANSACTION_CHECK_TIMES",
  CHECK_IMMUNITY_TIME_IN_SECONDS: "CHECK_IMMUNITY_TIME_IN_SECONDS",
  INSTANCE_ID: "INSTANCE_ID",
  CLUSTER: "CLUSTER",
  START_DELIVER_TIME: "__STARTDELIVERTIME",
  SHARDING_KEY: "__SHARDING_KEY",
  TIMER_DELIVER_MS: "TIMER_DELIVER_MS",
  TIMER_DELAY_SEC: "TIMER_DELAY_SEC",
  TIMER_DELAY_MS: "TIMER_DELAY_MS",
  /** Due time of a stored timer message (set by the broker). */
  TIMER_OUT_MS: "TIMER_OUT_MS",
  /** On a recall marker: the UNIQ_KEY of the timer message it cancels. */
  TIMER_DEL_UNIQKEY: "TIMER_DEL_UNIQKEY",
} as const;

export type Properties = Record<string, string>;

/**
 * Sets an own property even for the key "__proto__" (a plain assignment would change the
 * prototype or be ignored), so names that come off the wire never touch Object.prototype.
 */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  if (key === "__proto__") {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

/**
 * Encodes properties as name\u0001value\u0002 pairs. Like ali-ons and Java ≤ 4.9.0 we end
 * with the separator; every parser we know accepts both forms. Null/undefined values and
 * empty names are skipped, and so is the property named `omit` (a batch entry leaves out
 * WAIT, which only the request's own properties carry). A name containing either
 * separator, or a value containing \u0002, would silently turn into other properties on
 * the other side, so it throws. Runs once per message: for-in, no entries array.
 */
export function encodeProperties(props: Properties | undefined, omit?: string): string {
  if (!props) return "";
  let s = "";
  for (const k in props) {
    if (!Object.hasOwn(props, k) || k.length === 0 || k === omit) continue;
    const v: unknown = props[k];
    if (v === undefined || v === null) continue;
    const value = typeof v === "string" ? v : String(v);
    if (
      k.includes(NAME_VALUE_SEPARATOR) ||
      k.includes(PROPERTY_SEPARATOR) ||
      value.includes(PROPERTY_SEPARATOR)
    ) {
      throw new MessageFormatError(
        `property ${JSON.stringify(k)} contains a separator character (\\u0001/\\u0002)`,
      );
    }
    s += k + NAME_VALUE_SEPARATOR + value + PROPERTY_SEPARATOR;
  }
  return s;
}

/**
 * Parses a properties string the way Java 4.9.8 does: split on \u0002, the first \u0001
 * separates name and value; empty segments and empty names are dropped. Unlike Java we
 * keep empty values, since ali-ons may send them and they round-trip harmlessly.
 */
export function parseProperties(s: string | undefined): Properties {
  const out: Properties = {};
  if (!s) return out;
  for (const segment of s.split(PROPERTY_SEPARATOR)) {
    if (segment.length === 0) continue;
    const i = segment.indexOf(NAME_VALUE_SEPARATOR);
    if (i <= 0) continue;
    setOwn(out, segment.slice(0, i), segment.slice(i + 1));
  }
  return out;
}

/** Business keys of a message: the KEYS property split on spaces. */
export function messageKeys(props: Properties): string[] {
  const keys = props[MessageConst.KEYS];
  return keys ? keys.split(" ").filter((k) => k.length > 0) : [];
}
