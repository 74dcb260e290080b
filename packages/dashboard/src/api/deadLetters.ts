import {
  type DeadLetterQueue,
  type DeadLetterSummary,
  deadLetterSummary,
  dlqTopicOf,
  MAX_DEAD_LETTER_SCAN,
  resendDeadLetters,
  resentMarks,
} from "@tidemq/client";
import type { MessageExt } from "@tidemq/protocol";
import { fmt, mapLimit, pageOf } from "../Bounded.js";
import type { ClusterData } from "../ClusterData.js";
import { bodyForExport, type DeadLetterRow, deadLetterRow, pageRanges, toCsv } from "../DeadLetterRows.js";
import { bool, Download, HttpError, int, name, type Route, str } from "../http.js";
import { TtlCache } from "../TtlCache.js";

const DLQ_PREFIX = "%DLQ%";
/** Groups whose counts one list page reads (each costs two pulls per DLQ queue). */
const MAX_LIST_PAGE = 100;
/** Dead letters one export file holds at most; the file and its X-TideMQ-Note say when it is cut. */
export const MAX_EXPORT = 10_000;
/** Message ids one "resend a selection" takes (a bigger selection is refused, not cut). */
export const MAX_SELECTION = 1000;
const PULL_BATCH = 32;

/**
 * Count/oldest/newest per group: fresh 3 s; until 60 s old a stale one is answered at once while
 * one refresh runs behind it (the list's asOf says how old the oldest count shown is).
 */
const summaries = new TtlCache<DeadLetterSummary>(3000, 60_000, 5000);

/** A master holding a group's %DLQ% topic, as its topic table says. */
interface DlqHost {
  brokerName: string;
  addr: string;
}

/**
 * Groups with a %DLQ% topic on a master (and which masters), read fresh every 2 s without
 * serving stale: a DLQ appears when a group's first message dies, and the page should show it
 * on the next look (one config request per master, cheap next to the summaries).
 */
const dlqCache = new TtlCache<Map<string, DlqHost[]>>(2000, 2000, 1);

function dlqGroups(data: ClusterData) {
  return dlqCache.get("", async () => {
    const masters = await data.masters();
    const tables = await mapLimit(masters, 8, async (m) => ({
      m,
      topics: await data.admin.getAllTopicConfig(m.addr),
    }));
    const groups = new Map<string, DlqHost[]>();
    for (const { m, topics } of tables)
      for (const topic of Object.keys(topics))
        if (topic.startsWith(DLQ_PREFIX)) {
          const g = topic.slice(DLQ_PREFIX.length);
          groups.set(g, [...(groups.get(g) ?? []), { brokerName: m.brokerName, addr: m.addr }]);
        }
    return new Map([...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  });
}

/**
 * A group's summary from the masters that hold its DLQ: one GET_TOPIC_STATS_INFO per master
 * (min/max offset and the newest store time of every queue) and one pull per non-empty queue
 * for the oldest; no route lookup (the topic tables above said where it is). The same figures
 * as the client's deadLetterSummary, in 2 requests for a one-queue DLQ instead of 5.
 */
async function summaryFromHosts(
  data: ClusterData,
  group: string,
  hosts: DlqHost[],
): Promise<DeadLetterSummary> {
  const topic = dlqTopicOf(group);
  const perHost = await Promise.all(
    hosts.map(async (host) => {
      const stats = await data.admin.getTopicStatsOnBroker(host.addr, topic);
      return Promise.all(
        stats.map(async (st) => {
          const q: DeadLetterQueue = {
            brokerName: host.brokerName,
            brokerAddr: host.addr,
            queueId: st.mq.queueId,
            minOffset: st.minOffset,
            maxOffset: st.maxOffset,
          };
          if (q.maxOffset <= q.minOffset) return { q };
          const mq = { topic, brokerName: q.brokerName, queueId: q.queueId };
          const [first] = (
            await data.admin.pullMessages(host.addr, mq, q.minOffset, 1, `TOOLS_DLQ_${group}`.slice(0, 255))
          ).messages;
          return { q, oldest: first?.storeTimestamp, newest: st.lastUpdateTimestamp || undefined };
        }),
      );
    }),
  );
  const rows = perHost
    .flat()
    .sort((a, b) =>
      a.q.brokerName < b.q.brokerName ? -1 : a.q.brokerName > b.q.brokerName ? 1 : a.q.queueId - b.q.queueId,
    );
  let count = 0;
  let oldest: number | undefined;
  let newest: number | undefined;
  for (const r of rows) {
    count += Math.max(0, r.q.maxOffset - r.q.minOffset);
    if (r.oldest !== undefined) oldest = Math.min(oldest ?? r.oldest, r.oldest);
    if (r.newest !== undefined) newest = Math.max(newest ?? r.newest, r.newest);
  }
  return { group, topic, count, oldest, newest, queues: rows.map((r) => r.q) };
}

function summaryOf(data: ClusterData, group: string, hosts?: DlqHost[]) {
  return summaries.get(group, () =>
    hosts && hosts.length > 0 ? summaryFromHosts(data, group, hosts) : deadLetterSummary(data.admin, group),
  );
}

/** Reads the messages of [from, to) of one DLQ queue, in order. */
async function readRange(
  data: ClusterData,
  q: DeadLetterQueue,
  group: string,
  from: number,
  to: number,
  visit: (m: MessageExt) => void,
): Promise<void> {
  const mq = { topic: dlqTopicOf(group), brokerName: q.brokerName, queueId: q.queueId };
  let offset = from;
  // Every round advances the offset or stops; at most (to − from) rounds.
  for (let guard = 0; offset < to && guard <= to - from; guard++) {
    const r = await data.admin.pullMessages(q.brokerAddr, mq, offset, Math.min(PULL_BATCH, to - offset));
    if (r.messages.length === 0) break;
    for (const m of r.messages) if (m.queueOffset < to) visit(m);
    offset = r.nextBeginOffset > offset ? r.nextBeginOffset : offset + r.messages.length;
  }
}

function groupParam(src: URLSearchParams | Record<string, unknown>): string {
  const g = name(src, "group");
  if (g.startsWith("%"))
    throw new HttpError(400, `parameter group: give the consumer group, not a topic (${g})`);
  return g;
}

/** The offset message id `id`, checked to name a broker of this cluster before anything connects to it. */
async function checkedMsgId(data: ClusterData, id: unknown): Promise<string> {
  if (typeof id !== "string" || !/^[0-9A-Fa-f]{32}$|^[0-9A-Fa-f]{56}$/.test(id))
    throw new HttpError(400, `"${String(id).slice(0, 80)}" is not an offset message id`);
  await data.brokerOfMsgId(id);
  return id;
}

/**
 * Dead letters page: groups with a %DLQ% topic (count, oldest, newest), a group's dead letters
 * paged, export as CSV or JSON, and resend one, a selection or all to the group's retry topic
 * (an admin write: role, CSRF and audit are the server's).
 */
export const routes: Route[] = [
  {
    method: "GET",
    path: "/api/deadLetters",
    async handle({ data, query }) {
      const search = str(query, "search", { optional: true, max: 255 }).toLowerCase();
      const dlq = await dlqGroups(data);
      const groups = [...dlq.value.keys()].filter((g) => !search || g.toLowerCase().includes(search));
      const page = pageOf(
        groups,
        int(query, "page", { min: 0, default: 0 }),
        int(query, "size", { min: 1, max: MAX_LIST_PAGE, default: 50 }),
        MAX_LIST_PAGE,
      );
      let asOf = dlq.asOf;
      const items = await mapLimit(page.items, 16, async (group) => {
        try {
          const c = await summaryOf(data, group, dlq.value.get(group));
          asOf = Math.min(asOf, c.asOf);
          const s = c.value;
          return {
            group,
            count: s.count,
            oldest: s.oldest,
            newest: s.newest,
            brokers: [...new Set(s.queues.map((q) => q.brokerName))],
          };
        } catch (err) {
          return { group, error: (err as Error).message };
        }
      });
      // asOf: the oldest figure shown (a count may be up to a minute old while it is refreshed).
      return { ...page, items, asOf };
    },
  },
  {
    method: "GET",
    path: "/api/deadLetters/messages",
    async handle({ data, query }) {
      const group = groupParam(query);
      const size = int(query, "size", { min: 1, max: 200, default: 50 });
      const s = await deadLetterSummary(data.admin, group);
      const pageNo = Math.min(
        int(query, "page", { min: 0, default: 0 }),
        Math.max(0, Math.ceil(s.count / size) - 1),
      );
      const items: DeadLetterRow[] = [];
      for (const r of pageRanges(s.queues, pageNo * size, size))
        await readRange(data, r.queue, group, r.from, r.to, (m) =>
          items.push(deadLetterRow(m, r.queue.brokerName)),
        );
      // When and as what each one was resent (the resend markers of the group).
      if (items.length > 0) {
        const marks = await resentMarks(
          data.admin,
          group,
          s.queues.map((q) => q.brokerAddr),
        );
        for (const it of items) {
          const mark = marks.get(it.offsetMsgId);
          if (mark) Object.assign(it, { resentAt: mark.at, resentAs: mark.copy });
        }
      }
      const note =
        items.length < Math.min(size, s.count - pageNo * size)
          ? `the broker returned ${items.length} of the ${Math.min(size, s.count - pageNo * size)} dead letters this page should hold (some may have been removed with old commit-log files)`
          : "";
      return {
        group,
        topic: s.topic,
        count: s.count,
        oldest: s.oldest,
        newest: s.newest,
        queues: s.queues.map(({ brokerName, queueId, minOffset, maxOffset }) => ({
          brokerName,
          queueId,
          minOffset,
          maxOffset,
        })),
        items,
        total: s.count,
        offset: pageNo * size,
        cut: items.length < s.count,
        ...(note ? { note } : {}),
        asOf: Date.now(),
      };
    },
  },
  {
    method: "GET",
    path: "/api/deadLetters/export",
    async handle({ data, query }) {
      const group = groupParam(query);
      const format = str(query, "format", { optional: true }) || "csv";
      if (format !== "csv" && format !== "json")
        throw new HttpError(400, `parameter format must be csv or json, not ${format}`);
      const withBody = bool(query, "body", true);
      const s = await deadLetterSummary(data.admin, group);
      const rows: Array<DeadLetterRow & { body?: string; bodyEncoding?: string }> = [];
      for (const r of pageRanges(s.queues, 0, MAX_EXPORT))
        await readRange(data, r.queue, group, r.from, r.to, (m) =>
          rows.push({ ...deadLetterRow(m, r.queue.brokerName), ...(withBody ? bodyForExport(m.body) : {}) }),
        );
      if (rows.length > 0) {
        const marks = await resentMarks(
          data.admin,
          group,
          s.queues.map((q) => q.brokerAddr),
        );
        for (const row of rows) {
          const mark = marks.get(row.offsetMsgId);
          if (mark) Object.assign(row, { resentAt: mark.at, resentAs: mark.copy });
        }
      }
      const cut = rows.length < s.count;
      const note = cut
        ? `exported ${fmt(rows.length)} of ${fmt(s.count)} dead letters of ${group} (oldest first; an export holds at most ${fmt(MAX_EXPORT)})`
        : "";
      const stamp = new Date().toISOString().replace(/[:.]/g, "-");
      const base = `dead-letters-${group}-${stamp}${cut ? `-first-${rows.length}-of-${s.count}` : ""}`;
      if (format === "json") {
        const body = JSON.stringify(
          { group, topic: s.topic, count: s.count, exported: rows.length, cut, note, messages: rows },
          null,
          1,
        );
        return new Download(`${base}.json`, "application/json; charset=utf-8", Buffer.from(body), note);
      }
      const columns: Array<keyof (typeof rows)[number] & string> = [
        "msgId",
        "offsetMsgId",
        "originTopic",
        "originMsgId",
        "keys",
        "tag",
        "brokerName",
        "queueId",
        "queueOffset",
        "storeTimestamp",
        "bornTimestamp",
        "bornHost",
        "reconsumeTimes",
        "bodySize",
        "resentAt",
        "resentAs",
        ...(withBody ? (["bodyEncoding", "body"] as const) : []),
      ];
      return new Download(`${base}.csv`, "text/csv; charset=utf-8", Buffer.from(toCsv(columns, rows)), note);
    },
  },
  {
    method: "POST",
    path: "/api/deadLetters/resend",
    action: "deadLetter.resend",
    async handle({ data, body }) {
      const group = groupParam(body);
      const all = bool(body, "all", false);
      // Dead letters resent before are skipped unless force (each resend is marked).
      const force = bool(body, "force", false);
      const skippedNote = (n: number) =>
        n > 0 ? `; ${fmt(n)} skipped: resent before (force: true resends them again)` : "";
      const ids = body.msgIds;
      const ranged = body.begin !== undefined || body.end !== undefined;
      if (Number(all) + Number(ids !== undefined) + Number(ranged) !== 1)
        throw new HttpError(
          400,
          "give exactly one of msgIds (a list of offset message ids), a time range (begin and/or end, epoch ms) or all: true",
        );
      if (all || ranged) {
        const range = ranged
          ? {
              begin: int(body, "begin", { min: 0, default: 0 }),
              end: int(body, "end", { min: 0, default: Number.MAX_SAFE_INTEGER }),
            }
          : {};
        if (ranged && range.begin! > range.end!) throw new HttpError(400, "begin is after end");
        const r = await resendDeadLetters(data.admin, group, range, { force });
        const what = ranged
          ? `of the ${fmt(r.scanned)} looked at, those stored from ${new Date(range.begin!).toISOString()}${
              range.end! < Number.MAX_SAFE_INTEGER ? ` to ${new Date(range.end!).toISOString()}` : " on"
            }`
          : "";
        return {
          group,
          resent: r.resent,
          skipped: r.skipped,
          scanned: r.scanned,
          truncated: r.truncated,
          message: `resent ${fmt(r.resent)} dead letters of ${group}${what ? ` (${what})` : ""} to %RETRY%${group}${
            r.truncated
              ? ` — the scan stopped at ${fmt(MAX_DEAD_LETTER_SCAN)} dead letters: those after them were NOT resent`
              : ""
          }${skippedNote(r.skipped)}`,
        };
      }
      if (!Array.isArray(ids) || ids.length === 0)
        throw new HttpError(400, "parameter msgIds must be a non-empty list of offset message ids");
      if (ids.length > MAX_SELECTION)
        throw new HttpError(
          400,
          `a selection holds at most ${fmt(MAX_SELECTION)} message ids (got ${fmt(ids.length)}): resend all, or in parts`,
        );
      const checked: string[] = [];
      for (const id of ids) checked.push(await checkedMsgId(data, id));
      const failed: Array<{ msgId: string; error: string }> = [];
      let resent = 0;
      let skipped = 0;
      // One at a time, in the order given: a failure is reported per id and does not stop the rest.
      for (const msgId of new Set(checked)) {
        try {
          const r = await resendDeadLetters(data.admin, group, { msgId }, { force });
          resent += r.resent;
          skipped += r.skipped;
        } catch (err) {
          failed.push({ msgId, error: (err as Error).message });
        }
      }
      if (resent === 0 && failed.length > 0) throw new HttpError(400, failed.map((f) => f.error).join("; "));
      return {
        group,
        resent,
        skipped,
        failed,
        message: `resent ${fmt(resent)} of ${fmt(new Set(checked).size)} selected dead letters of ${group} to %RETRY%${group}${
          failed.length
            ? ` — ${failed.length} failed: ${failed.map((f) => `${f.msgId}: ${f.error}`).join("; ")}`
            : ""
        }${skippedNote(skipped)}`,
      };
    },
  },
];
