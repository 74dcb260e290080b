/**
 * Message lookup: a stored message by its offset message id, messages of a topic by key
 * or unique key, a message's trace timeline, and reading a queue from an offset without
 * committing anything (mqadmin queryMsgById / queryMsgByKey / queryMsgTraceById, tools
 * consumer). Layered on OffsetAdmin; GroupAdmin uses the lookups to consume a message directly.
 */
import {
  decodeMessage,
  decodeMessages,
  decodeOffsetMsgId,
  formatHostPort,
  type MessageExt,
  type MessageQueue,
  PullSysFlag,
  RequestCode,
  ResponseCode,
} from "@tidemq/protocol";
import { ClientError } from "./errors.js";
import { OffsetAdmin } from "./OffsetAdmin.js";
import { DEFAULT_TRACE_TOPIC } from "./trace/Tracer.js";
import { buildTraceTimeline, type TraceTimeline } from "./trace/TraceTimeline.js";

/** Messages: view by id, query by key, trace timeline, uncommitted reads of a queue. */
export class MessageAdmin extends OffsetAdmin {
  /** A stored message by its offset message id (VIEW_MESSAGE_BY_ID to the broker inside the id). */
  async viewMessage(offsetMsgId: string): Promise<MessageExt> {
    const { storeHost, commitLogOffset } = decodeOffsetMsgId(offsetMsgId);
    const res = await this.api.call(
      formatHostPort(storeHost),
      RequestCode.VIEW_MESSAGE_BY_ID,
      { offset: commitLogOffset },
      undefined,
    );
    if (!res.body) throw new ClientError(`message ${offsetMsgId}: empty answer`);
    return decodeMessage(res.body, 0, { decompressBody: true });
  }

  /** Messages of a topic by key (or by UNIQ_KEY with `uniqueKey`), from every broker of the topic. */
  async queryMessage(
    topic: string,
    key: string,
    o: { maxNum?: number; begin?: number; end?: number; uniqueKey?: boolean } = {},
  ): Promise<MessageExt[]> {
    const route = await this.getTopicRoute(topic);
    const out: MessageExt[] = [];
    for (const bd of route.brokerDatas) {
      const addr = bd.brokerAddrs["0"] ?? Object.values(bd.brokerAddrs)[0];
      if (!addr) continue;
      const res = await this.api.call(
        addr,
        RequestCode.QUERY_MESSAGE,
        {
          topic,
          key,
          maxNum: o.maxNum ?? 64,
          beginTimestamp: o.begin ?? 0,
          endTimestamp: o.end ?? Number.MAX_SAFE_INTEGER,
          _UNIQUE_KEY_QUERY: o.uniqueKey ? true : undefined,
        },
        undefined,
        { ok: [ResponseCode.SUCCESS, ResponseCode.QUERY_NOT_FOUND] },
      );
      if (res.code !== ResponseCode.SUCCESS || !res.body) continue;
      for (const m of decodeMessages(res.body, { decompressBody: true })) {
        const keys = (m.properties.KEYS ?? "").split(" ");
        if (o.uniqueKey ? m.properties.UNIQ_KEY === key : keys.includes(key)) out.push(m);
      }
    }
    return out;
  }

  /**
   * The trace timeline of a message (mqadmin queryMsgTraceById): trace messages indexed under
   * the msgId in the trace topic, decoded (our client's and Java clients' records alike).
   */
  async queryTrace(msgId: string, traceTopic = DEFAULT_TRACE_TOPIC): Promise<TraceTimeline> {
    const found = await this.queryMessage(traceTopic, msgId, { maxNum: 64 });
    return buildTraceTimeline(
      msgId,
      found.map((m) => ({
        body: m.body.toString("utf8"),
        bornHost: formatHostPort(m.bornHost),
        storeTimestamp: Number(m.storeTimestamp),
      })),
    );
  }

  /**
   * Reads up to `maxNums` messages of one queue from `offset` without committing anything
   * (PULL_MESSAGE with a "*" subscription and no commit flag, as mqadmin's tools consumer
   * reads). `consumerGroup` is the group the broker checks the pull against.
   */
  async pullMessages(
    brokerAddr: string,
    mq: MessageQueue,
    offset: number,
    maxNums: number,
    consumerGroup = "TOOLS_CONSUMER",
  ): Promise<{ messages: MessageExt[]; nextBeginOffset: number; minOffset: number; maxOffset: number }> {
    const raw = await this.api.pullMessage(
      brokerAddr,
      {
        consumerGroup,
        topic: mq.topic,
        queueId: mq.queueId,
        queueOffset: offset,
        maxMsgNums: maxNums,
        sysFlag: PullSysFlag.SUBSCRIPTION,
        commitOffset: 0,
        suspendTimeoutMillis: 0,
        subscription: "*",
        subVersion: Date.now(),
      },
      this.options.requestTimeout,
    );
    const messages =
      raw.code === ResponseCode.SUCCESS && raw.body ? decodeMessages(raw.body, { decompressBody: true }) : [];
    return {
      messages,
      nextBeginOffset: raw.nextBeginOffset,
      minOffset: raw.minOffset,
      maxOffset: raw.maxOffset,
    };
  }
}
