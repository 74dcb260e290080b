import { decodeMessage, MessageConst, type MessageExt, tagsHashCode } from "@tidemq/protocol";
import type { MessageInput, MessageStore, TimerEntry } from "@tidemq/store";
import { TIMER_ROLL_ORIGIN } from "./RollOrigin.js";
import { TIMER_TOPIC } from "./timerSend.js";

/*
 * Timer-topic records: reading them for a slot, and the records they become (delivered in
 * their real topic, or copied for their next lap).
 */

/** On a rolled copy of a timer record: how many times it was rolled (RocketMQ 5's name). */
export const TIMER_ROLL_TIMES = "TIMER_ROLL_TIMES";

/** Properties a delivered message no longer carries (it is not a timer any more). */
const DROPPED_ON_DELIVERY = [
  TIMER_ROLL_TIMES,
  TIMER_ROLL_ORIGIN,
  MessageConst.REAL_TOPIC,
  MessageConst.REAL_QUEUE_ID,
  MessageConst.TIMER_DELIVER_MS,
  MessageConst.TIMER_DELAY_SEC,
  MessageConst.TIMER_DELAY_MS,
  MessageConst.START_DELIVER_TIME,
];

/**
 * The timer-topic records of `entries`, read in runs of consecutive consume-queue offsets
 * (one store read for many records); any a run misses is read by its commit-log offset.
 */
export async function readTimerRecords(
  store: MessageStore,
  entries: TimerEntry[],
): Promise<Map<TimerEntry, MessageExt>> {
  const out = new Map<TimerEntry, MessageExt>();
  const sorted = [...entries].sort((a, b) => a.cqOffset - b.cqOffset);
  for (let i = 0; i < sorted.length; ) {
    // A run: its span stays within twice the entries it holds (plus a little), at most 1024.
    let j = i + 1;
    while (
      j < sorted.length &&
      sorted[j]!.cqOffset - sorted[i]!.cqOffset < Math.min(2 * (j - i + 1) + 32, 1024)
    )
      j++;
    if (j - i === 1) {
      // A lone record: one read by its commit-log offset (below) beats a consume-queue read too.
      i = j;
      continue;
    }
    const want = new Map<number, TimerEntry[]>();
    for (let k = i; k < j; k++) {
      const e = sorted[k]!;
      const l = want.get(e.cqOffset);
      if (l) l.push(e);
      else want.set(e.cqOffset, [e]);
    }
    const end = sorted[j - 1]!.cqOffset;
    let off = sorted[i]!.cqOffset;
    for (let round = 0; off <= end && round < 1024; round++) {
      const r = await store.getMessage(TIMER_TOPIC, 0, off, end - off + 1);
      if (r.status !== "FOUND" || r.nextBeginOffset <= off) break;
      let pos = 0;
      for (const q of r.queueOffsets) {
        const size = r.body.readInt32BE(pos);
        const es = want.get(q);
        if (es) {
          const m = decodeMessage(r.body, pos);
          for (const e of es) if (m.commitLogOffset === e.commitLogOffset) out.set(e, m);
        }
        pos += size;
      }
      off = r.nextBeginOffset;
    }
    i = j;
  }
  for (const e of entries) {
    if (out.has(e)) continue;
    const rec = await store.lookMessageByOffset(e.commitLogOffset);
    if (rec) out.set(e, decodeMessage(rec));
  }
  return out;
}

/** The record a due timer message becomes: its real topic and queue, same keys, tags, UNIQ_KEY and body. */
export function deliveryInput(m: MessageExt): MessageInput {
  const props: Record<string, string> = { ...m.properties };
  const topic = props[MessageConst.REAL_TOPIC];
  const queueId = Number(props[MessageConst.REAL_QUEUE_ID]);
  if (!topic || !Number.isSafeInteger(queueId) || queueId < 0) {
    throw new Error("REAL_TOPIC / REAL_QID missing");
  }
  for (const k of DROPPED_ON_DELIVERY) delete props[k];
  // A client that sets no UNIQ_KEY (ali-ons) knows the message by the id its send returned:
  // the timer record's offset id. Kept as UNIQ_KEY, consumers that read it see that id.
  props[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX] ??= m.msgId;
  return recordInput(m, topic, queueId, props);
}

/** A copy of a timer record for its next lap in the timer topic. */
export function rollInput(m: MessageExt): MessageInput {
  const props: Record<string, string> = { ...m.properties };
  props[TIMER_ROLL_TIMES] = String(Number(props[TIMER_ROLL_TIMES] ?? 0) + 1);
  // Every copy names the first record, so a wheel holding two of them delivers one (RollOrigin.ts).
  props[TIMER_ROLL_ORIGIN] ??= String(m.commitLogOffset);
  return recordInput(m, TIMER_TOPIC, 0, props);
}

/** A timer record stored again (delivered or rolled) under `topic`/`queueId` with `props`. */
function recordInput(
  m: MessageExt,
  topic: string,
  queueId: number,
  props: Record<string, string>,
): MessageInput {
  return {
    topic,
    queueId,
    flag: m.flag,
    body: m.body,
    properties: props,
    sysFlag: m.sysFlag,
    bornTimestamp: m.bornTimestamp,
    bornHost: m.bornHost,
    reconsumeTimes: m.reconsumeTimes,
    preparedTransactionOffset: 0,
    tagsCode: tagsHashCode(props[MessageConst.TAGS]),
  };
}
