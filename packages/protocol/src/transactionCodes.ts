/**
 * TideMQ's own request about transactions (not in RocketMQ; its number sits outside
 * RocketMQ's code ranges). `tidemq admin transactionStatus` and `queryMsgById` send it.
 *
 * TRANSACTION_STATUS: ext field `halfOffset` (optional, a queue offset in
 * RMQ_SYS_TRANS_HALF_TOPIC); the answer's body is JSON: pending (count), oldestStoreTimestamp
 * (0 when none), byGroup (producer group → pending count), checkInterval, timeout, checkMax,
 * and with halfOffset: half { queueOffset, status: pending | resolving | committed |
 * rolledBack | discarded | unknown, checks }.
 */

import { readLong, writeLong } from "./long.js";
export const TransactionRequestCode = {
  TRANSACTION_STATUS: 9101,
  /**
   * Several END_TRANSACTIONs of one producer group in one request (TideMQ's; RocketMQ sends
   * one oneway END_TRANSACTION per half). Ext fields `producerGroup`, `fromTransactionCheck`;
   * body = `encodeEndTransactionBatch`; answer body = `encodeEndTransactionResults` (one result
   * per entry, in order). A broker without it answers REQUEST_CODE_NOT_SUPPORTED.
   */
  END_TRANSACTION_BATCH: 9110,
  /**
   * Several transaction half messages of one producer group in one request (TideMQ's;
   * RocketMQ sends each half alone). Body and answer: see halfBatch.ts. A broker without it
   * answers REQUEST_CODE_NOT_SUPPORTED.
   */
  SEND_HALF_BATCH: 9111,
} as const;

/** One half's decision in END_TRANSACTION_BATCH (the fields END_TRANSACTION's header carries). */
export interface EndTransactionEntry {
  tranStateTableOffset: number;
  commitLogOffset: number;
  /** MessageSysFlag: 0 unknown, 8 commit, 12 rollback. */
  commitOrRollback: number;
}

/** One entry's answer: a response code and, unless SUCCESS without remark, its remark. */
export interface EndTransactionResult {
  code: number;
  remark?: string;
}

const ENTRY_BYTES = 17;
/** Most entries in one END_TRANSACTION_BATCH (a bound for the broker, not a protocol limit). */
export const MAX_END_TRANSACTION_BATCH = 4096;

/** 17 bytes per entry: tranStateTableOffset (int64), commitLogOffset (int64), commitOrRollback (int8). */
export function encodeEndTransactionBatch(entries: readonly EndTransactionEntry[]): Buffer {
  const buf = Buffer.allocUnsafe(entries.length * ENTRY_BYTES);
  let p = 0;
  for (const e of entries) {
    // As numbers (long.ts), not a BigInt per field: offsets stay far below 2^53.
    writeLong(buf, e.tranStateTableOffset, p);
    writeLong(buf, e.commitLogOffset, p + 8);
    buf.writeInt8(e.commitOrRollback, p + 16);
    p += ENTRY_BYTES;
  }
  return buf;
}

/** The entries of an END_TRANSACTION_BATCH body; throws on a body that is not whole entries. */
export function decodeEndTransactionBatch(body: Buffer | undefined): EndTransactionEntry[] {
  const n = endTransactionEntryCount(body);
  const out: EndTransactionEntry[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = readEndTransactionEntry(body!, i, { ...NO_ENTRY });
  return out;
}

/** How many entries an END_TRANSACTION_BATCH body holds; throws on a body that is not whole entries. */
export function endTransactionEntryCount(body: Buffer | undefined): number {
  if (!body || body.length === 0 || body.length % ENTRY_BYTES !== 0) {
    throw new Error(
      `END_TRANSACTION_BATCH body of ${body?.length ?? 0} bytes is not a whole number of ${ENTRY_BYTES}-byte entries`,
    );
  }
  const n = body.length / ENTRY_BYTES;
  if (n > MAX_END_TRANSACTION_BATCH) {
    throw new Error(`END_TRANSACTION_BATCH holds ${n} entries; at most ${MAX_END_TRANSACTION_BATCH}`);
  }
  return n;
}

/**
 * Entry `i` of a body endTransactionEntryCount accepted, read into `into` (returned): a caller
 * going through the entries one at a time needs no object per entry.
 */
export function readEndTransactionEntry(
  body: Buffer,
  i: number,
  into: EndTransactionEntry,
): EndTransactionEntry {
  const p = i * ENTRY_BYTES;
  into.tranStateTableOffset = readLong(body, p);
  into.commitLogOffset = readLong(body, p + 8);
  into.commitOrRollback = body.readInt8(p + 16);
  return into;
}

const NO_ENTRY: EndTransactionEntry = Object.freeze({
  tranStateTableOffset: 0,
  commitLogOffset: 0,
  commitOrRollback: 0,
});

/** JSON array: a bare code per entry, or [code, remark] when there is a remark. */
export function encodeEndTransactionResults(results: readonly EndTransactionResult[]): Buffer {
  const n = results.length;
  // Nearly every answer is all bare SUCCESS codes: "[0,0,…,0]" written as bytes, no text.
  let allZero = true;
  for (let i = 0; i < n && allZero; i++) {
    const r = results[i]!;
    allZero = r.code === 0 && r.remark === undefined;
  }
  if (allZero) {
    const buf = Buffer.allocUnsafe(n === 0 ? 2 : 2 * n + 1);
    buf[0] = 0x5b; // [
    for (let i = 0; i < n; i++) {
      buf[2 * i + 1] = 0x30; // 0
      buf[2 * i + 2] = 0x2c; // ,
    }
    buf[buf.length - 1] = 0x5d; // ] (over the last comma)
    return buf;
  }
  // The JSON text built directly (no array of codes to stringify).
  let text = "[";
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    if (i > 0) text += ",";
    text += r.remark === undefined ? JSON.stringify(r.code) : JSON.stringify([r.code, r.remark]);
  }
  return Buffer.from(`${text}]`, "utf8");
}

/**
 * The answer's results as they are on the wire (a bare code, or [code, remark]), no object per
 * result; throws unless it holds exactly `expected`. Read each with endTransactionResultCode
 * and endTransactionResultRemark.
 */
export function readEndTransactionResults(body: Buffer | undefined, expected: number): unknown[] {
  const raw: unknown = JSON.parse(body?.toString("utf8") ?? "null");
  if (!Array.isArray(raw) || raw.length !== expected) {
    throw new Error(`END_TRANSACTION_BATCH answer does not hold ${expected} results`);
  }
  return raw;
}

/** A raw result's code (-1 for a malformed one). */
export function endTransactionResultCode(r: unknown): number {
  return typeof r === "number" ? r : Array.isArray(r) && typeof r[0] === "number" ? r[0] : -1;
}

/** A raw result's remark, if any. */
export function endTransactionResultRemark(r: unknown): string | undefined {
  if (typeof r === "number") return undefined;
  return Array.isArray(r) && typeof r[0] === "number"
    ? String(r[1] ?? "")
    : `malformed result ${JSON.stringify(r)}`;
}

export function decodeEndTransactionResults(
  body: Buffer | undefined,
  expected: number,
): EndTransactionResult[] {
  return readEndTransactionResults(body, expected).map((r) =>
    typeof r === "number"
      ? { code: r }
      : { code: endTransactionResultCode(r), remark: endTransactionResultRemark(r) },
  );
}

/** The broker's answer to TRANSACTION_STATUS. */
export interface TransactionStatusBody {
  pending: number;
  oldestStoreTimestamp: number;
  byGroup: Record<string, number>;
  checkInterval: number;
  timeout: number;
  checkMax: number;
  half?: { queueOffset: number; status: string; checks?: number };
  /** How the state was rebuilt at start-up: from the checkpoint or not, records read, ms taken. */
  startup?: { fromCheckpoint: boolean; halvesRead: number; opsRead: number; ms: number };
  /** The last checkpoint written since start-up (config/transactionState.json). */
  checkpoint?: { halfScanned: number; opScanned: number; pending: number; writtenAt: number };
}
