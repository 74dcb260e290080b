/**
 * Which topics are the brokers' own rather than a user's, for `topicList` (hidden unless
 * asked for with -s). RocketMQ registers these as topics: its reserved names, the rmq_sys_ /
 * RMQ_SYS_ families (transactions, trace, the timer topic, DLedger metadata), the cluster and
 * broker names, and TideMQ's markers (`%DLQ_RESENT%<group>`: dead letters resent by the
 * admin). Retry and dead-letter topics are not system topics here: users act on them.
 */
const RESERVED = new Set([
  "TBW102",
  "SCHEDULE_TOPIC_XXXX",
  "SELF_TEST_TOPIC",
  "OFFSET_MOVED_EVENT",
  "BenchmarkTest",
  "TRANS_CHECK_MAX_TIME_TOPIC",
]);
const PREFIXES = ["rmq_sys_", "RMQ_SYS_", "%DLQ_RESENT%"];

/** `clusterAndBrokerNames`: names from the cluster info (RocketMQ registers each as a topic). */
export function isSystemTopic(
  topic: string,
  clusterAndBrokerNames: ReadonlySet<string> = new Set(),
): boolean {
  return RESERVED.has(topic) || PREFIXES.some((p) => topic.startsWith(p)) || clusterAndBrokerNames.has(topic);
}
