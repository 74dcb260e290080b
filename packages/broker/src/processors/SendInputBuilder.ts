import {
  encodeProperties,
  MAX_PROPERTIES_BYTES,
  MessageConst,
  MessageSysFlag,
  NAME_VALUE_SEPARATOR,
  PROPERTY_SEPARATOR,
  type RemotingCommand,
  ResponseCode,
  type SendMessageRequestHeader,
  setOwn,
  type TopicConfig,
  tagsHashCode,
  toStorableIPv4,
  transactionType,
} from "@tidemq/protocol";
import type { Connection } from "@tidemq/remoting";
import type { MessageInput } from "@tidemq/store";
import type { BrokerContext } from "../context.js";
import { interceptTimer, refuseBatchTimer } from "../timer/timerSend.js";
import type { HalfFacts } from "../transaction/HalfMessage.js";
import { fail } from "./responses.js";
import { NO_PROPERTIES, type SendProperties, scanBatchBody, scanSendProperties } from "./sendProperties.js";

/** Most entries one SEND_BATCH_MESSAGE may carry. */
export const MAX_BATCH_ENTRIES = 10_000;

/** A send request made ready for the store: its inputs and what the response reports. */
export interface Prepared {
  inputs: MessageInput[];
  requestedQueueId: number;
  /** A timer message's RECALL_MESSAGE handle (send response header recallHandle). */
  recallHandle?: string;
  /** A transaction half (kept in memory for its END_TRANSACTION once stored). */
  half?: boolean;
  /** What halfMessage noted of the half's properties (for RecentHalves). */
  halfFacts?: HalfFacts;
}

/**
 * Steps 6–10 of spec §4.1 for a send that passed the topic and queue checks: the stored
 * sysFlag, body and properties limits, and the store inputs themselves — built from the
 * request's bytes without an intermediate properties object on the common paths. Timers and
 * delay levels are re-addressed here (timer/timerSend, schedule/DelayLevelRouter).
 */
export class SendInputBuilder {
  private readonly bornHosts = new WeakMap<Connection, { host: string; port: number }>();
  /** The last batch request's properties, worked out (producers repeat the same text). */
  private lastBatchProps: BatchRequestProperties | undefined;
  private clusterPairFor: string | undefined;
  private clusterPairBytes = Buffer.alloc(0);

  constructor(private readonly ctx: BrokerContext) {}

  /** Step 6: the stored sysFlag (delay levels and timers are re-addressed by single(), not flagged). */
  private storedSysFlag(header: SendMessageRequestHeader, storeTopic: TopicConfig): number {
    let sysFlag = header.sysFlag;
    if (storeTopic.topicFilterType === "MULTI_TAG") sysFlag |= MessageSysFlag.MULTI_TAGS;
    // A half was re-addressed by halfMessage; other messages never store transaction bits.
    if (transactionType(sysFlag) !== 0) sysFlag &= ~MessageSysFlag.TRANSACTION_ROLLBACK_TYPE;
    return sysFlag;
  }

  /** Step 7's body size check. */
  private checkedBody(request: RemotingCommand): Buffer {
    const { config } = this.ctx;
    const body = request.body ?? EMPTY_BODY;
    if (body.length > config.maxMessageSize) {
      fail(
        ResponseCode.MESSAGE_ILLEGAL,
        `the message body size ${body.length} bytes exceeds maxMessageSize ${config.maxMessageSize} of broker ${config.brokerName}`,
      );
    }
    return body;
  }

  /**
   * Steps 6–9 for one message: its stored properties come from one scan of the request's
   * properties text (no object, no second encoding).
   */
  single(
    request: RemotingCommand,
    header: SendMessageRequestHeader,
    conn: Connection,
    storeTopic: TopicConfig,
    queueId: number,
  ): Prepared {
    const scanned = scanSendProperties(header.properties);
    const sysFlag = this.storedSysFlag(header, storeTopic);
    const body = this.checkedBody(request);
    const cluster = this.clusterPair();
    // At most 3 UTF-8 bytes a UTF-16 unit: count exactly only when even that bound is too big.
    if (3 * scanned.pairs.length + cluster.length > MAX_PROPERTIES_BYTES) {
      checkPropertiesBytes(Buffer.byteLength(scanned.pairs, "utf8") + cluster.length);
    }
    // One literal shape for every MessageInput (the store reads them in a hot loop).
    const input: MessageInput = {
      topic: storeTopic.topicName,
      queueId,
      flag: header.flag,
      body,
      properties: NO_PROPERTIES,
      sysFlag,
      bornTimestamp: header.bornTimestamp,
      bornHost: this.bornHostOf(conn),
      reconsumeTimes: header.reconsumeTimes ?? 0,
      preparedTransactionOffset: 0,
      tagsCode: scanned.tagsCode ?? 0,
      encodedProperties: scanned.pairs,
      encodedPropertiesSuffix: cluster,
      keys: scanned.keys,
      uniqKey: scanned.uniqKey,
    };
    // A timer property moves the message to the timer topic first (a timer wins over a delay
    // level); the delay router leaves any message with a timer property alone.
    const recallHandle = interceptTimer(this.ctx.config, scanned, input);
    // A delay level parks the message in SCHEDULE_TOPIC_XXXX (transaction halves and timers are not the router's).
    if (scanned.delay !== undefined) {
      const schedule = this.ctx.schedule;
      // Only contexts built by unit tests lack the service: refuse rather than deliver at once.
      if (schedule === undefined && Number(scanned.delay) > 0) {
        fail(ResponseCode.MESSAGE_ILLEGAL, "delay levels are not served by this broker context");
      }
      schedule?.router.route(input, scanned);
    }
    return { inputs: [input], requestedQueueId: queueId, recallHandle };
  }

  /**
   * Steps 6–9 for a batch: entries become store inputs straight from the body's bytes; the
   * request's own properties (parsed once per distinct text) are appended to each entry's.
   */
  batch(
    request: RemotingCommand,
    header: SendMessageRequestHeader,
    conn: Connection,
    storeTopic: TopicConfig,
    queueId: number,
  ): Prepared {
    const req = this.batchRequestProperties(header.properties);
    if (Number(req.picked.delay ?? 0) > 0) {
      fail(ResponseCode.MESSAGE_ILLEGAL, "a batch message cannot carry a delay level");
    }
    refuseBatchTimer(req.picked);
    const sysFlag = this.storedSysFlag(header, storeTopic);
    const inputs = scanBatchBody(this.checkedBody(request), req.suffix, MAX_BATCH_ENTRIES, {
      topic: storeTopic.topicName,
      queueId,
      sysFlag,
      bornTimestamp: header.bornTimestamp,
      bornHost: this.bornHostOf(conn),
      reconsumeTimes: header.reconsumeTimes ?? 0,
    });
    // The request's own TAGS / KEYS / UNIQ_KEY, if any, win over each entry's (stored after them).
    const { tagsCode, keys, uniqKey } = req.picked;
    if (tagsCode !== undefined || keys !== undefined || uniqKey !== undefined) {
      for (const m of inputs) {
        if (tagsCode !== undefined) m.tagsCode = tagsCode;
        if (keys !== undefined) m.keys = keys;
        if (uniqKey !== undefined) m.uniqKey = uniqKey;
      }
    }
    return { inputs, requestedQueueId: queueId };
  }

  /** This broker's CLUSTER pair, stored after every single message's properties. */
  clusterPair(): Buffer {
    const cluster = this.ctx.config.brokerClusterName;
    if (this.clusterPairFor !== cluster) {
      this.clusterPairBytes = Buffer.from(`CLUSTER\u0001${cluster}\u0002`, "utf8");
      this.clusterPairFor = cluster;
    }
    return this.clusterPairBytes;
  }

  /** A batch request's stored properties as bytes to append to each entry's (last text cached). */
  private batchRequestProperties(text: string | undefined): BatchRequestProperties {
    const key = text ?? "";
    if (this.lastBatchProps?.text !== key) {
      const props = storedProperties(text, this.ctx.config.brokerClusterName);
      const encoded = encodeProperties(props);
      const suffix = Buffer.from(encoded, "utf8");
      checkPropertiesBytes(suffix.length);
      this.lastBatchProps = { text: key, suffix, picked: scanSendProperties(encoded) };
    }
    return this.lastBatchProps;
  }

  /** Steps 6–9 from a properties object (retry topics and the DLQ, rare). */
  fromObject(
    request: RemotingCommand,
    header: SendMessageRequestHeader,
    conn: Connection,
    storeTopic: TopicConfig,
    queueId: number,
    props: Record<string, string>,
  ): Prepared {
    const sysFlag = this.storedSysFlag(header, storeTopic);
    const body = this.checkedBody(request);
    checkProperties(props);
    const input: MessageInput = {
      topic: storeTopic.topicName,
      queueId,
      flag: header.flag,
      body,
      properties: props,
      sysFlag,
      bornTimestamp: header.bornTimestamp,
      bornHost: this.bornHostOf(conn),
      reconsumeTimes: header.reconsumeTimes ?? 0,
      preparedTransactionOffset: 0,
      tagsCode: tagsHashCode(props.TAGS),
    };
    return { inputs: [input], requestedQueueId: queueId };
  }

  /** The connection's address as stored (IPv4), worked out once per connection. */
  bornHostOf(conn: Connection): { host: string; port: number } {
    let h = this.bornHosts.get(conn);
    if (!h) {
      h = { host: toStorableIPv4(conn.remoteAddress), port: conn.remotePort };
      this.bornHosts.set(conn, h);
    }
    return h;
  }
}

/**
 * The request's properties as stored: parsed as parseProperties does, without WAIT, with
 * CLUSTER set to this cluster (in place when the producer sent one, else appended).
 */
export function storedProperties(text: string | undefined, cluster: string): Record<string, string> {
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

interface BatchRequestProperties {
  /** The request's properties text this was worked out from. */
  text: string;
  /** Its stored pairs (CLUSTER set, WAIT left out) as UTF-8, appended to every entry's. */
  suffix: Buffer;
  picked: SendProperties;
}

const EMPTY_BODY = Buffer.alloc(0);

function checkProperties(props: Record<string, string>): void {
  checkPropertiesBytes(Buffer.byteLength(encodeProperties(props), "utf8"));
}

function checkPropertiesBytes(len: number): void {
  if (len > MAX_PROPERTIES_BYTES) {
    fail(
      ResponseCode.MESSAGE_ILLEGAL,
      `the message properties take ${len} bytes; at most ${MAX_PROPERTIES_BYTES}`,
    );
  }
}
