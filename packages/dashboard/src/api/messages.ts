import type { MessageQueue } from "@tidemq/client";
import { formatHostPort, type MessageExt } from "@tidemq/protocol";
import { fmt, mapLimit, pageOf } from "../Bounded.js";
import type { ClusterData } from "../ClusterData.js";
import type { Route } from "../http.js";
import { HttpError, int, name, str } from "../http.js";
import { TtlCache } from "../TtlCache.js";

/** Messages one time-range query reads at most (rocketmq-dashboard's silent cap was 2,000 too). */
export const MAX_RANGE_MESSAGES = 2000;
/** Messages a key query asks each broker for (the broker's defaultQueryMaxNum is 64). */
export const MAX_KEY_MESSAGES = 64;
/** Body bytes a detail view carries. */
const MAX_DETAIL_BODY = 256 * 1024;
const PULL_BATCH = 32;

interface Summary {
  msgId: string;
  offsetMsgId: string;
  topic: string;
  tag: string;
  keys: string;
  brokerName: string;
  queueId: number;
  queueOffset: number;
  storeTimestamp: number;
  bornTimestamp: number;
  bornHost: string;
  bodySize: number;
  reconsumeTimes: number;
}

function summary(m: MessageExt, brokerName: string): Summary {
  return {
    msgId: m.properties.UNIQ_KEY ?? m.msgId,
    offsetMsgId: m.msgId,
    topic: m.topic,
    tag: m.properties.TAGS ?? "",
    keys: m.properties.KEYS ?? "",
    brokerName,
    queueId: m.queueId,
    queueOffset: m.queueOffset,
    storeTimestamp: m.storeTimestamp,
    bornTimestamp: m.bornTimestamp,
    bornHost: formatHostPort(m.bornHost),
    bodySize: m.body.length,
    reconsumeTimes: m.reconsumeTimes,
  };
}

interface RangeResult {
  items: Summary[];
  total: number;
  note: string;
}

/** Results of time-range reads, kept a minute so paging through them does not read again. */
const rangeCache = new TtlCache<RangeResult>(60_000, 60_000, 200);

async function readRange(data: ClusterData, topic: string, begin: number, end: number): Promise<RangeResult> {
  const route = await data.admin.getTopicRoute(topic).catch((err: Error) => {
    throw new HttpError(404, err.message);
  });
  const queues: Array<{ addr: string; mq: MessageQueue }> = [];
  for (const qd of route.queueDatas) {
    const addr = route.brokerDatas.find((b) => b.brokerName === qd.brokerName)?.brokerAddrs["0"];
    if (!addr) continue;
    for (let queueId = 0; queueId < qd.readQueueNums; queueId++)
      queues.push({ addr, mq: { topic, brokerName: qd.brokerName, queueId } });
  }
  // [first offset stored at or after begin, first offset stored after end): exact per queue.
  const ranges = await mapLimit(queues, 16, async (q) => {
    const lo = await data.admin.searchOffset(q.addr, q.mq, begin);
    const hi = await data.admin.searchOffset(q.addr, q.mq, end + 1);
    return { ...q, lo, hi: Math.max(lo, hi) };
  });
  const total = ranges.reduce((s, r) => s + (r.hi - r.lo), 0);
  let note = "";
  if (total > MAX_RANGE_MESSAGES) {
    // Each queue gives the newest part of its range in proportion to its share.
    // (largest remainders, so the shares add up to exactly the bound).
    const shares = ranges.map((r) => ((r.hi - r.lo) * MAX_RANGE_MESSAGES) / total);
    const whole = shares.map(Math.floor);
    let left = MAX_RANGE_MESSAGES - whole.reduce((a, b) => a + b, 0);
    const byRemainder = shares.map((x, i) => ({ i, rem: x - whole[i]! })).sort((a, b) => b.rem - a.rem);
    for (const { i } of byRemainder) {
      if (left <= 0) break;
      whole[i]!++;
      left--;
    }
    for (const [i, r] of ranges.entries()) r.lo = r.hi - whole[i]!;
    note = `${fmt(total)} messages are stored in this time range; reading at most ${fmt(MAX_RANGE_MESSAGES)} (the newest part of each queue's range, in proportion to its share). Narrow the time range to see the others.`;
  }
  const items: Summary[] = [];
  await mapLimit(ranges, 8, async (r) => {
    let offset = r.lo;
    // Bounded: at most (hi-lo)/batch + a few pulls; an empty answer ends the queue.
    for (let guard = 0; offset < r.hi && guard < MAX_RANGE_MESSAGES; guard++) {
      const res = await data.admin.pullMessages(r.addr, r.mq, offset, Math.min(PULL_BATCH, r.hi - offset));
      if (res.messages.length === 0) break;
      for (const m of res.messages) if (m.queueOffset < r.hi) items.push(summary(m, r.mq.brokerName));
      offset = res.nextBeginOffset > offset ? res.nextBeginOffset : offset + res.messages.length;
    }
  });
  items.sort((a, b) => b.storeTimestamp - a.storeTimestamp || (a.offsetMsgId < b.offsetMsgId ? -1 : 1));
  return { items, total, note };
}

/** The stored message behind an offset message id, read only from a broker of this cluster. */
async function viewById(data: ClusterData, offsetMsgId: string): Promise<MessageExt> {
  await data.brokerOfMsgId(offsetMsgId);
  return data.admin.viewMessage(offsetMsgId);
}

/** Messages page: by topic and time range (paged), by key, by id; a message's detail. */
export const routes: Route[] = [
  {
    method: "GET",
    path: "/api/messages/byTime",
    async handle({ data, query }) {
      const topic = name(query, "topic");
      const end = int(query, "end", { min: 0, default: Date.now() });
      const begin = int(query, "begin", { min: 0, default: end - 3600_000 });
      if (begin > end) throw new HttpError(400, "begin is after end");
      const r = await rangeCache.get(`${topic}|${begin}|${end}`, () => readRange(data, topic, begin, end));
      const page = pageOf(
        r.value.items,
        int(query, "page", { min: 0, default: 0 }),
        int(query, "size", { min: 1, max: 200, default: 50 }),
      );
      return {
        ...page,
        // The page counts what was read; `stored` is every message of the range.
        stored: r.value.total,
        cut: page.cut || r.value.total > r.value.items.length,
        note: r.value.note,
        asOf: r.asOf,
      };
    },
  },
  {
    method: "GET",
    path: "/api/messages/byKey",
    async handle({ data, query }) {
      const topic = name(query, "topic");
      const key = str(query, "key", { max: 1024 });
      const found = await data.admin.queryMessage(topic, key, { maxNum: MAX_KEY_MESSAGES });
      const items = found.map((m) => summary(m, ""));
      const maybeCut = items.length >= MAX_KEY_MESSAGES;
      return {
        items,
        total: items.length,
        offset: 0,
        cut: maybeCut,
        note: maybeCut
          ? `found ${items.length}: each broker answers at most ${MAX_KEY_MESSAGES} messages a key query, so there may be more`
          : "",
        asOf: Date.now(),
      };
    },
  },
  {
    method: "GET",
    path: "/api/messages/byId",
    async handle({ data, query }) {
      const topic = name(query, "topic");
      const id = str(query, "id", { max: 128 });
      // A client message id (UNIQ_KEY) first, as producers report it; then a broker offset id.
      const byUniq = await data.admin.queryMessage(topic, id, { maxNum: MAX_KEY_MESSAGES, uniqueKey: true });
      let items = byUniq.map((m) => summary(m, ""));
      if (items.length === 0 && /^[0-9A-Fa-f]{32}$|^[0-9A-Fa-f]{56}$/.test(id)) {
        const m = await viewById(data, id).catch(() => undefined);
        if (m && m.topic === topic) items = [summary(m, "")];
      }
      return { items, total: items.length, offset: 0, cut: false, asOf: Date.now() };
    },
  },
  {
    method: "GET",
    path: "/api/messages/detail",
    async handle({ data, query }) {
      const id = str(query, "offsetMsgId", { max: 64 });
      const m = await viewById(data, id).catch((err: Error) => {
        if (err instanceof HttpError) throw err;
        throw new HttpError(404, err.message);
      });
      const store = formatHostPort(m.storeHost);
      const broker = await data.knownBroker(store);
      const mq = { topic: m.topic, brokerName: broker.brokerName, queueId: m.queueId };
      // Each group of the topic: consumed when its committed offset is past this message.
      const groups = (await data.admin.queryTopicConsumeByWho(store, m.topic).catch(() => [])).slice(0, 200);
      const tracks = await mapLimit(groups, 16, async (g) => {
        const committed = await data.admin.queryConsumerOffset(store, g, mq).catch(() => -1);
        return {
          group: g,
          committedOffset: committed,
          state: committed < 0 ? "NO_OFFSET" : committed > m.queueOffset ? "CONSUMED" : "NOT_CONSUMED_YET",
        };
      });
      const body = m.body.subarray(0, MAX_DETAIL_BODY);
      return {
        message: {
          ...summary(m, broker.brokerName),
          properties: m.properties,
          storeHost: store,
          sysFlag: m.sysFlag,
          bodyCRC: m.bodyCRC,
        },
        body: body.toString("base64"),
        bodySize: m.body.length,
        bodyCut: body.length < m.body.length,
        tracks,
        asOf: Date.now(),
      };
    },
  },
];
