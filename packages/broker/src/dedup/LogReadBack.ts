import { createOffsetMsgId, decodeMessage, MessageConst } from "@tidemq/protocol";
import type { MessageStore } from "@tidemq/store";

/**
 * A window entry only says "a send with this hash was stored at this offset": before a resend
 * is answered "already stored", the record there is read back from the log and must be the
 * same topic and UNIQ_KEY (a hash collision or an entry that outlived its record never turns
 * a new message into a duplicate).
 */

/** The send response fields of an already stored message (or batch). */
export interface OriginalSend {
  msgId: string;
  queueId: number;
  queueOffset: number;
}

type Log = Pick<MessageStore, "lookMessageByOffset">;

/**
 * The stored message at `offset`: its send result if it is (topic, uniqKey), "other" if it is
 * another message (same hash), undefined if the log no longer holds a readable one.
 */
export async function readBack(
  log: Log,
  topic: string,
  uniqKey: string,
  offset: number,
): Promise<OriginalSend | "other" | undefined> {
  const rec = await log.lookMessageByOffset(offset);
  if (rec === undefined) return undefined;
  let m: ReturnType<typeof decodeMessage>;
  try {
    m = decodeMessage(rec);
  } catch {
    return undefined;
  }
  if (m.topic !== topic || m.properties[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX] !== uniqKey)
    return "other";
  return { msgId: createOffsetMsgId(m.storeHost, offset), queueId: m.queueId, queueOffset: m.queueOffset };
}

/** Where a resent batch's record steps got to (recordAfter), for its next follower. */
export interface Walk {
  lead: number;
  index: number;
  offset: number;
}

/**
 * The offset of the record `index` records after the one at `lead` (a batch follower's: its
 * batch's records are consecutive), stepping over each; undefined if the log no longer holds
 * one. `walk` carries the last step over, for the next follower of the same lead.
 */
export async function recordAfter(
  log: Log,
  lead: number,
  index: number,
  walk?: Walk,
): Promise<number | undefined> {
  let offset = lead;
  let k = 0;
  if (walk !== undefined && walk.lead === lead && walk.index <= index) {
    offset = walk.offset;
    k = walk.index;
  }
  for (; k < index; k++) {
    const rec = await log.lookMessageByOffset(offset);
    if (rec === undefined) return undefined;
    offset += rec.length;
  }
  if (walk !== undefined) {
    walk.lead = lead;
    walk.index = index;
    walk.offset = offset;
  }
  return offset;
}
