import { readHalfBatchResults } from "@tidemq/protocol";

/**
 * A SEND_HALF_BATCH answer (protocol's halfBatch.ts: a JSON array of [code, remark] or, for a
 * stored half, [code, remark, msgId, queueId, queueOffset]) as columns, one row per half.
 * The answer every TideMQ broker writes (encodeHalfBatchResults: integers, no remark, plain
 * ASCII ids, no spaces) is read here straight from its bytes: no JSON.parse, no array per
 * result, and each id's commit-log offset taken from its hex digits as they pass (what
 * END_TRANSACTION names; commitLogOffsetOf would read the id's text again). Anything else —
 * a remark, whitespace, an escape, a number that is not a plain integer — is read by the
 * protocol's readHalfBatchResults, with its checks and errors.
 */
export interface HalfBatchAnswer {
  readonly code: number[];
  /** The refusal's remark ("" when none). */
  readonly remark: string[];
  /** The stored half's offset message id; undefined for a result of two fields. */
  readonly msgId: (string | undefined)[];
  readonly queueId: number[];
  readonly queueOffset: number[];
  /** The commit-log offset `msgId` names, or -1 when it was not read here (then read it from msgId). */
  readonly commitLogOffset: number[];
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const MINUS = 0x2d;

/** Throws unless `body` holds exactly `expected` well-formed results (then none may be used). */
export function readHalfBatchAnswer(body: Buffer | undefined, expected: number): HalfBatchAnswer {
  const answer: HalfBatchAnswer = {
    code: new Array<number>(expected),
    remark: new Array<string>(expected),
    msgId: new Array<string | undefined>(expected),
    queueId: new Array<number>(expected),
    queueOffset: new Array<number>(expected),
    commitLogOffset: new Array<number>(expected),
  };
  if (body !== undefined && expected > 0 && readPlain(body, expected, answer)) return answer;
  const results = readHalfBatchResults(body, expected);
  for (let i = 0; i < expected; i++) {
    const r = results[i]!;
    // Checked by the reader: a result of five fields or more is a stored one's.
    const stored = r.length >= 5 ? (r as [number, string, string, number, number]) : undefined;
    answer.code[i] = r[0];
    answer.remark[i] = r[1];
    answer.msgId[i] = stored?.[2];
    answer.queueId[i] = stored?.[3] ?? -1;
    answer.queueOffset[i] = stored?.[4] ?? -1;
    answer.commitLogOffset[i] = -1;
  }
  return answer;
}

/**
 * The position after a plain integer at `p` (an optional minus, 1 to 15 digits, no leading
 * zero), or -1 when there is none: past 15 digits exactness is not certain, and the rest is
 * not JSON.
 */
function intEnd(b: Buffer, p: number): number {
  const start = b[p] === MINUS ? p + 1 : p;
  let q = start;
  while (q < b.length && b[q]! >= 0x30 && b[q]! <= 0x39) q++;
  const n = q - start;
  return n === 0 || n > 15 || (n > 1 && b[start] === 0x30) ? -1 : q;
}

/** The integer intEnd found in b[p, end). */
function intValue(b: Buffer, p: number, end: number): number {
  const negative = b[p] === MINUS;
  let v = 0;
  for (let q = negative ? p + 1 : p; q < end; q++) v = v * 10 + b[q]! - 0x30;
  return negative ? -v : v;
}

/** The canonical answer into `out`; false (out partly written) when it is not that form. */
function readPlain(b: Buffer, expected: number, out: HalfBatchAnswer): boolean {
  // One string for the answer: each id is a slice of it (no copy per id).
  const text = b.toString("latin1");
  const n = b.length;
  let p = 0;
  if (b[p++] !== OPEN) return false;
  for (let i = 0; i < expected; i++) {
    if (i > 0 && b[p++] !== COMMA) return false;
    if (b[p++] !== OPEN) return false;
    let e = intEnd(b, p);
    if (e < 0) return false;
    out.code[i] = intValue(b, p, e);
    p = e;
    // An empty remark: a refusal's text goes through the JSON reader.
    if (b[p] !== COMMA || b[p + 1] !== QUOTE || b[p + 2] !== QUOTE) return false;
    out.remark[i] = "";
    p += 3;
    if (b[p] === CLOSE) {
      p++;
      out.msgId[i] = undefined;
      out.queueId[i] = -1;
      out.queueOffset[i] = -1;
      out.commitLogOffset[i] = -1;
      continue;
    }
    if (b[p] !== COMMA || b[p + 1] !== QUOTE) return false;
    p += 2;
    const start = p;
    // TideMQ's ids: 32 (IPv4) or 56 (IPv6) hex digits, read in one pass with their offset.
    const len = b[p + 32] === QUOTE ? 32 : b[p + 56] === QUOTE ? 56 : 0;
    const offset = len > 0 ? offsetOfHexId(b, p, p + len) : -1;
    if (offset >= 0) p += len;
    else {
      // Printable ASCII without an escape: the text is the id as it is.
      for (; p < n; p++) {
        const c = b[p]!;
        if (c === QUOTE || c < 0x20 || c > 0x7e || c === 0x5c) break;
      }
      if (p >= n || b[p] !== QUOTE) return false;
    }
    out.msgId[i] = text.slice(start, p);
    out.commitLogOffset[i] = offset;
    p++;
    e = b[p] === COMMA ? intEnd(b, p + 1) : -1;
    if (e < 0) return false;
    out.queueId[i] = intValue(b, p + 1, e);
    p = e;
    e = b[p] === COMMA ? intEnd(b, p + 1) : -1;
    if (e < 0) return false;
    out.queueOffset[i] = intValue(b, p + 1, e);
    p = e;
    if (b[p++] !== CLOSE) return false;
  }
  return b[p++] === CLOSE && p === n;
}

/** Each byte's hex digit value, or -1. */
const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) HEX[0x41 + c] = HEX[0x61 + c] = 10 + c;

/** The value of the hex digits b[from, to) (at most 8), or -1 when one is not a hex digit. */
function hexAt(b: Buffer, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) {
    const d = HEX[b[i]!]!;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/**
 * The commit-log offset of an offset message id held in b[start, end): host bytes, port (8
 * digits), offset (16), as Transaction's commitLogOffsetOf reads it from the text; -1 when the
 * id is not plainly one (then commitLogOffsetOf, and decodeOffsetMsgId's errors, decide).
 */
function offsetOfHexId(b: Buffer, start: number, end: number): number {
  const n = end - start;
  if (n !== 32 && n !== 56) return -1;
  for (let p = start; p < end - 24; p += 8) if (hexAt(b, p, p + 8) < 0) return -1;
  const port = hexAt(b, end - 24, end - 16);
  const high = hexAt(b, end - 16, end - 8);
  const low = hexAt(b, end - 8, end);
  if (port < 0 || port > 65535 || high < 0 || low < 0) return -1;
  const offset = high * 2 ** 32 + low;
  return Number.isSafeInteger(offset) ? offset : -1;
}
