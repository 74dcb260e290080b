import type { LockBatchRequestBody, MessageQueue, RemotingCommand } from "@tidemq/protocol";
import { ResponseCode } from "@tidemq/protocol";
import { fail } from "../responses.js";
import { type ClientProcessorDeps, decodeJsonBody, ok } from "./common.js";

/** Most queues one LOCK/UNLOCK request may name. */
const MAX_QUEUES_PER_REQUEST = 10_000;

function parseLockBody(body: Buffer | undefined, what: string): LockBatchRequestBody {
  const b = decodeJsonBody<Partial<LockBatchRequestBody>>(body, what);
  if (typeof b.consumerGroup !== "string" || b.consumerGroup.length === 0) {
    fail(ResponseCode.SYSTEM_ERROR, `${what}: consumerGroup is required`);
  }
  if (typeof b.clientId !== "string" || b.clientId.length === 0)
    fail(ResponseCode.SYSTEM_ERROR, `${what}: clientId is required`);
  if (!Array.isArray(b.mqSet)) fail(ResponseCode.SYSTEM_ERROR, `${what}: mqSet must be a list of queues`);
  if (b.mqSet.length > MAX_QUEUES_PER_REQUEST) {
    fail(
      ResponseCode.SYSTEM_ERROR,
      `${what}: ${b.mqSet.length} queues; at most ${MAX_QUEUES_PER_REQUEST} per request`,
    );
  }
  const mqSet: MessageQueue[] = [];
  for (const q of b.mqSet as unknown[]) {
    const mq = q as Partial<MessageQueue> | null;
    if (
      typeof mq?.topic !== "string" ||
      typeof mq.brokerName !== "string" ||
      !Number.isInteger(mq.queueId) ||
      (mq.queueId as number) < 0
    ) {
      fail(ResponseCode.SYSTEM_ERROR, `${what}: a queue needs topic, brokerName and a queueId ≥ 0`);
    }
    mqSet.push({ topic: mq.topic, brokerName: mq.brokerName, queueId: mq.queueId as number });
  }
  return { consumerGroup: b.consumerGroup, clientId: b.clientId, mqSet };
}

/** LOCK_BATCH_MQ (41), spec §4.13: the queues now held by the client, in `lockOKMQSet`. */
export function lockBatchMq(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
): RemotingCommand | undefined {
  const b = parseLockBody(request.body, "LOCK_BATCH_MQ body");
  const granted = deps.locks.tryLockBatch(b.consumerGroup, b.mqSet, b.clientId, Date.now());
  return ok(request, undefined, Buffer.from(JSON.stringify({ lockOKMQSet: granted }), "utf8"));
}

/** UNLOCK_BATCH_MQ (42), spec §4.13: releases what the client holds; others' locks are untouched. */
export function unlockBatchMq(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
): RemotingCommand | undefined {
  const b = parseLockBody(request.body, "UNLOCK_BATCH_MQ body");
  deps.locks.unlockBatch(b.consumerGroup, b.mqSet, b.clientId);
  return ok(request);
}
