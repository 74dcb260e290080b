import type { PutResult } from "@tidemq/store";

/**
 * The commit-log offset of record `i` (i ≥ 1) of a put's result; record 0's is
 * result.commitLogOffset (PutCoalescer gives each coalesced send its own first record's
 * offset there). Its offsetMsgId's low 8 hex digits on top of that first offset: a put's
 * records are at most its bytes (a few MiB, far below 4 GiB) after it. Half the digits of
 * offsetOfMsgId, on the send path of every keyed batch member.
 */
export function recordOffset(result: Pick<PutResult, "commitLogOffset" | "msgIds">, i: number): number {
  const id = result.msgIds[i]!;
  let low = 0;
  for (let k = id.length - 8; k < id.length; k++) {
    const c = id.charCodeAt(k);
    low = low * 16 + (c <= 57 ? c - 48 : (c | 32) - 87);
  }
  const first = result.commitLogOffset;
  return first + ((low - (first % 4294967296)) >>> 0);
}

/** The commit-log offset in an offsetMsgId: its last 16 hex digits (any host length). */
export function offsetOfMsgId(msgId: string): number {
  let v = 0;
  for (let k = msgId.length - 16; k < msgId.length; k++) {
    const c = msgId.charCodeAt(k);
    v = v * 16 + (c <= 57 ? c - 48 : (c | 32) - 87);
  }
  return v;
}

/**
 * The commit-log offset of each of a put's `n` records: from the put's first offset and its
 * recordSizes (a put made without msgIds), else from each record's msgId (a coalesced part).
 * Throws when the result says neither (a store that gives no record sizes).
 */
export function recordOffsets(
  result: Pick<PutResult, "commitLogOffset" | "msgIds" | "recordSizes">,
  n: number,
): number[] {
  const out: number[] = new Array(n);
  if (result.msgIds.length === n) {
    for (let i = 0; i < n; i++) out[i] = offsetOfMsgId(result.msgIds[i]!);
    return out;
  }
  const sizes = result.recordSizes;
  if (n > 1 && (sizes === undefined || sizes.length < n - 1)) {
    throw new Error(`a put of ${n} records answered neither msgIds nor record sizes`);
  }
  let at = result.commitLogOffset;
  for (let i = 0; i < n; i++) {
    out[i] = at;
    if (i + 1 < n) at += sizes![i]!;
  }
  return out;
}
