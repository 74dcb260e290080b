import { type MessageExt, parseProperties } from "@tidemq/protocol";
import type { MessageInput, MessageStore, PutResult } from "@tidemq/store";
import { TRANS_HALF_TOPIC } from "../TopicValidator.js";
import type { HalfFacts } from "./HalfMessage.js";

/** What END_TRANSACTION needs of a half: the fields halfInfoOf and copyRecord read. */
export type HalfRecord = Pick<
  MessageExt,
  | "topic"
  | "queueOffset"
  | "commitLogOffset"
  | "storeTimestamp"
  | "properties"
  | "flag"
  | "body"
  | "sysFlag"
  | "bornTimestamp"
  | "bornHost"
  | "reconsumeTimes"
> & {
  /** The properties as the send path encoded them (a half kept here): read without parsing. */
  encoded?: EncodedProperties;
};

/** A half's stored properties as the send path built them, with what it scanned from them. */
export interface EncodedProperties {
  /** The pairs of the request (with the half's REAL_TOPIC, REAL_QID, PGROUP, TRAN_MSG). */
  pairs: string;
  /** Stored right after `pairs` (the broker's CLUSTER pair). */
  suffix: Buffer | undefined;
  tagsCode: number;
  keys: string | undefined;
  uniqKey: string | undefined;
  /** REAL_TOPIC, REAL_QID, PGROUP, CHECK_IMMUNITY… as the send path's toHalf found them. */
  facts: HalfFacts | undefined;
}

/** A half kept in memory: its properties parsed only if something asks for the object. */
class RecentHalf implements HalfRecord {
  readonly topic: string;
  readonly flag: number;
  readonly body: Buffer;
  readonly sysFlag: number;
  readonly bornTimestamp: number;
  readonly bornHost: { host: string; port: number };
  readonly reconsumeTimes: number;
  private parsed: Record<string, string> | undefined;

  constructor(
    m: MessageInput,
    readonly queueOffset: number,
    readonly commitLogOffset: number,
    readonly storeTimestamp: number,
    readonly encoded: EncodedProperties,
  ) {
    this.topic = m.topic;
    this.flag = m.flag ?? 0;
    this.body = m.body;
    this.sysFlag = m.sysFlag ?? 0;
    this.bornTimestamp = m.bornTimestamp;
    this.bornHost = m.bornHost;
    this.reconsumeTimes = m.reconsumeTimes ?? 0;
  }

  get properties(): Record<string, string> {
    this.parsed ??= parseProperties(this.encoded.pairs + (this.encoded.suffix?.toString("utf8") ?? ""));
    return this.parsed;
  }
}

/** Halves kept at most (oldest dropped first); a dropped one is read from the log as before. */
const MAX_HALVES = 8192;
/** Body bytes kept at most. */
const MAX_BYTES = 32 * 1024 * 1024;

/**
 * Halves the send path has just stored, by half-queue offset, so the END_TRANSACTION that
 * usually follows within milliseconds finds the record without a log read (a read per commit
 * cost a loop turn each and made the answers go out one by one). Only a cache: the log stays
 * the truth, a miss reads it, and the record kept is exactly what was put at that offset.
 */
export class RecentHalves {
  private readonly byOffset = new Map<number, HalfRecord>();
  private bytes = 0;

  /**
   * Called with a put's input and result (and what halfMessage noted of it); ignores anything
   * but one half message.
   */
  stored(inputs: readonly MessageInput[], result: PutResult, facts?: HalfFacts): void {
    if (inputs.length !== 1 || result.count !== 1) return;
    this.storedAt(inputs[0]!, result.queueOffset, result.msgIds[0], result.storeTimestamp, facts, result);
  }

  /**
   * One half put at `queueOffset` whose offset message id is `msgId` (its own commit-log
   * offset is read from it; `result`'s commitLogOffset when there is no id). Ignores anything
   * but a half message.
   */
  storedAt(
    m: MessageInput,
    queueOffset: number,
    msgId: string | undefined,
    storeTimestamp: number,
    facts?: HalfFacts,
    result?: PutResult,
  ): void {
    if (m.topic !== TRANS_HALF_TOPIC || m.body.length > MAX_BYTES / 16) return;
    const commitLogOffset = commitLogOffsetOf(msgId, result);
    if (commitLogOffset === undefined) return;
    this.byOffset.delete(queueOffset);
    const own = m.encodedProperties;
    this.byOffset.set(
      queueOffset,
      own === undefined
        ? {
            topic: m.topic,
            queueOffset,
            commitLogOffset,
            storeTimestamp,
            properties: m.properties,
            flag: m.flag ?? 0,
            body: m.body,
            sysFlag: m.sysFlag ?? 0,
            bornTimestamp: m.bornTimestamp,
            bornHost: m.bornHost,
            reconsumeTimes: m.reconsumeTimes ?? 0,
          }
        : new RecentHalf(m, queueOffset, commitLogOffset, storeTimestamp, {
            pairs: typeof own === "string" ? own : own.toString("utf8"),
            suffix: m.encodedPropertiesSuffix,
            tagsCode: m.tagsCode ?? 0,
            keys: m.keys,
            uniqKey: m.uniqKey,
            facts,
          }),
    );
    this.bytes += m.body.length;
    for (const [offset, h] of this.byOffset) {
      if (this.byOffset.size <= MAX_HALVES && this.bytes <= MAX_BYTES) break;
      this.byOffset.delete(offset);
      this.bytes -= h.body.length;
    }
  }

  /** The half stored at this queue and commit-log offset, removed from the cache; else undefined. */
  take(queueOffset: number, commitLogOffset: number): HalfRecord | undefined {
    const h = this.byOffset.get(queueOffset);
    if (!h) return undefined;
    this.byOffset.delete(queueOffset);
    this.bytes -= h.body.length;
    return h.commitLogOffset === commitLogOffset ? h : undefined;
  }
}

/**
 * The half's own commit-log offset. A put the send path coalesced with other requests'
 * puts reports the group's first record as its commitLogOffset; the offset message id names
 * this record. Undefined (not kept) when neither says which record it is.
 */
function commitLogOffsetOf(id: string | undefined, result: PutResult | undefined): number | undefined {
  // The id's last 16 hex digits are the commit-log offset (below 2^53: exact as a number).
  return id && id.length >= 16 ? Number.parseInt(id.slice(-16), 16) : result?.commitLogOffset;
}

const perStore = new WeakMap<MessageStore, RecentHalves>();

/** The cache shared by a store's send path and its TransactionService. */
export function recentHalvesOf(store: MessageStore): RecentHalves {
  let r = perStore.get(store);
  if (!r) {
    r = new RecentHalves();
    perStore.set(store, r);
  }
  return r;
}
