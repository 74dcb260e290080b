import type { CommandSpec, OptionSpec } from "./args.js";
import { DLEDGER_MEMBERSHIP_SPECS } from "./dledgerMembership.js";
import { SCHEDULE_SPECS } from "./scheduleCommands.js";

/**
 * The subcommands of `tidemq admin`, with mqadmin's names and short flags (RocketMQ 4.9
 * tools). Used for parsing, for `--help` and for README-admin.md.
 */

const topic = (required = true): OptionSpec => ({
  short: "t",
  long: "topic",
  arg: "topic",
  required,
  help: "topic name",
});
const group = (help = "consumer group", required = true): OptionSpec => ({
  short: "g",
  long: "groupName",
  arg: "group",
  required,
  help,
});
const brokerAddr: OptionSpec = { short: "b", long: "brokerAddr", arg: "host:port", help: "broker address" };
const cluster: OptionSpec = {
  short: "c",
  long: "clusterName",
  arg: "cluster",
  help: "cluster name (every master of it)",
};

export const SPECS: CommandSpec[] = [
  {
    name: "clusterList",
    summary:
      "List the brokers of every cluster with version, TPS, load, retention, disk use and message totals.",
    options: [
      { short: "m", long: "moreStats", help: "also print yesterday's message totals" },
      { short: "c", long: "clusterName", arg: "cluster", help: "only this cluster" },
    ],
    examples: ["clusterList -n 127.0.0.1:9876", "clusterList -m --json"],
  },
  {
    name: "transferLeader",
    summary:
      "DLedger group: hand leadership to replica -i (it campaigns once caught up); the leader is -b, or brokerId 0 of group -g.",
    options: [
      { short: "i", long: "selfId", arg: "replica", required: true, help: "the replica to lead, e.g. n1" },
      brokerAddr,
      {
        short: "g",
        long: "brokerName",
        arg: "broker",
        help: "the group's broker name (its leader is found in the route)",
      },
    ],
    oneOf: [["b", "g"]],
    examples: ["transferLeader -g broker-a -i n1", "transferLeader -b 127.0.0.1:10911 -i n2"],
  },
  ...DLEDGER_MEMBERSHIP_SPECS,
  {
    name: "topicList",
    summary:
      "List the topics the NameServer knows (system topics only with -s); with -c, also their cluster and consumer groups.",
    options: [
      { short: "c", long: "clusterModel", help: "print cluster and consumer groups per topic" },
      {
        short: "s",
        long: "system",
        help: "also list system topics (TBW102, SCHEDULE_TOPIC_XXXX, RMQ_SYS_*, rmq_sys_*, TRANS_CHECK_MAX_TIME_TOPIC, %DLQ_RESENT%*, cluster and broker names)",
      },
    ],
    examples: ["topicList", "topicList -c", "topicList -s"],
  },
  {
    name: "topicRoute",
    summary: "Show a topic's route: brokers, addresses, queue counts and permissions.",
    options: [topic()],
    examples: ["topicRoute -t OrderPaid"],
  },
  {
    name: "topicStatus",
    summary: "Show each queue of a topic: min and max offsets and the store time of the last message.",
    options: [topic()],
    examples: ["topicStatus -t OrderPaid"],
  },
  {
    name: "updateTopic",
    summary: "Create or update a topic on one broker (-b) or every master of a cluster (-c).",
    options: [
      topic(),
      brokerAddr,
      cluster,
      { short: "r", long: "readQueueNums", arg: "n", default: "8", help: "read queues" },
      { short: "w", long: "writeQueueNums", arg: "n", default: "8", help: "write queues" },
      {
        short: "p",
        long: "perm",
        arg: "perm",
        default: "6",
        help: "permission: 2 write, 4 read, 6 read+write",
      },
      {
        short: "o",
        long: "order",
        arg: "true|false",
        default: "false",
        help: "ordered topic (writes ORDER_TOPIC_CONFIG on the NameServers)",
      },
    ],
    oneOf: [["b", "c"]],
    examples: [
      "updateTopic -c DefaultCluster -t OrderPaid -r 4 -w 4",
      "updateTopic -b 127.0.0.1:10911 -t OrderPaid",
    ],
  },
  {
    name: "deleteTopic",
    summary: "Delete a topic from every broker of a cluster and from the NameServers.",
    options: [topic(), { ...cluster, required: true, help: "cluster name" }],
    examples: ["deleteTopic -c DefaultCluster -t OrderPaid"],
  },
  {
    name: "updateSubGroup",
    summary: "Create or update a subscription group on one broker (-b) or every master of a cluster (-c).",
    options: [
      group("group name"),
      brokerAddr,
      cluster,
      { short: "s", long: "consumeEnable", arg: "true|false", default: "true", help: "may consume" },
      {
        short: "m",
        long: "consumeFromMinEnable",
        arg: "true|false",
        default: "true",
        help: "a new group starts from the first offset",
      },
      {
        short: "d",
        long: "consumeBroadcastEnable",
        arg: "true|false",
        default: "true",
        help: "broadcasting allowed",
      },
      { short: "q", long: "retryQueueNums", arg: "n", default: "1", help: "retry queues" },
      {
        short: "r",
        long: "retryMaxTimes",
        arg: "n",
        default: "16",
        help: "deliveries before the dead-letter queue",
      },
      { short: "i", long: "brokerId", arg: "id", default: "0", help: "broker id consumed from" },
      {
        short: "w",
        long: "whichBrokerWhenConsumeSlowly",
        arg: "id",
        default: "1",
        help: "broker id when slow",
      },
      {
        short: "a",
        long: "notifyConsumerIdsChanged",
        arg: "true|false",
        default: "true",
        help: "tell consumers when the group changes",
      },
    ],
    oneOf: [["b", "c"]],
    examples: ["updateSubGroup -c DefaultCluster -g OrderService -r 3"],
  },
  {
    name: "deleteSubGroup",
    summary: "Delete a subscription group from one broker (-b) or every broker of a cluster (-c).",
    options: [group("group name"), brokerAddr, cluster],
    oneOf: [["b", "c"]],
    examples: ["deleteSubGroup -c DefaultCluster -g OrderService"],
  },
  {
    name: "consumerProgress",
    summary:
      "Per queue of a group: broker offset, committed offset, lag and last consume time; without -g, one line per group.",
    options: [
      group("consumer group (absent: every group)", false),
      {
        short: "s",
        long: "showClientIP",
        arg: "true|false",
        default: "false",
        help: "show which client holds each queue (average allocation)",
      },
    ],
    examples: ["consumerProgress -g OrderService", "consumerProgress"],
  },
  {
    name: "consumerConnection",
    summary: "The online clients of a consumer group and their subscriptions.",
    options: [group()],
    examples: ["consumerConnection -g OrderService"],
  },
  {
    name: "producerConnection",
    summary: "The online clients of a producer group, asked on the brokers of a topic.",
    options: [group("producer group"), topic()],
    examples: ["producerConnection -g TIDEMQ_PRODUCER -t OrderPaid"],
  },
  {
    name: "queryMsgById",
    summary:
      "Show a message by its offset message id (or, with -t, by its client message id), and which groups consumed it.",
    options: [
      {
        short: "i",
        long: "msgId",
        arg: "id",
        required: true,
        help: "offset message id, or client id (UNIQ_KEY) with -t",
      },
      topic(false),
    ],
    examples: [
      "queryMsgById -i 7F00000100002A9F0000000000000000",
      "queryMsgById -t OrderPaid -i <client message id>",
    ],
  },
  {
    name: "queryMsgByKey",
    summary: "Find the messages of a topic carrying a key.",
    options: [
      topic(),
      { short: "k", long: "msgKey", arg: "key", required: true, help: "message key" },
      { short: "b", long: "beginTimestamp", arg: "time", default: "0", help: "stored at or after" },
      { short: "e", long: "endTimestamp", arg: "time", default: "the end", help: "stored at or before" },
    ],
    examples: ["queryMsgByKey -t OrderPaid -k order-1"],
  },
  {
    name: "queryMsgByOffset",
    summary: "Show the message at an offset of one queue.",
    options: [
      topic(),
      { short: "b", long: "brokerName", arg: "name", required: true, help: "broker name" },
      { short: "i", long: "queueId", arg: "n", help: "queue id (-q works too)" },
      { short: "q", long: "queue", arg: "n", help: "same as -i" },
      { short: "o", long: "offset", arg: "n", required: true, help: "queue offset" },
    ],
    oneOf: [["i", "q"]],
    examples: ["queryMsgByOffset -t OrderPaid -b broker-a -i 0 -o 0"],
  },
  {
    name: "resetOffsetByTime",
    summary: "Move a group's offsets of a topic to the first message stored at or after a time.",
    options: [
      group(),
      topic(),
      {
        short: "s",
        long: "timestamp",
        arg: "time",
        required: true,
        help: "now, ms, yyyyMMddHHmmssSSS, yyyy-MM-dd#HH:mm:ss:SSS, ISO 8601, or -1 for the end",
      },
      { short: "f", long: "force", arg: "true|false", default: "true", help: "also move forward" },
      {
        short: "A",
        long: "allow-ignored",
        help: "reset even though online consumers that ignore it (ali-ons) will overwrite it; they are named",
      },
    ],
    examples: [
      "resetOffsetByTime -g OrderService -t OrderPaid -s 20261124080000000",
      "resetOffsetByTime -g G -t T -s now",
    ],
  },
  {
    name: "sendMessage",
    summary: "Send one message.",
    options: [
      topic(),
      { short: "p", long: "body", arg: "text", required: true, help: "message body (UTF-8)" },
      { short: "k", long: "key", arg: "keys", help: "keys, space separated" },
      { short: "c", long: "tags", arg: "tag", help: "tag" },
      { short: "b", long: "broker", arg: "name", help: "broker name (with -i)" },
      { short: "i", long: "qid", arg: "n", help: "queue id (with -b; -q works too)" },
      { short: "q", long: "queue", arg: "n", help: "same as -i" },
    ],
    examples: ['sendMessage -t OrderPaid -p "hello" -k order-1 -c paid'],
  },
  {
    name: "consumeMessage",
    summary: "Read messages of a topic without committing offsets.",
    options: [
      topic(),
      { short: "b", long: "brokerName", arg: "name", help: "only this broker" },
      { short: "i", long: "queueId", arg: "n", help: "only this queue (-q works too)" },
      { short: "q", long: "queue", arg: "n", help: "same as -i" },
      { short: "o", long: "offset", arg: "n", help: "start offset (default: the queue's first, or -s)" },
      {
        short: "g",
        long: "consumerGroup",
        arg: "group",
        default: "TOOLS_CONSUMER",
        help: "group named in pulls",
      },
      {
        short: "s",
        long: "beginTimestamp",
        arg: "time",
        help: "start at the first message stored at or after",
      },
      { short: "e", long: "endTimestamp", arg: "time", help: "stop at messages stored after" },
      { short: "c", long: "MessageNumber", arg: "n", default: "128", help: "at most this many messages" },
    ],
    examples: ["consumeMessage -t OrderPaid -c 10", "consumeMessage -t OrderPaid -b broker-a -i 0 -o 5"],
  },
  {
    name: "brokerStatus",
    summary: "The runtime status table of a broker (or of every broker of a cluster).",
    options: [brokerAddr, { ...cluster, help: "cluster name (every broker of it)" }],
    oneOf: [["b", "c"]],
    examples: ["brokerStatus -b 127.0.0.1:10911"],
  },
  {
    name: "getBrokerConfig",
    summary: "The configuration of a broker (or of every master of a cluster).",
    options: [brokerAddr, cluster],
    oneOf: [["b", "c"]],
    examples: ["getBrokerConfig -b 127.0.0.1:10911"],
  },
  {
    name: "updateBrokerConfig",
    summary: "Change one configuration key of a running broker (or of every master of a cluster).",
    options: [
      brokerAddr,
      cluster,
      { short: "k", long: "key", arg: "key", required: true, help: "config key" },
      { short: "v", long: "value", arg: "value", required: true, help: "new value" },
    ],
    oneOf: [["b", "c"]],
    examples: ["updateBrokerConfig -b 127.0.0.1:10911 -k autoCreateTopicEnable -v false"],
  },
  ...SCHEDULE_SPECS,
  {
    name: "timerStatus",
    summary: "Timer messages of a broker (or of every master of a cluster): pending, by due day, next due.",
    options: [brokerAddr, cluster],
    oneOf: [["b", "c"]],
    examples: ["timerStatus -b 127.0.0.1:10911", "timerStatus -c DefaultCluster --json"],
  },
  {
    name: "transactionStatus",
    summary:
      "Pending transaction half messages of a broker (or of every master of a cluster): count, oldest, per producer group.",
    options: [brokerAddr, cluster],
    oneOf: [["b", "c"]],
    examples: ["transactionStatus -b 127.0.0.1:10911", "transactionStatus -c DefaultCluster"],
  },
  {
    name: "queryMsgTraceById",
    summary:
      "Show a message's trace: who sent it, when, where it was stored, and each group's consumption (start, end, result, retries).",
    options: [
      { short: "i", long: "msgId", arg: "id", required: true, help: "client message id (UNIQ_KEY)" },
      { short: "t", long: "traceTopic", arg: "topic", help: "trace topic (default RMQ_SYS_TRACE_TOPIC)" },
    ],
    examples: [
      "queryMsgTraceById -i 7F000001A1B218B4AAC2...",
      "queryMsgTraceById -i <msgId> -t MyTraceTopic",
    ],
  },
  {
    name: "consumerStatus",
    summary:
      "Ask each online client of a group (or one, -i) for its state: queues with cached messages and offsets, locks, in-flight calls, consume TPS.",
    options: [group(), { short: "i", long: "clientId", arg: "clientId", help: "only this client" }],
    examples: ["consumerStatus -g billing", "consumerStatus -g billing -i 10.0.0.5@4711"],
  },
  {
    name: "consumeMessageDirectly",
    summary:
      "Have one client of a group run its listener on a stored message (no offset moves) and print the result.",
    options: [
      group(),
      { short: "i", long: "clientId", arg: "clientId", required: true, help: "the client that consumes it" },
      {
        short: "m",
        long: "msgId",
        arg: "id",
        required: true,
        help: "offset message id, or client id (UNIQ_KEY) with -t",
      },
      topic(false),
    ],
    examples: ["consumeMessageDirectly -g billing -i 10.0.0.5@4711 -m 7F00000100002A9F0000000000000000"],
  },
];

export function findSpec(name: string): CommandSpec | undefined {
  return SPECS.find((s) => s.name.toLowerCase() === name.toLowerCase());
}

export function adminUsage(): string {
  const width = Math.max(...SPECS.map((s) => s.name.length)) + 2;
  return [
    "usage: tidemq admin <subcommand> [options]   (mqadmin's subcommands and flags)",
    "",
    "subcommands:",
    ...SPECS.map((s) => `  ${s.name.padEnd(width)}${s.summary}`),
    "",
    "Every subcommand takes -n <host:port;host:port> (default $NAMESRV_ADDR, else 127.0.0.1:9876),",
    "--json (machine-readable output), --debug (stack traces) and -h/--help.",
    "Run `tidemq admin <subcommand> --help` for its options.",
  ].join("\n");
}
