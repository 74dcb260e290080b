/**
 * RocketMQ's topic rules (TopicValidator, spec §8.2): what a topic may be called, which
 * names belong to the broker itself, and which of those producers may not write to.
 * Pure functions, no I/O.
 */
export const AUTO_CREATE_TOPIC_KEY_TOPIC = "TBW102";
export const SCHEDULE_TOPIC = "SCHEDULE_TOPIC_XXXX";
export const SELF_TEST_TOPIC = "SELF_TEST_TOPIC";
export const OFFSET_MOVED_EVENT = "OFFSET_MOVED_EVENT";
export const BENCHMARK_TOPIC = "BenchmarkTest";
export const TRANS_HALF_TOPIC = "RMQ_SYS_TRANS_HALF_TOPIC";
export const TRANS_OP_HALF_TOPIC = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
export const TRANS_CHECK_MAX_TIME_TOPIC = "TRANS_CHECK_MAX_TIME_TOPIC";
export const TRACE_TOPIC = "RMQ_SYS_TRACE_TOPIC";
/** DLedger mode: topic, group, offset and delivery-progress changes as log records (dledger/ReplicatedMetadata). */
export const DLEDGER_METADATA_TOPIC = "rmq_sys_dledger_metadata";
export const RETRY_GROUP_TOPIC_PREFIX = "%RETRY%";
export const DLQ_GROUP_TOPIC_PREFIX = "%DLQ%";
export const MAX_TOPIC_LENGTH = 127;

const SYSTEM_TOPICS = new Set([
  AUTO_CREATE_TOPIC_KEY_TOPIC,
  SCHEDULE_TOPIC,
  BENCHMARK_TOPIC,
  TRANS_HALF_TOPIC,
  TRACE_TOPIC,
  TRANS_OP_HALF_TOPIC,
  TRANS_CHECK_MAX_TIME_TOPIC,
  SELF_TEST_TOPIC,
  OFFSET_MOVED_EVENT,
]);

/** Topics producers may never write to directly (NO_PERMISSION on send). */
const NOT_ALLOWED_SEND_TOPICS = new Set([
  SCHEDULE_TOPIC,
  TRANS_HALF_TOPIC,
  TRANS_OP_HALF_TOPIC,
  TRANS_CHECK_MAX_TIME_TOPIC,
  SELF_TEST_TOPIC,
  OFFSET_MOVED_EVENT,
  DLEDGER_METADATA_TOPIC,
]);

const TOPIC_PATTERN = /^[%|a-zA-Z0-9_-]+$/;

/** Returns why `topic` is not a legal topic name, or undefined when it is. */
export function topicNameProblem(topic: string | undefined): string | undefined {
  if (topic === undefined || topic.trim().length === 0) return "the topic name is blank";
  if (topic.length > MAX_TOPIC_LENGTH) {
    return `the topic name is ${topic.length} characters long; at most ${MAX_TOPIC_LENGTH} are allowed`;
  }
  if (!TOPIC_PATTERN.test(topic)) {
    return `the topic[${topic}] contains characters outside letters, digits, '%', '|', '_' and '-'`;
  }
  return undefined;
}

export function isSystemTopic(topic: string): boolean {
  return SYSTEM_TOPICS.has(topic) || topic.startsWith("rmq_sys_");
}

export function isNotAllowedSendTopic(topic: string): boolean {
  return NOT_ALLOWED_SEND_TOPICS.has(topic);
}

export function isRetryTopic(topic: string): boolean {
  return topic.startsWith(RETRY_GROUP_TOPIC_PREFIX);
}

export function retryTopic(group: string): string {
  return RETRY_GROUP_TOPIC_PREFIX + group;
}

export function dlqTopic(group: string): string {
  return DLQ_GROUP_TOPIC_PREFIX + group;
}
