import {
  encodeProperties,
  formatHostPort,
  MessageConst,
  type MessageExt,
  RequestCode,
  sendHeaderToV2,
} from "@tidemq/protocol";
import type { Admin } from "./Admin.js";
import { retryTopicOf } from "./ConsumerBase.js";
import { markResent, pullQueue, type ResentMark, resentMarks } from "./DeadLetterMarks.js";
import { ClientError, NoRouteError } from "./errors.js";

/**
 * Dead letters a person can act on (RocketMQ's mqadmin has no such command): list a group's
 * `%DLQ%<group>`, show one, and resend one, a time range or all of them to `%RETRY%<group>`,
 * so that only that group gets them again. Built on the 4.x protocol (route, offsets, pull,
 * send), so it works against any broker that keeps DLQ topics readable (perm 6).
 */

/** Most dead letters one call reads (a limit on everything; the result says when it was cut). */
export const MAX_DEAD_LETTER_SCAN = 100_000;
const PULL_BATCH = 32;
/** Producer group resends are sent under (visible in producerConnection). */
export const DEAD_LETTER_RESEND_GROUP = "TOOLS_DLQ_RESEND";

export interface DeadLetterQueue {
  brokerName: string;
  brokerAddr: string;
  queueId: number;
  minOffset: number;
  maxOffset: number;
}

export interface DeadLetterSummary {
  group: string;
  topic: string;
  /** Messages stored in the DLQ (all queues, all brokers) still on disk. */
  count: number;
  /** Store time of the oldest / newest dead letter (epoch ms), undefined when there are none. */
  oldest: number | undefined;
  newest: number | undefined;
  queues: DeadLetterQueue[];
}

export interface DeadLetterSelection {
  /** One dead letter by its offset message id (as listed). */
  msgId?: string;
  /** Dead letters stored in [begin, end] (epoch ms, inclusive). */
  begin?: number;
  end?: number;
}

export interface ResendResult {
  /** Dead letters resent to %RETRY%<group>. */
  resent: number;
  /** Dead letters selected but not resent because they were resent before (see `force`). */
  skipped: number;
  /** With a single msgId that was skipped: its earlier resend. */
  previous?: ResentMark;
  /** Dead letters looked at. */
  scanned: number;
  /** True when the scan stopped at MAX_DEAD_LETTER_SCAN. */
  truncated: boolean;
  /** Offset message ids of the new copies in the retry topic. */
  msgIds: string[];
}

export const dlqTopicOf = (group: string): string => `%DLQ%${group}`;

/** The group's DLQ queues with their offsets; [] when the group never dead-lettered a message. */
export async function deadLetterQueues(admin: Admin, group: string): Promise<DeadLetterQueue[]> {
  const topic = dlqTopicOf(group);
  let route: Awaited<ReturnType<Admin["getTopicRoute"]>>;
  try {
    route = await admin.getTopicRoute(topic);
  } catch (err) {
    if (err instanceof NoRouteError) return [];
    throw err;
  }
  const out: DeadLetterQueue[] = [];
  for (const qd of route.queueDatas) {
    const bd = route.brokerDatas.find((b) => b.brokerName === qd.brokerName);
    const brokerAddr = bd?.brokerAddrs["0"];
    if (!brokerAddr) continue;
    for (let queueId = 0; queueId < qd.readQueueNums; queueId++) {
      const mq = { topic, brokerName: qd.brokerName, queueId };
      const [minOffset, maxOffset] = await Promise.all([
        admin.getMinOffset(brokerAddr, mq),
        admin.getMaxOffset(brokerAddr, mq),
      ]);
      out.push({ brokerName: qd.brokerName, brokerAddr, queueId, minOffset, maxOffset });
    }
  }
  return out;
}

/** Count, oldest and newest of a group's dead letters. */
export async function deadLetterSummary(admin: Admin, group: string): Promise<DeadLetterSummary> {
  const queues = await deadLetterQueues(admin, group);
  let count = 0;
  let oldest: number | undefined;
  let newest: number | undefined;
  for (const q of queues) {
    if (q.maxOffset <= q.minOffset) continue;
    count += q.maxOffset - q.minOffset;
    const [first] = (await pullAt(admin, q, group, q.minOffset, 1)).messages;
    const [last] = (await pullAt(admin, q, group, q.maxOffset - 1, 1)).messages;
    if (first) oldest = Math.min(oldest ?? first.storeTimestamp, first.storeTimestamp);
    if (last) newest = Math.max(newest ?? last.storeTimestamp, last.storeTimestamp);
  }
  return { group, topic: dlqTopicOf(group), count, oldest, newest, queues };
}

/** Up to `limit` dead letters of a group, oldest first per queue, with the summary. */
export async function listDeadLetters(
  admin: Admin,
  group: string,
  limit = 32,
): Promise<{
  summary: DeadLetterSummary;
  messages: MessageExt[];
  truncated: boolean;
  /** Earlier resends of the listed dead letters, by offset message id. */
  resent: Map<string, ResentMark>;
}> {
  const summary = await deadLetterSummary(admin, group);
  const messages: MessageExt[] = [];
  await scan(admin, summary.queues, group, (m) => {
    if (messages.length >= limit) return false;
    messages.push(m);
    return true;
  });
  const resent =
    messages.length > 0
      ? await resentMarks(
          admin,
          group,
          summary.queues.map((q) => q.brokerAddr),
        )
      : new Map<string, ResentMark>();
  for (const id of resent.keys()) if (!messages.some((m) => m.msgId === id)) resent.delete(id);
  return { summary, messages, truncated: summary.count > messages.length, resent };
}

/** The last resend of one dead letter (by offset message id), or undefined when it was never resent. */
export async function deadLetterResent(
  admin: Admin,
  group: string,
  m: Pick<MessageExt, "msgId" | "storeHost">,
): Promise<ResentMark | undefined> {
  return (await resentMarks(admin, group, [formatHostPort(m.storeHost)])).get(m.msgId);
}

/** One dead letter by offset message id; a clear error when it is not one of the group's. */
export async function showDeadLetter(admin: Admin, group: string, msgId: string): Promise<MessageExt> {
  const m = await admin.viewMessage(msgId);
  if (m.topic !== dlqTopicOf(group)) {
    throw new ClientError(
      `message ${msgId} is in topic ${m.topic}, not in ${dlqTopicOf(group)}: not a dead letter of group ${group}`,
    );
  }
  return m;
}

/**
 * Resends dead letters to `%RETRY%<group>`: one (msgId), those stored in [begin, end], or all.
 * A copy keeps body, keys, tags, ORIGIN_MESSAGE_ID and RETRY_TOPIC (so the group's consumers
 * see the original topic) and starts its retries afresh (reconsumeTimes 0, delivered at once).
 * The dead letter itself stays in the DLQ (a log); each resend is marked (DeadLetterMarks),
 * and a dead letter resent before is skipped (counted in `skipped`) unless `force`.
 */
export async function resendDeadLetters(
  admin: Admin,
  group: string,
  selection: DeadLetterSelection = {},
  options: { force?: boolean } = {},
): Promise<ResendResult> {
  const result: ResendResult = { resent: 0, skipped: 0, scanned: 0, truncated: false, msgIds: [] };
  const resend = async (addr: string, m: MessageExt, marks: Map<string, ResentMark>) => {
    const previous = marks.get(m.msgId);
    if (previous && !options.force) {
      result.skipped++;
      return previous;
    }
    const copy = await resendOne(admin, addr, group, m);
    result.msgIds.push(copy);
    result.resent++;
    await markResent(admin, addr, group, { dlq: m.msgId, copy, at: Date.now() });
    return undefined;
  };
  if (selection.msgId) {
    const m = await showDeadLetter(admin, group, selection.msgId);
    const addr = formatHostPort(m.storeHost);
    result.scanned = 1;
    const previous = await resend(addr, m, await resentMarks(admin, group, [addr]));
    if (previous) result.previous = previous;
    return result;
  }
  const begin = selection.begin ?? 0;
  const end = selection.end ?? Number.MAX_SAFE_INTEGER;
  if (begin > end) throw new ClientError(`the time range is empty: begin ${begin} is after end ${end}`);
  const queues = await deadLetterQueues(admin, group);
  const picked: Array<{ addr: string; m: MessageExt }> = [];
  result.truncated = await scan(admin, queues, group, (m, q) => {
    result.scanned++;
    if (m.storeTimestamp >= begin && m.storeTimestamp <= end) picked.push({ addr: q.brokerAddr, m });
    return true;
  });
  const marks =
    picked.length > 0
      ? await resentMarks(
          admin,
          group,
          picked.map((p) => p.addr),
        )
      : new Map<string, ResentMark>();
  for (const { addr, m } of picked) await resend(addr, m, marks);
  return result;
}

/** Properties a resent copy leaves out: schedule routing, retry counters, the broker's own CLUSTER. */
const DROPPED_ON_RESEND = [
  MessageConst.DELAY_TIME_LEVEL,
  MessageConst.REAL_TOPIC,
  MessageConst.REAL_QUEUE_ID,
  MessageConst.RECONSUME_TIME,
  MessageConst.MAX_RECONSUME_TIMES,
  MessageConst.CLUSTER,
  "DELAY_DUE_MS",
];

async function resendOne(admin: Admin, brokerAddr: string, group: string, m: MessageExt): Promise<string> {
  const props: Record<string, string> = { ...m.properties };
  for (const k of DROPPED_ON_RESEND) delete props[k];
  props[MessageConst.RETRY_TOPIC] ??= m.topic;
  props[MessageConst.ORIGIN_MESSAGE_ID] ??= m.msgId;
  const header = sendHeaderToV2({
    producerGroup: DEAD_LETTER_RESEND_GROUP,
    topic: retryTopicOf(group),
    defaultTopic: "TBW102",
    defaultTopicQueueNums: 1,
    queueId: 0,
    sysFlag: m.sysFlag,
    bornTimestamp: m.bornTimestamp,
    flag: m.flag,
    properties: encodeProperties(props),
    reconsumeTimes: 0,
    unitMode: false,
  });
  const res = await admin.api.call(brokerAddr, RequestCode.SEND_MESSAGE_V2, header, m.body, {
    what: () => `resend of dead letter ${m.msgId} to ${retryTopicOf(group)}`,
  });
  return res.extFields?.msgId ?? "";
}

/** Pulls up to `n` records of a DLQ queue from `offset` (body as stored: a compressed one stays compressed). */
function pullAt(admin: Admin, q: DeadLetterQueue, group: string, offset: number, n: number) {
  return pullQueue(admin, q.brokerAddr, `TOOLS_DLQ_${group}`, dlqTopicOf(group), q.queueId, offset, n);
}

/** Visits every dead letter (queue by queue, oldest first) until `visit` says stop; true when cut by the scan limit. */
async function scan(
  admin: Admin,
  queues: DeadLetterQueue[],
  group: string,
  visit: (m: MessageExt, q: DeadLetterQueue) => boolean,
): Promise<boolean> {
  let seen = 0;
  for (const q of queues) {
    let offset = q.minOffset;
    // Every round advances the offset or ends the queue; the scan limit bounds the total.
    while (offset < q.maxOffset) {
      if (seen >= MAX_DEAD_LETTER_SCAN) return true;
      const { messages, next } = await pullAt(admin, q, group, offset, PULL_BATCH);
      for (const m of messages) {
        seen++;
        if (!visit(m, q)) return false;
      }
      if (!(next > offset)) break;
      offset = next;
    }
  }
  return false;
}
