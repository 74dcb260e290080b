/**
 * The admin client, RocketMQ's MQAdminExt over the 4.x protocol: thin wrappers for the CLI,
 * the web console and tools. Its methods live in one file per domain, each class layered on
 * the one before so that every method stays on `Admin` (callers and the package exports do
 * not change) while no file holds more than one domain:
 *
 * - AdminBase.ts    transport, options, NameServer rotation; topic routes, cluster info, topic list
 * - TopicAdmin.ts   create / delete topics, order config, topic configs, per-queue offset ranges
 * - BrokerAdmin.ts  broker runtime info, timer status, broker config, DLedger membership
 * - OffsetAdmin.ts  queue offsets, a group's committed offsets, resetOffsetByTime
 * - MessageAdmin.ts message by id / by key, trace timelines, uncommitted reads of a queue
 * - GroupAdmin.ts   consume progress, connections, subscription group configs, requests relayed to a client
 *
 * Domains built on top of an Admin rather than in it: DeadLetters.ts, DelayedMessages.ts,
 * TransactionAdmin.ts.
 */
import { GroupAdmin } from "./GroupAdmin.js";

export { type AdminOptions, clusterBrokerAddrs } from "./AdminBase.js";
export type { TimerStatusInfo } from "./BrokerAdmin.js";
export type { Connection, ConsumerConnection, ConsumeStats, QueueConsumeStats } from "./GroupAdmin.js";
export type { ResetOffsetEntry } from "./OffsetAdmin.js";
export type { CreateTopicOptions, QueueOffsetStats } from "./TopicAdmin.js";

/**
 * Administration over the 4.x protocol (thin wrappers for the CLI and tools, RocketMQ's
 * MQAdminExt): topics, routes, cluster info, offsets, consumer progress, message lookup.
 * Every method comes from the domain layers listed above.
 */
export class Admin extends GroupAdmin {}
