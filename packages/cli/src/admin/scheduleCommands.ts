import {
  deadLetterResent,
  deadLetterSummary,
  delayedMessageStatus,
  listDeadLetters,
  resendDeadLetters,
  showDeadLetter,
} from "@tidemq/client";
import { addrOption, type CommandSpec, intOption, nameOption, parseTimestamp, UsageError } from "./args.js";
import { targetBrokers } from "./calls.js";
import type { AdminContext, Output } from "./handlers.js";
import { messageDetail, messageJson } from "./messageView.js";
import { type Cell, formatKeyValues, formatTable, formatTime } from "./table.js";

/**
 * `tidemq admin` subcommands for delay levels and dead letters (TideMQ's own: RocketMQ's
 * mqadmin has no dead-letter commands): deadLetterList / deadLetterShow / deadLetterResend
 * and scheduleStatus.
 */

const groupOpt = { short: "g", long: "groupName", arg: "group", required: true, help: "consumer group" };

export const SCHEDULE_SPECS: CommandSpec[] = [
  {
    name: "deadLetterList",
    summary: "A group's dead letters (%DLQ%<group>): count, oldest, newest, and the first -m of them.",
    options: [
      groupOpt,
      { short: "m", long: "max", arg: "n", default: "32", help: "how many to list (0 = summary only)" },
    ],
    examples: ["deadLetterList -g refund-service", "deadLetterList -g refund-service -m 0 --json"],
  },
  {
    name: "deadLetterShow",
    summary: "One dead letter of a group, by the offset message id deadLetterList prints.",
    options: [groupOpt, { short: "i", long: "msgId", arg: "id", required: true, help: "offset message id" }],
    examples: ["deadLetterShow -g refund-service -i 7F00000100002A9F0000000000001A2B"],
  },
  {
    name: "deadLetterResend",
    summary:
      "Resend dead letters to %RETRY%<group> (only that group gets them again): one (-i), those that died in a time range (-b/-e), or all (-a).",
    options: [
      groupOpt,
      { short: "i", long: "msgId", arg: "id", help: "one dead letter, by offset message id" },
      {
        short: "b",
        long: "beginTimestamp",
        arg: "time",
        help: "died at or after (ms, or yyyy-MM-dd#HH:mm:ss:SSS)",
      },
      { short: "e", long: "endTimestamp", arg: "time", help: "died at or before" },
      { short: "a", long: "all", help: "every dead letter of the group" },
      { short: "f", long: "force", help: "also resend dead letters that were resent before" },
    ],
    examples: [
      "deadLetterResend -g refund-service -i 7F00000100002A9F0000000000001A2B",
      "deadLetterResend -g refund-service -b 2026-12-07#00:00:00:000 -e 2026-12-07#06:00:00:000",
      "deadLetterResend -g refund-service -a",
      "deadLetterResend -g refund-service -i 7F00000100002A9F0000000000001A2B -f",
    ],
  },
  {
    name: "scheduleStatus",
    summary:
      "Delayed messages pending per delay level on a broker (or every master of a cluster): count and next due time.",
    options: [
      { short: "b", long: "brokerAddr", arg: "host:port", help: "broker address" },
      { short: "c", long: "clusterName", arg: "cluster", help: "cluster name (every master of it)" },
    ],
    oneOf: [["b", "c"]],
    examples: ["scheduleStatus -b 127.0.0.1:10911"],
  },
];

type Handler = (ctx: AdminContext) => Promise<Output>;

const timeOrDash = (ms: number | undefined): string => (ms === undefined ? "-" : formatTime(ms));

const deadLetterList: Handler = async ({ admin, values }) => {
  const group = nameOption(values, "g", "group");
  const max = intOption(values, "m", 32, 0, 10_000);
  const { summary, messages, truncated, resent } = await listDeadLetters(admin, group, max);
  const head = formatKeyValues([
    ["Group", group],
    ["DLQ Topic", summary.topic],
    ["Dead Letters", summary.count],
    ["Oldest", timeOrDash(summary.oldest)],
    ["Newest", timeOrDash(summary.newest)],
  ]);
  const rows: Cell[][] = messages.map((m) => [
    m.msgId,
    m.properties.UNIQ_KEY ?? "",
    m.properties.RETRY_TOPIC ?? "",
    m.properties.KEYS ?? "",
    m.reconsumeTimes,
    formatTime(m.storeTimestamp),
    timeOrDash(resent.get(m.msgId)?.at),
  ]);
  const table =
    rows.length > 0
      ? `\n${formatTable(["#Offset Msg ID", "#Msg ID", "#Topic", "#Keys", "#Reconsumed", "#Died At", "#Resent At"], rows, [4])}`
      : "";
  const cut = truncated && max > 0 ? `\n(first ${messages.length} of ${summary.count}; -m for more)` : "";
  return {
    text: `${head}${table}${cut}`,
    json: {
      group,
      topic: summary.topic,
      count: summary.count,
      oldest: summary.oldest ?? null,
      newest: summary.newest ?? null,
      messages: messages.map((m) => ({ ...messageJson(m), resent: resent.get(m.msgId) ?? null })),
      truncated,
    },
  };
};

const deadLetterShow: Handler = async ({ admin, values }) => {
  const group = nameOption(values, "g", "group");
  const ext = await showDeadLetter(admin, group, values.i!.trim());
  const resent = await deadLetterResent(admin, group, ext);
  const m = messageJson(ext);
  const line = formatKeyValues([
    ["Resent", resent ? `${formatTime(resent.at)} to %RETRY%${group} as ${resent.copy}` : "never"],
  ]);
  return { text: `${messageDetail(m)}\n${line}`, json: { ...m, resent: resent ?? null } };
};

const deadLetterResend: Handler = async ({ admin, values }) => {
  const group = nameOption(values, "g", "group");
  const one = values.i?.trim();
  const ranged = values.b !== undefined || values.e !== undefined;
  const all = values.a !== undefined;
  if ([one !== undefined, ranged, all].filter(Boolean).length !== 1) {
    throw new UsageError(
      "deadLetterResend: give exactly one of -i <msgId>, a time range (-b and/or -e), or -a",
    );
  }
  const begin = values.b === undefined ? undefined : parseTimestamp(values.b);
  const end = values.e === undefined ? undefined : parseTimestamp(values.e);
  const before = await deadLetterSummary(admin, group);
  if (!one && before.count === 0) {
    return { text: `group ${group} has no dead letters`, json: { group, resent: 0, scanned: 0, msgIds: [] } };
  }
  const r = await resendDeadLetters(
    admin,
    group,
    { msgId: one, begin, end },
    { force: values.f !== undefined },
  );
  const cut = r.truncated ? " (the scan stopped at its limit: run again with a narrower range)" : "";
  const skipped = r.previous
    ? `; not resent: it was resent at ${formatTime(r.previous.at)} as ${r.previous.copy} (-f resends it again)`
    : r.skipped > 0
      ? `; ${r.skipped} skipped: resent before (-f resends them again)`
      : "";
  return {
    text: `resent ${r.resent} of ${r.scanned} dead letters of group ${group} to %RETRY%${group}${skipped}${cut}`,
    json: { group, ...r },
  };
};

const scheduleStatus: Handler = async ({ admin, values }) => {
  const addrs = await targetBrokers(admin, addrOption(values, "b"), values.c);
  const rows: Cell[][] = [];
  const json: Record<string, unknown> = {};
  for (const addr of addrs) {
    const levels = await delayedMessageStatus(admin, addr);
    json[addr] = levels;
    for (const l of levels) {
      rows.push([
        addr,
        l.level,
        l.delayMs >= 0 ? `${l.delayMs}ms` : "(not configured)",
        l.pending,
        timeOrDash(l.nextDue),
      ]);
    }
  }
  return {
    text: formatTable(["#Broker Addr", "#Level", "#Delay", "#Pending", "#Next Due"], rows, [1, 3]),
    json: values.c === undefined ? json[addrs[0]!] : json,
  };
};

export const SCHEDULE_HANDLERS: Record<string, Handler> = {
  deadLetterList,
  deadLetterShow,
  deadLetterResend,
  scheduleStatus,
};
