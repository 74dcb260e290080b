import {
  CONSUME_RETURN_TYPE_NAMES,
  decodeTraceRecords,
  TRACE_MESSAGE_TYPE_NAMES,
  type TraceRecord,
  type UnreadableTraceRecord,
} from "./TraceRecord.js";

/** A trace message as read back: its body and where it came from. */
export interface TraceMessageIn {
  body: string;
  /** Host that sent the trace message (its bornHost): the traced client's host. */
  bornHost: string;
  storeTimestamp?: number;
}

export interface PubStep {
  group: string;
  clientHost: string;
  time: number;
  costMs: number;
  success: boolean;
  topic: string;
  tags: string;
  keys: string;
  storeHost: string;
  offsetMsgId: string;
  msgType: string;
  regionId: string;
}

export interface ConsumeStep {
  group: string;
  clientHost: string;
  requestId: string;
  /** SubBefore time (undefined when only the SubAfter was found). */
  start?: number;
  /** SubAfter time (undefined: not finished, or the record carries none). */
  end?: number;
  costMs?: number;
  /** undefined while no SubAfter was found. */
  success?: boolean;
  /** ConsumeReturnType name, or "IN_PROGRESS" without a SubAfter. */
  result: string;
  retryTimes: number;
}

export interface TransactionStep {
  group: string;
  clientHost: string;
  time: number;
  transactionId: string;
  state: string;
  fromTransactionCheck: boolean;
}

export interface RecallStep {
  group: string;
  clientHost: string;
  time: number;
  success: boolean;
}

/** Everything the traces say about one message, oldest first. */
export interface TraceTimeline {
  msgId: string;
  pubs: PubStep[];
  consumes: ConsumeStep[];
  transactions: TransactionStep[];
  recalls: RecallStep[];
  /** Records that could not be read (shown, not fatal). */
  unreadable: UnreadableTraceRecord[];
}

/**
 * Folds the records of trace messages (found by the traced msgId) into the timeline of that
 * message (mqadmin QueryMsgTraceById's view): SubBefore and SubAfter are paired by requestId;
 * a duplicate record (a trace message stored twice) counts once.
 */
export function buildTraceTimeline(msgId: string, messages: readonly TraceMessageIn[]): TraceTimeline {
  const t: TraceTimeline = { msgId, pubs: [], consumes: [], transactions: [], recalls: [], unreadable: [] };
  const seen = new Set<string>();
  const byRequest = new Map<string, ConsumeStep>();
  const afters: Array<{ r: Extract<TraceRecord, { type: "SubAfter" }>; host: string }> = [];
  for (const m of messages) {
    for (const r of decodeTraceRecords(m.body)) {
      if (r.type === "Unreadable") {
        t.unreadable.push(r);
        continue;
      }
      if (r.msgId !== msgId) continue;
      const dedupe = `${m.bornHost}|${JSON.stringify(r)}`;
      if (seen.has(dedupe)) continue;
      seen.add(dedupe);
      switch (r.type) {
        case "Pub":
          t.pubs.push({
            group: r.group,
            clientHost: r.clientHost || m.bornHost,
            time: r.timestamp,
            costMs: r.costTime,
            success: r.success,
            topic: r.topic,
            tags: r.tags,
            keys: r.keys,
            storeHost: r.storeHost,
            offsetMsgId: r.offsetMsgId ?? "",
            msgType: TRACE_MESSAGE_TYPE_NAMES[r.msgType] ?? String(r.msgType),
            regionId: r.regionId,
          });
          break;
        case "SubBefore": {
          const step: ConsumeStep = {
            group: r.group,
            clientHost: m.bornHost,
            requestId: r.requestId,
            start: r.timestamp,
            result: "IN_PROGRESS",
            retryTimes: r.retryTimes,
          };
          byRequest.set(`${r.requestId}|${r.msgId}`, step);
          t.consumes.push(step);
          break;
        }
        case "SubAfter":
          afters.push({ r, host: m.bornHost });
          break;
        case "EndTransaction":
          t.transactions.push({
            group: r.group,
            clientHost: m.bornHost,
            time: r.timestamp,
            transactionId: r.transactionId,
            state: r.transactionState,
            fromTransactionCheck: r.fromTransactionCheck,
          });
          break;
        case "Recall":
          t.recalls.push({ group: r.group, clientHost: m.bornHost, time: r.timestamp, success: r.success });
          break;
      }
    }
  }
  // SubAfter may sit in an earlier trace message than its SubBefore: pair after reading all.
  for (const { r, host } of afters) {
    let step = byRequest.get(`${r.requestId}|${r.msgId}`);
    if (!step) {
      step = { group: r.group ?? "", clientHost: host, requestId: r.requestId, result: "", retryTimes: 0 };
      t.consumes.push(step);
    }
    step.end = r.timestamp;
    step.costMs = r.costTime;
    step.success = r.success;
    step.result =
      r.contextCode === undefined
        ? r.success
          ? "SUCCESS"
          : "FAILED"
        : (CONSUME_RETURN_TYPE_NAMES[r.contextCode] ?? String(r.contextCode));
    if (r.group && !step.group) step.group = r.group;
    if (step.start === undefined && r.timestamp !== undefined) step.start = r.timestamp - r.costTime;
  }
  t.pubs.sort((a, b) => a.time - b.time);
  t.consumes.sort((a, b) => (a.start ?? 0) - (b.start ?? 0));
  t.transactions.sort((a, b) => a.time - b.time);
  t.recalls.sort((a, b) => a.time - b.time);
  return t;
}
