/**
 * What the admin subcommands print of brokers (clusterList's rows and DLedger columns) and of
 * client ids, built from the cluster's answers: pure functions from data to rows, so the column
 * content is testable without a cluster. A stored message's view is in messageView.ts.
 */
import type { Cell } from "./table.js";

// ---------------------------------------------------------------- clusterList

export interface BrokerRow {
  cluster: string;
  brokerName: string;
  brokerId: number;
  addr: string;
  version: string;
  inTps: number;
  outTps: number;
  sendQueueSize: number;
  sendQueueHeadWaitMs: number;
  pullQueueSize: number;
  pullQueueHeadWaitMs: number;
  pageCacheLockTimeMs: number;
  /** Hours of messages kept: now − earliest stored message. */
  hours: number;
  /** Commit-log disk use, 0…1. */
  space: number;
  inTotalYesterday: number;
  outTotalYesterday: number;
  inTotalToday: number;
  outTotalToday: number;
  /** Why the runtime info could not be read (the other fields are then 0). */
  error?: string;
  /** DLedger replicas: Raft role, term, commit index, last index, entries behind the leader. */
  dledger?: {
    selfId: string;
    role: string;
    term: number;
    commitIndex: number;
    lastIndex: number;
    lag?: number;
    /** > 0: the amnesia mark — it neither votes nor campaigns until its log passes this offset. */
    amnesiaRecoverTo?: number;
    /** An elected leader that takes no writes yet: ms since its election, and why. */
    notWritable?: { ms: number; why: string };
  };
}

function num(table: Record<string, string>, key: string): number {
  const v = Number(table[key]);
  return Number.isFinite(v) ? v : 0;
}

/** First of the "10 s 60 s 600 s" rates of putTps / getTransferedTps (spec §6.6). */
function firstRate(table: Record<string, string>, key: string): number {
  const v = Number((table[key] ?? "").trim().split(/\s+/)[0]);
  return Number.isFinite(v) ? v : 0;
}

/** One clusterList row from a broker's GET_BROKER_RUNTIME_INFO table (mqadmin's arithmetic). */
export function brokerRow(
  where: { cluster: string; brokerName: string; brokerId: number; addr: string },
  table: Record<string, string> | undefined,
  now: number,
  error?: string,
): BrokerRow {
  const t = table ?? {};
  const earliest = num(t, "earliestMessageTimeStamp");
  const row: BrokerRow = {
    ...where,
    version: t.brokerVersionDesc ?? "",
    inTps: firstRate(t, "putTps"),
    outTps: firstRate(t, "getTransferedTps"),
    sendQueueSize: num(t, "sendThreadPoolQueueSize"),
    sendQueueHeadWaitMs: num(t, "sendThreadPoolQueueHeadWaitTimeMills"),
    pullQueueSize: num(t, "pullThreadPoolQueueSize"),
    pullQueueHeadWaitMs: num(t, "pullThreadPoolQueueHeadWaitTimeMills"),
    pageCacheLockTimeMs: num(t, "pageCacheLockTimeMills"),
    hours: earliest > 0 ? Math.max(0, (now - earliest) / 3_600_000) : 0,
    space: num(t, "commitLogDiskRatio"),
    inTotalYesterday: num(t, "msgPutTotalTodayMorning") - num(t, "msgPutTotalYesterdayMorning"),
    outTotalYesterday: num(t, "msgGetTotalTodayMorning") - num(t, "msgGetTotalYesterdayMorning"),
    inTotalToday: num(t, "msgPutTotalTodayNow") - num(t, "msgPutTotalTodayMorning"),
    outTotalToday: num(t, "msgGetTotalTodayNow") - num(t, "msgGetTotalTodayMorning"),
  };
  if (error !== undefined) row.error = error;
  if (t.dLegerSelfId) {
    row.dledger = {
      selfId: t.dLegerSelfId,
      role: t.dLegerRole ?? "",
      term: num(t, "dLegerTerm"),
      commitIndex: num(t, "dLegerCommitIndex"),
      lastIndex: num(t, "dLegerLastIndex"),
    };
    const amnesia = num(t, "dLegerAmnesiaRecoverTo");
    if (amnesia > 0) row.dledger.amnesiaRecoverTo = amnesia;
    if (t.dLegerNotWritableWhy)
      row.dledger.notWritable = { ms: num(t, "dLegerNotWritableMs"), why: t.dLegerNotWritableWhy };
  }
  return row;
}

/** Fills each DLedger replica's lag (entries behind) from its group leader's view. */
export function fillDLedgerLag(rows: BrokerRow[], tables: Map<string, Record<string, string>>): void {
  for (const r of rows) {
    const d = r.dledger;
    if (!d) continue;
    const leader = rows.find((x) => x.brokerName === r.brokerName && x.dledger?.role === "LEADER");
    if (!leader) continue;
    const lags = (tables.get(leader.addr)?.dLegerPeerLag ?? "").split(";");
    const mine = lags.find((l) => l.startsWith(`${d.selfId}:`));
    d.lag = mine ? Number(mine.split(":")[1]) : Math.max(0, leader.dledger!.lastIndex - d.lastIndex);
  }
}

export const DLEDGER_HEADERS = ["#DLedger", "#Role", "#Term", "#Commit", "#Lag"];

/** What an operator must know about a replica beyond its numbers ("" when nothing). */
export function dledgerNote(r: BrokerRow): string {
  const d = r.dledger;
  if (!d) return "";
  const notes: string[] = [];
  if (d.amnesiaRecoverTo)
    notes.push(`AMNESIA: no vote or campaign until its log passes offset ${d.amnesiaRecoverTo}`);
  if (d.notWritable)
    notes.push(
      `elected ${(d.notWritable.ms / 1000).toFixed(1)} s ago, takes no writes: ${d.notWritable.why}`,
    );
  return notes.join("; ");
}

/** The note column, shown only when some replica has a note (the usual table stays as it was). */
export const DLEDGER_NOTE_HEADER = "#Note";

export function dledgerCells(r: BrokerRow): Cell[] {
  const d = r.dledger;
  if (!d) return ["", "", "", "", ""];
  return [d.selfId, d.role, d.term, d.commitIndex, d.lag ?? ""];
}

export const CLUSTER_HEADERS = [
  "#Cluster Name",
  "#Broker Name",
  "#BID",
  "#Addr",
  "#Version",
  "#InTPS(LOAD)",
  "#OutTPS(LOAD)",
  "#PCWait(ms)",
  "#Hour",
  "#SPACE",
  "#InTotalToday",
  "#OutTotalToday",
];
export const CLUSTER_MORE_HEADERS = ["#InTotalYest", "#OutTotalYest"];

/** Table cells of a row, formatted as mqadmin prints them ("%9.2f(%s,%sms)", "%2.2f", "%.4f"). */
export function clusterCells(r: BrokerRow, more: boolean): Cell[] {
  const cells: Cell[] = [
    r.cluster,
    r.brokerName,
    r.brokerId,
    r.addr,
    r.error ? `unreachable: ${r.error}` : r.version,
    r.error ? "" : `${r.inTps.toFixed(2)}(${r.sendQueueSize},${r.sendQueueHeadWaitMs}ms)`,
    r.error ? "" : `${r.outTps.toFixed(2)}(${r.pullQueueSize},${r.pullQueueHeadWaitMs}ms)`,
    r.error ? "" : r.pageCacheLockTimeMs,
    r.error ? "" : r.hours.toFixed(2),
    r.error ? "" : r.space.toFixed(4),
    r.error ? "" : r.inTotalToday,
    r.error ? "" : r.outTotalToday,
  ];
  if (more) cells.push(r.error ? "" : r.inTotalYesterday, r.error ? "" : r.outTotalYesterday);
  return cells;
}

/** Where the first "@" is: client ids are "ip@pid[@instance]". */
export function clientIpOf(clientId: string): string {
  const i = clientId.indexOf("@");
  return i < 0 ? clientId : clientId.slice(0, i);
}
