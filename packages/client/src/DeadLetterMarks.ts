import {
  decodeMessages,
  encodeProperties,
  MessageConst,
  PullSysFlag,
  RequestCode,
  sendHeaderToV2,
} from "@tidemq/protocol";
import type { Admin } from "./Admin.js";

/**
 * What was resent from a group's dead letters. The DLQ is a log (a dead letter cannot be
 * changed), so each resend appends a marker record to `%DLQ_RESENT%<group>` on the broker
 * that holds the dead letter: KEYS = the dead letter's offset message id, body = JSON
 * { dlq, copy, at }. A later resend skips marked dead letters unless forced, and list/show
 * print when and as what one was resent. The marker is written after the copy is stored:
 * a crash between the two leaves a resent letter unmarked (a later resend sends it again:
 * at least once, never lost).
 */

export const resentTopicOf = (group: string): string => `%DLQ_RESENT%${group}`;

/** One resend of a dead letter. */
export interface ResentMark {
  /** Offset message id of the dead letter. */
  dlq: string;
  /** Offset message id of the copy stored in %RETRY%<group>. */
  copy: string;
  /** When it was resent (epoch ms). */
  at: number;
}

/** Markers read at most per broker (a bound on the scan; newer ones win). */
export const MAX_RESENT_MARKS = 100_000;
const PULL_BATCH = 64;
const MARK_GROUP = "TOOLS_DLQ_RESEND";

/**
 * The group's resend markers on these brokers, by dead letter (the latest resend of each).
 * A broker without the marker topic has none.
 */
export async function resentMarks(
  admin: Admin,
  group: string,
  brokerAddrs: Iterable<string>,
): Promise<Map<string, ResentMark>> {
  const marks = new Map<string, ResentMark>();
  const topic = resentTopicOf(group);
  for (const addr of new Set(brokerAddrs)) {
    const mq = { topic, brokerName: "", queueId: 0 };
    let min: number;
    let max: number;
    try {
      [min, max] = await Promise.all([admin.getMinOffset(addr, mq), admin.getMaxOffset(addr, mq)]);
    } catch {
      continue; // no marker topic there: nothing was resent from this broker
    }
    let offset = Math.max(min, max - MAX_RESENT_MARKS);
    // Each round advances the offset or stops; the count bound holds the total.
    for (let guard = 0; offset < max && guard <= MAX_RESENT_MARKS; guard++) {
      const r = await pullQueue(admin, addr, `${MARK_GROUP}_${group}`, topic, 0, offset, PULL_BATCH);
      const msgs = r.messages;
      for (const m of msgs) {
        const mark = parseMark(m.body);
        if (mark) marks.set(mark.dlq, mark);
      }
      if (msgs.length === 0 || !(r.next > offset)) break;
      offset = r.next;
    }
  }
  return marks;
}

function parseMark(body: Buffer): ResentMark | undefined {
  try {
    const v = JSON.parse(body.toString("utf8")) as Partial<ResentMark>;
    if (typeof v.dlq === "string" && typeof v.copy === "string" && typeof v.at === "number") {
      return { dlq: v.dlq, copy: v.copy, at: v.at };
    }
  } catch {
    // not a marker of ours: ignored
  }
  return undefined;
}

/** Brokers where this call made sure the marker topic exists. */
const ensured = new WeakMap<Admin, Set<string>>();

/** Appends the marker of one resend to the broker that holds the dead letter. */
export async function markResent(
  admin: Admin,
  brokerAddr: string,
  group: string,
  mark: ResentMark,
): Promise<void> {
  const topic = resentTopicOf(group);
  let done = ensured.get(admin);
  if (!done) {
    done = new Set();
    ensured.set(admin, done);
  }
  const key = `${brokerAddr}\u0001${topic}`;
  if (!done.has(key)) {
    await admin.createTopic({ topic, brokerAddr, readQueueNums: 1, writeQueueNums: 1 });
    done.add(key);
  }
  const header = sendHeaderToV2({
    producerGroup: MARK_GROUP,
    topic,
    defaultTopic: "TBW102",
    defaultTopicQueueNums: 1,
    queueId: 0,
    sysFlag: 0,
    bornTimestamp: Date.now(),
    flag: 0,
    properties: encodeProperties({ [MessageConst.KEYS]: mark.dlq }),
    reconsumeTimes: 0,
    unitMode: false,
  });
  await admin.api.call(brokerAddr, RequestCode.SEND_MESSAGE_V2, header, Buffer.from(JSON.stringify(mark)), {
    what: () => `marking dead letter ${mark.dlq} as resent`,
  });
}

/** One pull of up to `n` records of a queue from `offset`, outside any consumer (admin reads). */
export async function pullQueue(
  admin: Admin,
  brokerAddr: string,
  consumerGroup: string,
  topic: string,
  queueId: number,
  offset: number,
  n: number,
) {
  const r = await admin.api.pullMessage(
    brokerAddr,
    {
      consumerGroup: consumerGroup.slice(0, 255),
      topic,
      queueId,
      queueOffset: offset,
      maxMsgNums: n,
      sysFlag: PullSysFlag.SUBSCRIPTION,
      commitOffset: 0,
      suspendTimeoutMillis: 0,
      subscription: "*",
      subVersion: 0,
    },
    10_000,
  );
  return { messages: r.code === 0 && r.body ? decodeMessages(r.body) : [], next: r.nextBeginOffset };
}
