import type { MessageInput } from "@tidemq/store";
import { scanSendProperties } from "../src/processors/sendProperties.js";
import { type HalfFacts, halfMessage } from "../src/transaction/HalfMessage.js";

const CLUSTER_SUFFIX = Buffer.from("CLUSTER\u0001DefaultCluster\u0002");

/**
 * A half to topic RealTopic as the send path prepares a single SEND_MESSAGE_V2 carrying the
 * producer's properties text `sent` (its input as SendMessageProcessor builds it, then
 * halfMessage's re-addressing): the store input and what halfMessage noted of it.
 */
export function sentHalf(
  sent: string,
  queueId: number,
  body: Buffer,
): { input: MessageInput; facts?: HalfFacts } {
  const header = {
    producerGroup: "PG",
    topic: "RealTopic",
    defaultTopic: "TBW102",
    defaultTopicQueueNums: 4,
    queueId,
    sysFlag: 4,
    bornTimestamp: 2,
    flag: 3,
    properties: sent,
  };
  const prepared = halfMessage(header, false, () => {
    const scanned = scanSendProperties(sent);
    const input: MessageInput = {
      topic: "RealTopic",
      queueId,
      flag: 3,
      body,
      properties: {},
      sysFlag: 4,
      bornTimestamp: 2,
      bornHost: { host: "127.0.0.1", port: 1 },
      reconsumeTimes: 0,
      preparedTransactionOffset: 0,
      tagsCode: scanned.tagsCode ?? 0,
      encodedProperties: scanned.pairs,
      encodedPropertiesSuffix: CLUSTER_SUFFIX,
      keys: scanned.keys,
      uniqKey: scanned.uniqKey,
    };
    return { inputs: [input] } as { inputs: MessageInput[]; halfFacts?: HalfFacts };
  })!;
  return { input: prepared.inputs[0]!, facts: prepared.halfFacts };
}
