/**
 * How `tidemq admin` shows one stored message: as JSON (messageJson) and as mqadmin's field block
 * (messageDetail), for queryMsgById and the dead-letter commands. Pure, testable without a cluster.
 */
import { formatHostPort, type MessageExt } from "@tidemq/protocol";
import { bodyForDisplay, formatKeyValues, formatTime } from "./table.js";
import { timerDueFields } from "./timer.js";

export interface MessageJson {
  msgId: string;
  offsetMsgId: string;
  topic: string;
  tags: string | null;
  keys: string | null;
  queueId: number;
  queueOffset: number;
  commitLogOffset: number;
  reconsumeTimes: number;
  bornTimestamp: number;
  storeTimestamp: number;
  bornHost: string;
  storeHost: string;
  sysFlag: number;
  flag: number;
  bodyCRC: number;
  properties: Record<string, string>;
  body: string;
  bodyEncoding: "utf8" | "base64";
}

/** A stored message as JSON: msgId is the client id (UNIQ_KEY) when the producer set one. */
export function messageJson(m: MessageExt): MessageJson {
  const body = bodyForDisplay(m.body);
  return {
    msgId: m.properties.UNIQ_KEY || m.msgId,
    offsetMsgId: m.msgId,
    topic: m.topic,
    tags: m.properties.TAGS ?? null,
    keys: m.properties.KEYS ?? null,
    queueId: m.queueId,
    queueOffset: m.queueOffset,
    commitLogOffset: m.commitLogOffset,
    reconsumeTimes: m.reconsumeTimes,
    bornTimestamp: m.bornTimestamp,
    storeTimestamp: m.storeTimestamp,
    bornHost: formatHostPort(m.bornHost),
    storeHost: formatHostPort(m.storeHost),
    sysFlag: m.sysFlag,
    flag: m.flag,
    bodyCRC: m.bodyCRC,
    properties: { ...m.properties },
    body: body.text,
    bodyEncoding: body.encoding,
  };
}

/** The field block mqadmin queryMsgById prints, with the body inline instead of in a file. */
export function messageDetail(m: MessageJson): string {
  return formatKeyValues([
    ["OffsetID", m.offsetMsgId],
    ["MsgId", m.msgId],
    ["Topic", m.topic],
    ["Tags", `[${m.tags ?? ""}]`],
    ["Keys", `[${m.keys ?? ""}]`],
    ["Queue ID", m.queueId],
    ["Queue Offset", m.queueOffset],
    ["CommitLog Offset", m.commitLogOffset],
    ["Reconsume Times", m.reconsumeTimes],
    ["Born Timestamp", formatTime(m.bornTimestamp)],
    ["Store Timestamp", formatTime(m.storeTimestamp)],
    ["Born Host", m.bornHost],
    ["Store Host", m.storeHost],
    ["System Flag", m.sysFlag],
    // A delayed message (SCHEDULE_TOPIC_XXXX): when it is due in its real topic.
    ...(m.properties.DELAY_DUE_MS
      ? [
          [
            "Due Time",
            `${formatTime(Number(m.properties.DELAY_DUE_MS))} (to ${m.properties.REAL_TOPIC ?? "?"})`,
          ] as [string, string],
        ]
      : []),
    ...timerDueFields(m),
    ["Properties", JSON.stringify(m.properties)],
    [m.bodyEncoding === "utf8" ? "Message Body" : "Message Body (base64)", m.body],
  ]);
}
