/**
 * RocketMQ's message-trace records (spec §10; Java's TraceDataEncoder): the text a trace
 * message's body carries. Pure: encode and decode, no I/O.
 *
 * A record's fields are separated by CONTENT (\u0001) and the record ends with FIELD (\u0002).
 * The decoder accepts what Java clients of 4.x and 5.x write: Pub with 13, 14 or 15 fields,
 * SubAfter with 7 (access channel CLOUD; 4.9 then ends it with \u0001 and no \u0002, so the
 * next record follows in the same chunk) or 9 fields.
 */

export const CONTENT_SEPARATOR = "\u0001";
export const FIELD_SEPARATOR = "\u0002";

/** Java's MessageType ordinals (5.x adds Order_Msg). */
export const TraceMessageType = {
  Normal_Msg: 0,
  Trans_Msg_Half: 1,
  Trans_msg_Commit: 2,
  Delay_Msg: 3,
  Order_Msg: 4,
} as const;
export const TRACE_MESSAGE_TYPE_NAMES = [
  "Normal_Msg",
  "Trans_Msg_Half",
  "Trans_msg_Commit",
  "Delay_Msg",
  "Order_Msg",
];

/** Java's ConsumeReturnType ordinals, the SubAfter "context code". */
export const ConsumeReturnType = { SUCCESS: 0, TIME_OUT: 1, EXCEPTION: 2, RETURNNULL: 3, FAILED: 4 } as const;
export const CONSUME_RETURN_TYPE_NAMES = ["SUCCESS", "TIME_OUT", "EXCEPTION", "RETURNNULL", "FAILED"];

/** A record about one message of a topic begins with these, in this order on the wire. */
interface MessageFields {
  timestamp: number;
  regionId: string;
  group: string;
  topic: string;
  msgId: string;
}

/** …and Pub and EndTransaction go on with where it was stored. */
interface StoredMessageFields extends MessageFields {
  tags: string;
  keys: string;
  storeHost: string;
}

export interface PubRecord extends StoredMessageFields {
  type: "Pub";
  bodyLength: number;
  costTime: number;
  msgType: number;
  /** Absent in the 13-field form. */
  offsetMsgId?: string;
  success: boolean;
  /** 5.x appends the producer's host (15 fields). */
  clientHost?: string;
}

export interface SubBeforeRecord {
  type: "SubBefore";
  timestamp: number;
  regionId: string;
  group: string;
  requestId: string;
  msgId: string;
  retryTimes: number;
  keys: string;
}

export interface SubAfterRecord {
  type: "SubAfter";
  requestId: string;
  msgId: string;
  costTime: number;
  success: boolean;
  keys: string;
  /** ConsumeReturnType ordinal; absent in very old records. */
  contextCode?: number;
  /** Absent in the CLOUD form. */
  timestamp?: number;
  group?: string;
}

export interface EndTransactionRecord extends StoredMessageFields {
  type: "EndTransaction";
  msgType: number;
  transactionId: string;
  /** COMMIT_MESSAGE, ROLLBACK_MESSAGE or UNKNOW (Java's spelling). */
  transactionState: string;
  fromTransactionCheck: boolean;
}

export interface RecallRecord extends MessageFields {
  type: "Recall";
  success: boolean;
}

export type TraceRecord = PubRecord | SubBeforeRecord | SubAfterRecord | EndTransactionRecord | RecallRecord;
export type TraceType = TraceRecord["type"];

const TYPES: ReadonlySet<string> = new Set(["Pub", "SubBefore", "SubAfter", "EndTransaction", "Recall"]);

/** Values must not contain the separators: they are replaced by a space (the record stays parseable). */
function clean(v: string | number | boolean | undefined): string {
  const s = v === undefined ? "" : String(v);
  return /[\u0001\u0002]/.test(s) ? s.replace(/[\u0001\u0002]/g, " ") : s;
}

function join(fields: Array<string | number | boolean | undefined>): string {
  return fields.map(clean).join(CONTENT_SEPARATOR) + FIELD_SEPARATOR;
}

type FieldValue = string | number | boolean | undefined;
type FieldKind = "str" | "num" | "bool";
/** Fields after the record's type name, in wire order, each with how it is read back. */
type Layout<R> = ReadonlyArray<readonly [Exclude<keyof R, "type">, FieldKind]>;

const MESSAGE_FIELDS: Layout<MessageFields> = [
  ["timestamp", "num"],
  ["regionId", "str"],
  ["group", "str"],
  ["topic", "str"],
  ["msgId", "str"],
];
const STORED_MESSAGE_FIELDS: Layout<StoredMessageFields> = [
  ...MESSAGE_FIELDS,
  ["tags", "str"],
  ["keys", "str"],
  ["storeHost", "str"],
];

/** Pub's first fields; offsetMsgId, success and clientHost follow in one of three forms. */
const PUB_HEAD: Layout<PubRecord> = [
  ...STORED_MESSAGE_FIELDS,
  ["bodyLength", "num"],
  ["costTime", "num"],
  ["msgType", "num"],
];

/** The records of one fixed form: the whole record is its type name and these fields. */
const FIXED: {
  SubBefore: Layout<SubBeforeRecord>;
  EndTransaction: Layout<EndTransactionRecord>;
  Recall: Layout<RecallRecord>;
} = {
  SubBefore: [
    ["timestamp", "num"],
    ["regionId", "str"],
    ["group", "str"],
    ["requestId", "str"],
    ["msgId", "str"],
    ["retryTimes", "num"],
    ["keys", "str"],
  ],
  EndTransaction: [
    ...STORED_MESSAGE_FIELDS,
    ["msgType", "num"],
    ["transactionId", "str"],
    ["transactionState", "str"],
    ["fromTransactionCheck", "bool"],
  ],
  Recall: [...MESSAGE_FIELDS, ["success", "bool"]],
};

function values<R>(r: R, layout: Layout<R>): FieldValue[] {
  return layout.map(([k]) => r[k] as FieldValue);
}

/** One record in the 4.x/5.x wire text (Pub with 14 fields, or 15 when clientHost is set). */
export function encodeTraceRecord(r: TraceRecord): string {
  switch (r.type) {
    case "Pub": {
      const f: FieldValue[] = ["Pub", ...values(r, PUB_HEAD), r.offsetMsgId ?? "", r.success];
      if (r.clientHost !== undefined) f.push(r.clientHost);
      return join(f);
    }
    case "SubBefore":
      return join(["SubBefore", ...values(r, FIXED.SubBefore)]);
    case "SubAfter":
      return join([
        "SubAfter",
        r.requestId,
        r.msgId,
        r.costTime,
        r.success,
        r.keys,
        r.contextCode ?? ConsumeReturnType.SUCCESS,
        r.timestamp ?? "",
        r.group ?? "",
      ]);
    case "EndTransaction":
      return join(["EndTransaction", ...values(r, FIXED.EndTransaction)]);
    case "Recall":
      return join(["Recall", ...values(r, FIXED.Recall)]);
  }
}

export function encodeTraceRecords(records: readonly TraceRecord[]): string {
  let s = "";
  for (const r of records) s += encodeTraceRecord(r);
  return s;
}

/** A record the decoder could not read, kept so a reader can show it. */
export interface UnreadableTraceRecord {
  type: "Unreadable";
  text: string;
  reason: string;
}

function num(s: string | undefined): number {
  const n = Number(s);
  return s === undefined || s === "" || !Number.isFinite(n) ? 0 : n;
}

function bool(s: string | undefined): boolean {
  return s === "true";
}

/** The record of `type` whose layout's fields are at(1), at(2), … */
function readFields<R extends TraceRecord>(
  type: R["type"],
  layout: ReadonlyArray<readonly [PropertyKey, FieldKind]>,
  at: (k: number) => string,
): R {
  const r: Record<string, unknown> = { type };
  layout.forEach(([key, kind], j) => {
    const s = at(j + 1);
    r[key as string] = kind === "num" ? num(s) : kind === "bool" ? bool(s) : s;
  });
  return r as R;
}

/** How many fields the record starting at f[i] uses (undefined: too few). */
function readOne(f: string[], i: number): { record: TraceRecord; used: number } | { reason: string } {
  const type = f[i]!;
  const left = f.length - i;
  const at = (k: number): string => f[i + k] ?? "";
  switch (type) {
    case "Pub": {
      if (left < 13) return { reason: `Pub with ${left} fields (13-15 expected)` };
      // 13 fields: no offsetMsgId, success is the 13th; 14: offsetMsgId then success; 15: + client host.
      const n = Math.min(left, 15);
      const short = n === 13;
      const r = readFields<PubRecord>("Pub", PUB_HEAD, at);
      r.success = bool(short ? at(12) : at(13));
      if (!short) r.offsetMsgId = at(12);
      if (n === 15) r.clientHost = at(14);
      return { record: r, used: n };
    }
    case "SubBefore":
    case "EndTransaction":
    case "Recall": {
      const layout = FIXED[type];
      const n = layout.length + 1;
      if (left < n) return { reason: `${type} with ${left} fields (${n} expected)` };
      return { record: readFields<TraceRecord>(type, layout, at), used: n };
    }
    case "SubAfter": {
      if (left < 6) return { reason: `SubAfter with ${left} fields (7 or 9 expected)` };
      const r: SubAfterRecord = {
        type: "SubAfter",
        requestId: at(1),
        msgId: at(2),
        costTime: num(at(3)),
        success: bool(at(4)),
        keys: at(5),
      };
      let used = 6;
      if (left >= 7 && !TYPES.has(at(6))) {
        r.contextCode = num(at(6));
        used = 7;
        // The 9-field form, unless what follows is the next record (CLOUD form glued to it).
        if (left >= 9 && !TYPES.has(at(7))) {
          if (at(7) !== "") r.timestamp = num(at(7));
          if (at(8) !== "") r.group = at(8);
          used = 9;
        } else if (left === 8 && at(7) === "") {
          used = 8; // 4.9 CLOUD: a trailing \u0001 and nothing after it
        }
      }
      return { record: r, used };
    }
    default:
      return { reason: `unknown record type "${type.slice(0, 32)}"` };
  }
}

/**
 * Every record of a trace message body, in order. Never throws: a chunk it cannot read
 * comes back as an UnreadableTraceRecord (the rest of the body is still read).
 */
export function decodeTraceRecords(text: string): Array<TraceRecord | UnreadableTraceRecord> {
  const out: Array<TraceRecord | UnreadableTraceRecord> = [];
  for (const chunk of text.split(FIELD_SEPARATOR)) {
    if (chunk.length === 0 || /^\s*$/.test(chunk)) continue;
    const f = chunk.split(CONTENT_SEPARATOR);
    let i = 0;
    while (i < f.length) {
      if (i > 0 && f.slice(i).every((x) => x === "")) break;
      const r = readOne(f, i);
      if ("reason" in r) {
        out.push({
          type: "Unreadable",
          text: f.slice(i).join(CONTENT_SEPARATOR).slice(0, 200),
          reason: r.reason,
        });
        break;
      }
      out.push(r.record);
      i += r.used;
    }
  }
  return out;
}

/** The message ids a record is about (Pub/SubBefore/SubAfter/EndTransaction/Recall all carry one). */
export function traceRecordMsgId(r: TraceRecord): string {
  return r.msgId;
}
