/**
 * Dead letters as the console lists and exports them: one row per message, CSV of rows, and
 * which queue ranges a page of a DLQ covers. Pure: the API module and the tests use these.
 */
import { formatHostPort, MessageConst, type MessageExt } from "@tidemq/protocol";

export interface DeadLetterRow {
  /** Client message id (UNIQ_KEY) when the producer set one, else the offset id. */
  msgId: string;
  /** Offset message id of the dead letter itself: what "resend one" takes. */
  offsetMsgId: string;
  /** Topic the message was first sent to (RETRY_TOPIC as the broker keeps it). */
  originTopic: string;
  originMsgId: string;
  keys: string;
  tag: string;
  brokerName: string;
  queueId: number;
  queueOffset: number;
  storeTimestamp: number;
  bornTimestamp: number;
  bornHost: string;
  reconsumeTimes: number;
  bodySize: number;
  /** When it was last resent to %RETRY%<group> (epoch ms), and the copy's offset message id. */
  resentAt?: number;
  resentAs?: string;
}

export function deadLetterRow(m: MessageExt, brokerName: string): DeadLetterRow {
  const p = m.properties;
  return {
    msgId: p[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX] ?? m.msgId,
    offsetMsgId: m.msgId,
    originTopic: p[MessageConst.RETRY_TOPIC] ?? "",
    originMsgId: p[MessageConst.ORIGIN_MESSAGE_ID] ?? "",
    keys: p[MessageConst.KEYS] ?? "",
    tag: p[MessageConst.TAGS] ?? "",
    brokerName,
    queueId: m.queueId,
    queueOffset: m.queueOffset,
    storeTimestamp: m.storeTimestamp,
    bornTimestamp: m.bornTimestamp,
    bornHost: formatHostPort(m.bornHost),
    reconsumeTimes: m.reconsumeTimes,
    bodySize: m.body.length,
  };
}

/**
 * The body as an export carries it: UTF-8 text when it decodes as such, else base64 (a CSV
 * cell or JSON string cannot hold raw bytes; the encoding column says which it is).
 */
export function bodyForExport(body: Buffer): { body: string; bodyEncoding: "utf8" | "base64" } {
  try {
    return { body: new TextDecoder("utf-8", { fatal: true }).decode(body), bodyEncoding: "utf8" };
  } catch {
    return { body: body.toString("base64"), bodyEncoding: "base64" };
  }
}

/** One CSV cell (RFC 4180): quoted when it holds a comma, quote or line break; a leading =+-@ is
 * prefixed with ' so a spreadsheet does not run a message body as a formula. */
export function csvCell(v: unknown): string {
  let s = v === undefined || v === null ? "" : String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Rows as CSV with a header line (CRLF line ends, as RFC 4180 has them). */
export function toCsv<T extends object>(columns: Array<keyof T & string>, rows: readonly T[]): string {
  const lines = [columns.join(",")];
  for (const r of rows) lines.push(columns.map((c) => csvCell(r[c])).join(","));
  return `${lines.join("\r\n")}\r\n`;
}

/** A DLQ queue's stored range. */
export interface QueueRange {
  minOffset: number;
  maxOffset: number;
}

/**
 * The offset ranges that hold dead letters [start, start + size) of the queues taken one after
 * the other (each from its min offset): pages are exact and read only what they show.
 */
export function pageRanges<Q extends QueueRange>(
  queues: readonly Q[],
  start: number,
  size: number,
): Array<{ queue: Q; from: number; to: number }> {
  const out: Array<{ queue: Q; from: number; to: number }> = [];
  let skip = Math.max(0, start);
  let want = Math.max(0, size);
  for (const queue of queues) {
    if (want === 0) break;
    const n = Math.max(0, queue.maxOffset - queue.minOffset);
    if (skip >= n) {
      skip -= n;
      continue;
    }
    const from = queue.minOffset + skip;
    const to = Math.min(queue.maxOffset, from + want);
    out.push({ queue, from, to });
    want -= to - from;
    skip = 0;
  }
  return out;
}
