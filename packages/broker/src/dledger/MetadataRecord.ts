import type { SubscriptionGroupConfig, TopicConfig } from "@tidemq/protocol";

/**
 * One change of a DLedger group's metadata, as carried by a record of the metadata system
 * topic (DLEDGER_METADATA_TOPIC). The commit log is the Raft log, so these records
 * replicate, commit and recover with the messages; every replica applies them in log order
 * once committed (ReplicatedMetadata). Every change is a "set" (never a relative update), so
 * applying a record twice, or a run of records again from an older position, ends in the
 * same state.
 */
export type MetadataChange =
  | { t: "topic"; config: TopicConfig }
  | { t: "topicDelete"; topic: string }
  | { t: "group"; config: SubscriptionGroupConfig }
  /** cleanOffset: the group's consumer offsets are dropped too (DELETE_SUBSCRIPTIONGROUP's flag). */
  | { t: "groupDelete"; group: string; cleanOffset?: boolean }
  /** Consumer offsets: [group, topic, queueId, next offset] each. */
  | { t: "offsets"; entries: Array<[string, string, number, number]> }
  /** Delay levels: level → next SCHEDULE_TOPIC_XXXX offset to deliver (all before it are stored). */
  | { t: "delay"; offsets: Record<string, number> }
  /**
   * Timers: every timer-topic record with a queue offset below `cq` and a due time below
   * `beforeMs` was stored in its real topic (or recalled).
   */
  | { t: "timer"; cq: number; beforeMs: number }
  /**
   * Retention floor: the leader's parked records (delay levels, timers, unresolved halves) all
   * sit at or above commit-log offset `floor`; no replica deletes a segment ending above it.
   */
  | { t: "retention"; floor: number };

export interface MetadataRecord {
  v: 1;
  /** Replica id and process nonce of the writer: a leader skips its own records (it applied them at once). */
  origin: string;
  changes: MetadataChange[];
}

export function encodeMetadataRecord(r: MetadataRecord): Buffer {
  return Buffer.from(JSON.stringify(r), "utf8");
}

/** Decodes a record body; throws a plain Error naming what is wrong (the applier logs and skips it). */
export function decodeMetadataRecord(body: Buffer): MetadataRecord {
  const r = JSON.parse(body.toString("utf8")) as Partial<MetadataRecord>;
  if (r === null || typeof r !== "object" || r.v !== 1 || !Array.isArray(r.changes)) {
    throw new Error("not a version-1 metadata record");
  }
  if (typeof r.origin !== "string") throw new Error("metadata record without origin");
  for (const c of r.changes) {
    if (c === null || typeof c !== "object" || typeof (c as { t?: unknown }).t !== "string")
      throw new Error("metadata change without a type");
  }
  return r as MetadataRecord;
}

/**
 * Consumer offsets changed since the last record, newest value per queue. Commits are
 * frequent (each pull can carry one): the leader writes what changed as one record per
 * interval instead of one per commit.
 */
export class OffsetChanges {
  private readonly changed = new Map<string, [string, string, number, number]>();

  get size(): number {
    return this.changed.size;
  }

  note(group: string, topic: string, queueId: number, offset: number): void {
    this.changed.set(`${topic}@${group}@${queueId}`, [group, topic, queueId, offset]);
  }

  /** Takes the changes (the set is empty afterwards). */
  take(): Array<[string, string, number, number]> {
    const out = [...this.changed.values()];
    this.changed.clear();
    return out;
  }

  /** Puts changes back that could not be written, unless a newer value was noted meanwhile. */
  restore(entries: Array<[string, string, number, number]>): void {
    for (const e of entries) {
      const k = `${e[1]}@${e[0]}@${e[2]}`;
      if (!this.changed.has(k)) this.changed.set(k, e);
    }
  }

  clear(): void {
    this.changed.clear();
  }

  /** Forgets a group's changes (its offsets were dropped: an older value must not be written after). */
  dropGroup(group: string): void {
    for (const [k, e] of this.changed) if (e[0] === group) this.changed.delete(k);
  }
}

/**
 * Delivery progress learned from the log, merged with a replica's own file: a level's
 * progress is the larger of the two (each only covers committed deliveries).
 */
export function mergeDelayOffsets(
  a: Record<string, number> | undefined,
  b: Record<string, number> | undefined,
): Record<string, number> {
  const out: Record<string, number> = { ...(a ?? {}) };
  for (const [k, v] of Object.entries(b ?? {})) {
    if (Number.isSafeInteger(v) && !(out[k]! >= v)) out[k] = v;
  }
  return out;
}

/** Splits changes into records of at most about `maxBytes` of JSON each (a record must fit maxMessageSize). */
export function chunkChanges(changes: MetadataChange[], maxBytes: number): MetadataChange[][] {
  const out: MetadataChange[][] = [];
  let cur: MetadataChange[] = [];
  let bytes = 0;
  for (const c of changes) {
    if (c.t === "offsets" && c.entries.length > 1000) {
      // Large offset batches are split by entries.
      for (let i = 0; i < c.entries.length; i += 1000) {
        const part: MetadataChange = { t: "offsets", entries: c.entries.slice(i, i + 1000) };
        const n = JSON.stringify(part).length;
        if (cur.length > 0 && bytes + n > maxBytes) {
          out.push(cur);
          cur = [];
          bytes = 0;
        }
        cur.push(part);
        bytes += n;
      }
      continue;
    }
    const n = JSON.stringify(c).length;
    if (cur.length > 0 && bytes + n > maxBytes) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(c);
    bytes += n;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}
