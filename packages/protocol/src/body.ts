import { deflateSync, inflateSync } from "node:zlib";
import { MessageFormatError } from "./errors.js";
import { setOwn } from "./properties.js";

/** JSON bodies of the protocol (spec §3, §4, §6), in RocketMQ's field names. */

/** Topic / broker permission bits (spec §8.1). */
export const Perm = { PRIORITY: 8, READ: 4, WRITE: 2, INHERIT: 1 } as const;
export function isReadable(perm: number): boolean {
  return (perm & Perm.READ) !== 0;
}
export function isWriteable(perm: number): boolean {
  return (perm & Perm.WRITE) !== 0;
}
export function isInherited(perm: number): boolean {
  return (perm & Perm.INHERIT) !== 0;
}
export function permToString(perm: number): string {
  return `${isReadable(perm) ? "R" : "-"}${isWriteable(perm) ? "W" : "-"}${isInherited(perm) ? "X" : "-"}`;
}

export interface QueueData {
  brokerName: string;
  readQueueNums: number;
  writeQueueNums: number;
  perm: number;
  topicSysFlag: number;
}

export interface BrokerData {
  cluster: string;
  brokerName: string;
  /** brokerId ("0" = master) → "ip:port". */
  brokerAddrs: Record<string, string>;
}

export interface TopicRouteData {
  orderTopicConf?: string;
  queueDatas: QueueData[];
  brokerDatas: BrokerData[];
  filterServerTable: Record<string, string[]>;
}

export interface ClusterInfo {
  brokerAddrTable: Record<string, BrokerData>;
  clusterAddrTable: Record<string, string[]>;
}

export type TopicFilterType = "SINGLE_TAG" | "MULTI_TAG";

export interface TopicConfig {
  topicName: string;
  readQueueNums: number;
  writeQueueNums: number;
  perm: number;
  topicFilterType: TopicFilterType;
  topicSysFlag: number;
  order: boolean;
}

export interface DataVersion {
  timestamp: number;
  counter: number;
}

export interface TopicConfigSerializeWrapper {
  topicConfigTable: Record<string, TopicConfig>;
  dataVersion: DataVersion;
}

export interface RegisterBrokerBody {
  topicConfigSerializeWrapper: TopicConfigSerializeWrapper;
  filterServerList: string[];
}

export interface TopicList {
  topicList: string[];
  brokerAddr?: string;
}

export interface KVTable {
  table: Record<string, string>;
}

export function encodeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), "utf8");
}

/** Parses a JSON body; accepts fastjson's unquoted numeric keys (`{0:"a"}`). */
export function decodeJson<T>(body: Buffer | undefined, what: string): T {
  if (!body || body.length === 0) throw new MessageFormatError(`${what}: the body is empty`);
  const text = body.toString("utf8");
  try {
    return JSON.parse(text) as T;
  } catch {
    try {
      return JSON.parse(quoteNumericKeys(text)) as T;
    } catch (err) {
      throw new MessageFormatError(`${what}: the body is not JSON (${(err as Error).message})`);
    }
  }
}

/**
 * `{0:"x",1:"y"}` → `{"0":"x","1":"y"}`: a number right after `{` or `,` and followed by
 * `:` is a key; string literals are copied untouched. One pass, no per-key copies of the rest.
 */
export function quoteNumericKeys(text: string): string {
  const key = /\s*(-?\d+)\s*:/y;
  const parts: string[] = [];
  let copied = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) {
      inString = true;
      continue;
    }
    if (c !== 0x7b && c !== 0x2c) continue; // "{" or ","
    key.lastIndex = i + 1;
    const m = key.exec(text);
    if (!m) continue;
    const start = i + 1 + m[0].indexOf(m[1]!);
    parts.push(text.slice(copied, start), `"${m[1]}"`);
    copied = start + m[1]!.length;
    i = copied - 1;
  }
  parts.push(text.slice(copied));
  return parts.join("");
}

/**
 * fastjson writes maps keyed by objects (MessageQueue) as `{{"brokerName":…}:value}`;
 * Java tools read nothing else (spec §1.9). `entries` are written in that form.
 */
export function encodeObjectKeyMap(entries: Array<[object, unknown]>): string {
  return `{${entries.map(([k, v]) => `${JSON.stringify(sortKeys(k))}:${JSON.stringify(v)}`).join(",")}}`;
}

/** Parses a map written with object keys back into [key, value] pairs. */
export function decodeObjectKeyMap<K, V>(text: string): Array<[K, V]> {
  const out: Array<[K, V]> = [];
  let i = text.indexOf("{") + 1;
  const skipWs = () => {
    while (i < text.length && /\s|,/.test(text[i]!)) i++;
  };
  const readValue = (): string => {
    const start = i;
    let depth = 0;
    let inString = false;
    for (; i < text.length; i++) {
      const c = text[i]!;
      if (inString) {
        if (c === "\\") i++;
        else if (c === '"') inString = false;
        continue;
      }
      if (c === '"') inString = true;
      else if (c === "{" || c === "[") depth++;
      else if (c === "}" || c === "]") {
        if (depth === 0) break;
        depth--;
        if (depth === 0 && (text[start] === "{" || text[start] === "[")) {
          i++;
          break;
        }
      } else if ((c === "," || c === ":") && depth === 0) break;
    }
    return text.slice(start, i).trim();
  };
  for (;;) {
    skipWs();
    if (i >= text.length || text[i] === "}") break;
    const key = readValue();
    skipWs();
    if (text[i] !== ":") throw new MessageFormatError("object-key map: expected ':'");
    i++;
    skipWs();
    const value = readValue();
    try {
      out.push([JSON.parse(key) as K, JSON.parse(value) as V]);
    } catch (err) {
      throw new MessageFormatError(`object-key map: ${(err as Error).message}`);
    }
  }
  return out;
}

function sortKeys(o: object): object {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

// ---- REGISTER_BROKER body (spec §3.1) ----

/** Cap on the inflated compressed REGISTER_BROKER body (tens of thousands of topics fit easily). */
export const MAX_REGISTER_BODY_BYTES = 64 * 1024 * 1024;

/** Encodes a RegisterBrokerBody, as JSON or in the compressed binary form. */
export function encodeRegisterBrokerBody(body: RegisterBrokerBody, compressed: boolean): Buffer {
  if (!compressed) return encodeJson(body);
  const parts: Buffer[] = [];
  const pushBlock = (b: Buffer) => {
    const len = Buffer.allocUnsafe(4);
    len.writeInt32BE(b.length, 0);
    parts.push(len, b);
  };
  pushBlock(encodeJson(body.topicConfigSerializeWrapper.dataVersion));
  const topics = Object.values(body.topicConfigSerializeWrapper.topicConfigTable);
  const count = Buffer.allocUnsafe(4);
  count.writeInt32BE(topics.length, 0);
  parts.push(count);
  for (const t of topics) {
    pushBlock(
      Buffer.from(
        `${t.topicName} ${t.readQueueNums} ${t.writeQueueNums} ${t.perm} ${t.topicFilterType}`,
        "utf8",
      ),
    );
  }
  pushBlock(encodeJson(body.filterServerList));
  return deflateSync(Buffer.concat(parts));
}

/** Decodes either form of RegisterBrokerBody; an absent body means no topics, version 0/0. */
export function decodeRegisterBrokerBody(raw: Buffer | undefined, compressed: boolean): RegisterBrokerBody {
  if (!raw || raw.length === 0) {
    return {
      topicConfigSerializeWrapper: { topicConfigTable: {}, dataVersion: { timestamp: 0, counter: 0 } },
      filterServerList: [],
    };
  }
  if (!compressed) {
    const body = decodeJson<Partial<RegisterBrokerBody> & Partial<TopicConfigSerializeWrapper>>(
      raw,
      "register body",
    );
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new MessageFormatError("register body is not a JSON object");
    }
    // Brokers older than V3_0_11 send a bare TopicConfigSerializeWrapper.
    const wrapper = body.topicConfigSerializeWrapper ?? {
      topicConfigTable: body.topicConfigTable ?? {},
      dataVersion: body.dataVersion ?? { timestamp: 0, counter: 0 },
    };
    return {
      topicConfigSerializeWrapper: {
        topicConfigTable: wrapper.topicConfigTable ?? {},
        dataVersion: wrapper.dataVersion ?? { timestamp: 0, counter: 0 },
      },
      filterServerList: body.filterServerList ?? [],
    };
  }
  let plain: Buffer;
  try {
    plain = inflateSync(raw, { maxOutputLength: MAX_REGISTER_BODY_BYTES });
  } catch (err) {
    throw new MessageFormatError(`compressed register body does not inflate: ${(err as Error).message}`);
  }
  let p = 0;
  const readBlock = (): Buffer => {
    if (plain.length - p < 4) throw new MessageFormatError("compressed register body is truncated");
    const n = plain.readInt32BE(p);
    p += 4;
    if (n < 0 || plain.length - p < n) throw new MessageFormatError("compressed register body is truncated");
    const b = plain.subarray(p, p + n);
    p += n;
    return b;
  };
  const dataVersion = decodeJson<DataVersion>(readBlock(), "register body data version");
  if (plain.length - p < 4) throw new MessageFormatError("compressed register body is truncated");
  const count = plain.readInt32BE(p);
  p += 4;
  if (count < 0) throw new MessageFormatError(`compressed register body has a negative topic count ${count}`);
  const table: Record<string, TopicConfig> = {};
  for (let i = 0; i < count; i++) {
    const text = readBlock().toString("utf8");
    // "name read write perm filterType" (4.9: exactly 5 tokens; 5.x appends the attributes JSON).
    const tokens = text.split(" ");
    const [topicName, r, w, perm, filter] = tokens as [string, string, string, string, string];
    const ints = [r, w, perm].map((t) => (t !== undefined && /^-?\d+$/.test(t) ? Number(t) : Number.NaN));
    if (tokens.length < 5 || !topicName || ints.some((n) => Number.isNaN(n))) {
      throw new MessageFormatError(`compressed register body has a bad topic config "${text.slice(0, 200)}"`);
    }
    // setOwn: "__proto__" is a legal topic name and must stay a key, not become the prototype.
    setOwn(table, topicName, {
      topicName,
      readQueueNums: ints[0]!,
      writeQueueNums: ints[1]!,
      perm: ints[2]!,
      topicFilterType: filter === "MULTI_TAG" ? "MULTI_TAG" : "SINGLE_TAG",
      // Not carried by the compressed form; Java's TopicConfig.decode leaves the defaults too.
      topicSysFlag: 0,
      order: false,
    });
  }
  const filterServerList =
    p < plain.length ? decodeJson<string[]>(readBlock(), "register body filter servers") : [];
  return { topicConfigSerializeWrapper: { topicConfigTable: table, dataVersion }, filterServerList };
}

// ---- Client bodies (spec §4.4, §4.13) ----
export type ExpressionType = "TAG" | "SQL92";

export interface SubscriptionData {
  classFilterMode?: boolean;
  topic: string;
  subString: string;
  tagsSet: string[];
  codeSet: number[];
  subVersion: number;
  expressionType?: ExpressionType;
}

export type ConsumeType = "CONSUME_PASSIVELY" | "CONSUME_ACTIVELY" | "CONSUME_POP";
export type MessageModel = "CLUSTERING" | "BROADCASTING";

export interface ConsumerData {
  groupName: string;
  consumeType: ConsumeType;
  messageModel: MessageModel;
  consumeFromWhere: string;
  unitMode?: boolean;
  subscriptionDataSet: SubscriptionData[];
}

export interface HeartbeatData {
  clientID: string;
  producerDataSet: Array<{ groupName: string }>;
  consumerDataSet: ConsumerData[];
}

/** Body of UPDATE_AND_CREATE_SUBSCRIPTIONGROUP; the broker keeps one per group (spec §8.3). */
export interface SubscriptionGroupConfig {
  groupName: string;
  consumeEnable: boolean;
  consumeFromMinEnable: boolean;
  consumeBroadcastEnable: boolean;
  retryQueueNums: number;
  retryMaxTimes: number;
  brokerId: number;
  whichBrokerWhenConsumeSlowly: number;
  notifyConsumerIdsChangedEnable: boolean;
}

export interface MessageQueue {
  topic: string;
  brokerName: string;
  queueId: number;
}

export interface LockBatchRequestBody {
  consumerGroup: string;
  clientId: string;
  mqSet: MessageQueue[];
}
