/**
 * RocketMQ 5.3's recall handle (RecallMessageHandle.HandleV1): base64url of
 * "v1 <topic> <brokerName> <dueMs> <UNIQ_KEY>", returned in a timer message's send response.
 */
export interface RecallHandle {
  topic: string;
  brokerName: string;
  dueMs: number;
  uniqKey: string;
}

export function encodeRecallHandle(h: RecallHandle): string {
  return Buffer.from(`v1 ${h.topic} ${h.brokerName} ${h.dueMs} ${h.uniqKey}`, "utf8").toString("base64url");
}

/** The handle's fields, or a reason it is not one. */
export function decodeRecallHandle(handle: string): RecallHandle | string {
  if (!handle || handle.length > 4096 || !/^[A-Za-z0-9_-]+=*$/.test(handle))
    return "the recall handle is not base64url";
  const items = Buffer.from(handle, "base64url").toString("utf8").split(" ");
  if (items[0] !== "v1" || items.length < 5)
    return "the recall handle is not a v1 handle (v1 topic brokerName timestamp messageId)";
  const dueMs = Number(items[3]);
  if (!Number.isSafeInteger(dueMs) || dueMs <= 0)
    return `the recall handle's timestamp ${items[3]} is not a time in ms`;
  return { topic: items[1]!, brokerName: items[2]!, dueMs, uniqKey: items[4]! };
}
