import type { MessageQueue, SubscriptionData } from "@tidemq/protocol";
import { objectKeyMapField } from "./bodies.js";
import type { ConsumeStatus } from "./ConsumeStatsWindow.js";

/** ProcessQueueInfo: one queue's state inside a consumer (ConsumerRunningInfo.mqTable). */
export interface ProcessQueueInfo {
  commitOffset: number;
  cachedMsgMinOffset: number;
  cachedMsgMaxOffset: number;
  cachedMsgCount: number;
  cachedMsgSizeInMiB: number;
  locked: boolean;
  lastLockTimestamp: number;
  droped: boolean;
  lastPullTimestamp: number;
  lastConsumeTimestamp: number;
}

/** A consumer's answer to GET_CONSUMER_RUNNING_INFO, decoded. */
export interface ConsumerRunningInfo {
  properties: Record<string, string>;
  subscriptionSet: SubscriptionData[];
  mqTable: Array<{ mq: MessageQueue; info: ProcessQueueInfo }>;
  statusTable: Record<string, ConsumeStatus>;
  jstack?: string;
}

/** The JSON text of the value at `"field":` (balanced braces/brackets, strings skipped), or undefined. */
function fieldText(text: string, field: string): string | undefined {
  const at = text.indexOf(`"${field}"`);
  if (at < 0) return undefined;
  let i = text.indexOf(":", at) + 1;
  while (i < text.length && /\s/.test(text[i]!)) i++;
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
    if (c === '"') {
      inString = true;
      if (depth === 0 && i > start) break;
    } else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth <= 0) return text.slice(start, depth === 0 ? i + 1 : i);
    } else if (c === "," && depth === 0) return text.slice(start, i);
  }
  return text.slice(start, i + 1);
}

function parseField<T>(text: string, field: string, fallback: T): T {
  const v = fieldText(text, field);
  if (v === undefined) return fallback;
  try {
    return JSON.parse(v) as T;
  } catch {
    return fallback;
  }
}

/** Decodes ConsumerRunningInfo JSON as Java and TideMQ clients write it (object-keyed mqTable). */
export function decodeConsumerRunningInfo(body: Buffer | undefined): ConsumerRunningInfo {
  const text = body?.toString("utf8") ?? "{}";
  const properties: Record<string, string> = {};
  for (const [k, v] of Object.entries(parseField<Record<string, unknown>>(text, "properties", {}))) {
    properties[k] = String(v);
  }
  const mqTable = objectKeyMapField<ProcessQueueInfo>(text, "mqTable").map(([mq, info]) => ({ mq, info }));
  mqTable.sort(
    (a, b) =>
      a.mq.topic.localeCompare(b.mq.topic) ||
      a.mq.brokerName.localeCompare(b.mq.brokerName) ||
      a.mq.queueId - b.mq.queueId,
  );
  return {
    properties,
    subscriptionSet: parseField<SubscriptionData[]>(text, "subscriptionSet", []),
    mqTable,
    statusTable: parseField<Record<string, ConsumeStatus>>(text, "statusTable", {}),
    jstack: parseField<string | undefined>(text, "jstack", undefined),
  };
}
