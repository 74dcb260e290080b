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

/**
 * A half taken from the cache for its END_TRANSACTION: the store input the send path put,
 * read in place (its properties parsed only if something asks for the object). It is its own
 * EncodedProperties, so a half costs one object, made only when it is taken.
 */
class KeptHalf implements HalfRecord, EncodedProperties {
  readonly pairs: string;
  private parsed: Record<string, string> | undefined;

  constructor(
    private readonly m: MessageInput,
    readonly queueOffset: number,
    readonly commitLogOffset: number,
    readonly storeTimestamp: number,
    readonly facts: HalfFacts | undefined,
  ) {
    const own = m.encodedProperties!;
    this.pairs = typeof own === "string" ? own : own.toString("utf8");
  }

  get encoded(): EncodedProperties {
    return this;
  }
  get suffix(): Buffer | undefined {
    return this.m.encodedPropertiesSuffix;
  }
  get tagsCode(): number {
    return this.m.tagsCode ?? 0;
  }
  get keys(): string | undefined {
    return this.m.keys;
  }
  get uniqKey(): string | undefined {
    return this.m.uniqKey;
  }
  get topic(): string {
    return this.m.topic;
  }
  get flag(): number {
    return this.m.flag ?? 0;
  }
  get body(): Buffer {
    return this.m.body;
  }
  get sysFlag(): number {
    return this.m.sysFlag ?? 0;
  }
  get bornTimestamp(): number {
    return this.m.bornTimestamp;
  }
  get bornHost(): { host: string; port: number } {
    return this.m.bornHost;
  }
  get reconsumeTimes(): number {
    return this.m.reconsumeTimes ?? 0;
  }
  get properties(): Record<string, string> {
    this.parsed ??= parseProperties(this.pairs + (this.suffix?.toString("utf8") ?? ""));
    return this.parsed;
  }
}

/** Halves kept at most (a power of two: a half's slot is its queue offset modulo this). */
const SLOTS = 8192;
/** Body bytes kept at most. */
const MAX_BYTES = 32 * 1024 * 1024;

/**
 * Halves the send path has just stored, by half-queue offset, so the END_TRANSACTION that
 * usually follows within milliseconds finds the record without a log read (a read per commit
 * cost a loop turn each and made the answers go out one by one). Only a cache: the log stays
 * the truth, a miss reads it, and the record kept is exactly what was put at that offset.
 *
 * Kept as parallel arrays indexed by queue offset modulo SLOTS (half-queue offsets are
 * consecutive, so a newer half takes the slot of the one SLOTS older): per half, the store
 * input it was put from and four numbers, no object or map entry of its own.
 */
export class RecentHalves {
  /** The queue offset each slot holds (-1: none). */
  private readonly queueOffsets = new Float64Array(SLOTS).fill(-1);
  private readonly commitLogOffsets = new Float64Array(SLOTS);
  private readonly storeTimes = new Float64Array(SLOTS);
  private readonly inputs: Array<MessageInput | undefined> = new Array(SLOTS).fill(undefined);
  private readonly facts: Array<HalfFacts | undefined> = new Array(SLOTS).fill(undefined);
  private bytes = 0;
  /** Lowest and highest queue offsets that may be held (oldest first out over MAX_BYTES). */
  private oldest = 0;
  private newest = -1;

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
    const commitLogOffset = commitLogOffsetOf(msgId, result);
    if (commitLogOffset !== undefined) this.keep(m, queueOffset, commitLogOffset, storeTimestamp, facts);
  }

  /** One half put at `queueOffset`, its record at `commitLogOffset`. Ignores anything but a half message. */
  keep(
    m: MessageInput,
    queueOffset: number,
    commitLogOffset: number,
    storeTimestamp: number,
    facts: HalfFacts | undefined,
  ): void {
    if (m.topic !== TRANS_HALF_TOPIC || m.body.length > MAX_BYTES / 16) return;
    if (!Number.isSafeInteger(queueOffset) || queueOffset < 0) return;
    if (!Number.isSafeInteger(commitLogOffset) || commitLogOffset < 0) return;
    const s = queueOffset % SLOTS;
    this.clear(s);
    this.queueOffsets[s] = queueOffset;
    this.commitLogOffsets[s] = commitLogOffset;
    this.storeTimes[s] = storeTimestamp;
    this.inputs[s] = m;
    this.facts[s] = facts;
    this.bytes += m.body.length;
    if (queueOffset > this.newest) this.newest = queueOffset;
    if (this.oldest < this.newest - SLOTS + 1) this.oldest = this.newest - SLOTS + 1;
    while (this.bytes > MAX_BYTES && this.oldest <= this.newest) {
      const o = this.oldest++ % SLOTS;
      if (this.queueOffsets[o] === this.oldest - 1) this.clear(o);
    }
  }

  /** The half stored at this queue and commit-log offset, removed from the cache; else undefined. */
  take(queueOffset: number, commitLogOffset: number): HalfRecord | undefined {
    if (!Number.isSafeInteger(queueOffset) || queueOffset < 0) return undefined;
    const s = queueOffset % SLOTS;
    if (this.queueOffsets[s] !== queueOffset) return undefined;
    const m = this.inputs[s]!;
    const facts = this.facts[s];
    const storeTimestamp = this.storeTimes[s]!;
    const at = this.commitLogOffsets[s]!;
    this.clear(s);
    if (at !== commitLogOffset) return undefined;
    if (m.encodedProperties !== undefined) return new KeptHalf(m, queueOffset, at, storeTimestamp, facts);
    return {
      topic: m.topic,
      queueOffset,
      commitLogOffset: at,
      storeTimestamp,
      properties: m.properties,
      flag: m.flag ?? 0,
      body: m.body,
      sysFlag: m.sysFlag ?? 0,
      bornTimestamp: m.bornTimestamp,
      bornHost: m.bornHost,
      reconsumeTimes: m.reconsumeTimes ?? 0,
    };
  }

  /** Halves held now. */
  get size(): number {
    let n = 0;
    for (let s = 0; s < SLOTS; s++) if (this.queueOffsets[s]! >= 0) n++;
    return n;
  }

  private clear(s: number): void {
    const m = this.inputs[s];
    if (m === undefined) return;
    this.bytes -= m.body.length;
    this.queueOffsets[s] = -1;
    this.inputs[s] = undefined;
    this.facts[s] = undefined;
  }
}

/**
 * The half's own commit-log offset. A put the send path coalesced with other requests'
 * puts reports the group's first record as its commitLogOffset; the offset message id names
 * this record. Undefined (not kept) when neither says which record it is.
 */
function commitLogOffsetOf(id: string | undefined, result: PutResult | undefined): number | undefined {
  // The id's last 16 hex digits are the commit-log offset (below 2^53: exact as a number),
  // read in place (no slice per half); an id that is not hex there is not kept.
  if (!id || id.length < 16) return result?.commitLogOffset;
  const n = id.length;
  const hi = hex8(id, n - 16);
  const lo = hex8(id, n - 8);
  if (hi < 0 || lo < 0) return undefined;
  const offset = hi * 4294967296 + lo;
  return Number.isSafeInteger(offset) ? offset : undefined;
}

/** The 8 hex digits at `at` as an unsigned number, or -1 if any is not a hex digit. */
function hex8(s: string, at: number): number {
  let v = 0;
  for (let i = at; i < at + 8; i++) {
    const c = s.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
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
