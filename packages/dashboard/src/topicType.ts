/**
 * Topic types as the console's type filter shows them (rocketmq-dashboard's
 * normal/retry/DLQ plus the 5.x delay/transaction/system). The 4.x broker keeps no message
 * type per topic, so the type follows RocketMQ's reserved names: %RETRY%group, %DLQ%group,
 * SCHEDULE_TOPIC_XXXX and the timer topic for delay, RMQ_SYS_TRANS_* for transactions,
 * and the other system topics (TBW102, cluster and broker names, trace, self-test…).
 */
export type TopicType = "normal" | "retry" | "dlq" | "delay" | "transaction" | "system";

export const TOPIC_TYPES: readonly TopicType[] = ["normal", "retry", "dlq", "delay", "transaction", "system"];

const DELAY_TOPICS = new Set(["SCHEDULE_TOPIC_XXXX", "rmq_sys_wheel_timer"]);
const SYSTEM_TOPICS = new Set([
  "TBW102",
  "SELF_TEST_TOPIC",
  "OFFSET_MOVED_EVENT",
  "BenchmarkTest",
  "RMQ_SYS_TRACE_TOPIC",
  "TRANS_CHECK_MAX_TIME_TOPIC",
]);

/** The type of `topic`; `systemNames` are the cluster and broker names (RocketMQ registers them as topics). */
export function topicType(topic: string, systemNames: ReadonlySet<string> = new Set()): TopicType {
  if (topic.startsWith("%RETRY%")) return "retry";
  if (topic.startsWith("%DLQ%")) return "dlq";
  if (DELAY_TOPICS.has(topic)) return "delay";
  if (topic.startsWith("RMQ_SYS_TRANS_")) return "transaction";
  // %DLQ_RESENT%group: TideMQ's marks of resent dead letters (not the group's dead letters).
  if (topic.startsWith("%DLQ_RESENT%")) return "system";
  if (SYSTEM_TOPICS.has(topic) || topic.startsWith("rmq_sys_") || topic.startsWith("RMQ_SYS_"))
    return "system";
  if (systemNames.has(topic)) return "system";
  return "normal";
}

/** Consumer groups the brokers and tools use themselves; the Consumers page hides them unless asked. */
const SYSTEM_GROUPS = new Set([
  "TOOLS_CONSUMER",
  "FILTERSRV_CONSUMER",
  "SELF_TEST_C_GROUP",
  "CID_ONS-HTTP-PROXY",
  "CID_ONSAPI_PERMISSION",
  "CID_ONSAPI_OWNER",
  "CID_ONSAPI_PULL",
  "CID_RMQ_SYS_TRANS",
  "SCHEDULE_CONSUMER",
]);

export function isSystemGroup(group: string): boolean {
  return SYSTEM_GROUPS.has(group) || group.startsWith("CID_RMQ_SYS_");
}
