import { MessageConst, MessageSysFlag, RecordLayout, transactionType } from "@tidemq/protocol";
import { messageIllegal } from "./StoreError.js";

/* Small record-level helpers shared by the append path, dispatch and queries. */

/** PREPARED / ROLLBACK transaction records take no queue offset and no consume-queue entry (RocketMQ). */
export function takesQueueEntry(sysFlag: number): boolean {
  const tt = transactionType(sysFlag);
  return tt !== MessageSysFlag.TRANSACTION_PREPARED_TYPE && tt !== MessageSysFlag.TRANSACTION_ROLLBACK_TYPE;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).toUpperCase().padStart(2, "0"));

/** 8 uppercase hex digits of an unsigned 32-bit word (half of an offsetMsgId's offset). */
export function hex32(w: number): string {
  return HEX[w >>> 24]! + HEX[(w >>> 16) & 255]! + HEX[(w >>> 8) & 255]! + HEX[w & 255]!;
}

/**
 * The protocol's encodeProperties (name\u0001value\u0002 …), refusing separators inside
 * names and values: they would split the pair and change other properties when parsed.
 */
export function encodeProps(props: Record<string, string>): string {
  if (!props) return "";
  let s = "";
  for (const k in props) {
    const v = props[k];
    if (v === undefined || v === null || k.length === 0) continue;
    const sv = typeof v === "string" ? v : String(v);
    if (
      k.indexOf("\u0001") >= 0 ||
      k.indexOf("\u0002") >= 0 ||
      sv.indexOf("\u0001") >= 0 ||
      sv.indexOf("\u0002") >= 0
    ) {
      throw messageIllegal(`property ${JSON.stringify(k)} contains a \\u0001 or \\u0002 separator`);
    }
    s += `${k}\u0001${sv}\u0002`;
  }
  return s;
}

export function recordMatchesKey(rec: Buffer, topic: string, key: string): boolean {
  try {
    const bodyLen = rec.readInt32BE(RecordLayout.BODY_LENGTH);
    let p = RecordLayout.BODY + bodyLen;
    const tlen = rec.readUInt8(p);
    p += 1;
    if (rec.toString("utf8", p, p + tlen) !== topic) return false;
    p += tlen;
    const plen = rec.readInt16BE(p);
    const props = rec.toString("utf8", p + 2, p + 2 + plen);
    for (const pair of props.split("\u0002")) {
      const i = pair.indexOf("\u0001");
      if (i <= 0) continue;
      const name = pair.slice(0, i);
      const value = pair.slice(i + 1);
      if (name === MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX && value === key) return true;
      if (name === MessageConst.KEYS && value.split(" ").includes(key)) return true;
    }
    return false;
  } catch {
    return false;
  }
}
