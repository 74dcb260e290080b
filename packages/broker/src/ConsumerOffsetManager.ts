import { join } from "node:path";
import { ResponseCode, TideMQError } from "@tidemq/protocol";
import { readConfigJson, writeFileAtomic } from "./ConfigFile.js";
import type { ConsumerOffsetManagerApi } from "./context.js";

export const CONSUMER_OFFSET_FILE = "consumerOffset.json";

/** Limits, so a misbehaving client cannot grow the table without bound. */
const MAX_KEYS = 200_000;
export const MAX_QUEUE_ID = 65_535;
/** Window over which consumeTps is measured (GET_CONSUME_STATS). */
const RATE_WINDOW_MS = 60_000;
const SAMPLE_SPAN_MS = 1_000;

export interface ConsumerOffsetManagerOptions {
  configDir: string;
  /** Injectable clock for the consume-rate window. */
  now?: () => number;
}

interface RateSample {
  at: number;
  delta: number;
}

/**
 * Committed consumer offsets per (topic, group, queueId): the "next offset to consume"
 * (spec §8.4). Kept in memory, persisted to `<configDir>/consumerOffset.json` in
 * RocketMQ's shape `{"offsetTable":{"T@G":{"0":5}}}` so a Java broker's file reads
 * unchanged, and the other way round.
 *
 * A stored −1 (ali-ons commits `offset || -1` for a queue at 0) counts as nothing
 * committed: `query` returns it and callers treat every negative value as "none".
 */
export class ConsumerOffsetManager implements ConsumerOffsetManagerApi {
  /** "topic@group" → queueId → offset. */
  private readonly offsetTable = new Map<string, Map<number, number>>();
  /** "topic@group" → forward progress samples (for consumeTps). */
  private readonly progress = new Map<string, RateSample[]>();
  private readonly file: string;
  private readonly now: () => number;
  private dirty = false;
  private persisting: Promise<void> = Promise.resolve();
  /** DLedger mode: hears every changed offset (the leader batches them into the replicated log). */
  onCommitted: ((group: string, topic: string, queueId: number, offset: number) => void) | undefined;

  private constructor(options: ConsumerOffsetManagerOptions) {
    this.file = join(options.configDir, CONSUMER_OFFSET_FILE);
    this.now = options.now ?? Date.now;
  }

  /** Reads the persisted table (a missing file means no offsets; a corrupt one stops start-up). */
  static async load(options: ConsumerOffsetManagerOptions): Promise<ConsumerOffsetManager> {
    const m = new ConsumerOffsetManager(options);
    const parsed = await readConfigJson<{ offsetTable?: Record<string, Record<string, unknown>> }>(m.file);
    if (parsed) m.decode(parsed);
    return m;
  }

  get path(): string {
    return this.file;
  }

  query(group: string, topic: string, queueId: number): number {
    return this.offsetTable.get(key(topic, group))?.get(queueId) ?? -1;
  }

  /**
   * Stores a group's offset for a queue. `increaseOnly` (a commit piggybacked on a pull) never
   * moves an offset back: a pull that waited in the pull queue carries the offset of when it
   * was sent, and must not undo a newer commit — an orderly consumer that handed a queue over
   * commits, unlocks, and the next owner starts from that commit.
   */
  commit(group: string, topic: string, queueId: number, offset: number, increaseOnly = false): void {
    checkOffsetKey(group, topic, queueId);
    if (!Number.isSafeInteger(offset)) {
      throw new TideMQError(ResponseCode.SYSTEM_ERROR, `commit offset ${offset} is not an integer`);
    }
    const k = key(topic, group);
    let queues = this.offsetTable.get(k);
    if (!queues) {
      if (this.offsetTable.size >= MAX_KEYS) {
        throw new TideMQError(
          ResponseCode.SYSTEM_ERROR,
          `the consumer offset table holds ${MAX_KEYS} topic@group entries already; delete unused groups`,
        );
      }
      queues = new Map();
      this.offsetTable.set(k, queues);
    }
    const old = queues.get(queueId);
    if (increaseOnly && old !== undefined && offset < old) return;
    queues.set(queueId, offset);
    if (old !== offset) {
      this.dirty = true;
      this.onCommitted?.(group, topic, queueId, offset);
    }
    if (old !== undefined && old >= 0 && offset > old) this.recordProgress(k, offset - old);
  }

  table(group: string, topic: string): Map<number, number> {
    return new Map(this.offsetTable.get(key(topic, group)) ?? []);
  }

  keys(): Array<{ topic: string; group: string }> {
    return [...this.offsetTable.keys()].map(splitKey);
  }

  /** Topics a group has offsets for (GET_CONSUME_STATS without a topic). */
  topicsOfGroup(group: string): string[] {
    return this.keys()
      .filter((k) => k.group === group)
      .map((k) => k.topic);
  }

  /** Groups with offsets for a topic (QUERY_TOPIC_CONSUME_BY_WHO). */
  groupsOfTopic(topic: string): string[] {
    return this.keys()
      .filter((k) => k.topic === topic)
      .map((k) => k.group);
  }

  /** Drops every offset of a group (DELETE_SUBSCRIPTIONGROUP with cleanOffset). */
  removeGroup(group: string): void {
    for (const k of [...this.offsetTable.keys()]) {
      if (splitKey(k).group === group) {
        this.offsetTable.delete(k);
        this.progress.delete(k);
        this.dirty = true;
      }
    }
  }

  /**
   * Messages per second the group consumed from the topic over the last minute,
   * measured by the forward progress of its committed offsets. (Java counts pulled
   * messages; committed progress is what actually got consumed.)
   */
  consumeTps(group: string, topic: string): number {
    const samples = this.progress.get(key(topic, group));
    if (!samples) return 0;
    const since = this.now() - RATE_WINDOW_MS;
    let sum = 0;
    for (const s of samples) if (s.at > since) sum += s.delta;
    return sum / (RATE_WINDOW_MS / 1000);
  }

  /** Writes the table if it changed since the last write; writes are serialized. */
  persist(): Promise<void> {
    const next = this.persisting.then(() => this.writeIfDirty());
    // A failed write must not poison later ones; the caller of this one still sees it.
    this.persisting = next.catch(() => undefined);
    return next;
  }

  /** The file content, in RocketMQ's shape. */
  encode(): string {
    const offsetTable: Record<string, Record<string, number>> = {};
    for (const [k, queues] of this.offsetTable) {
      offsetTable[k] = Object.fromEntries(
        [...queues].sort((a, b) => a[0] - b[0]).map(([q, o]) => [String(q), o]),
      );
    }
    return JSON.stringify({ offsetTable }, null, 2);
  }

  private decode(parsed: { offsetTable?: Record<string, Record<string, unknown>> }): void {
    for (const [k, queues] of Object.entries(parsed.offsetTable ?? {})) {
      const { topic, group } = splitKey(k);
      if (!topic || !group || typeof queues !== "object" || queues === null) continue;
      const map = new Map<number, number>();
      for (const [q, o] of Object.entries(queues)) {
        const qid = Number(q);
        const off = Number(o);
        if (Number.isInteger(qid) && qid >= 0 && Number.isSafeInteger(off)) map.set(qid, off);
      }
      this.offsetTable.set(k, map);
    }
  }

  private async writeIfDirty(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    try {
      await writeFileAtomic(this.file, this.encode());
    } catch (err) {
      this.dirty = true;
      throw err;
    }
  }

  private recordProgress(k: string, delta: number): void {
    const now = this.now();
    let samples = this.progress.get(k);
    if (!samples) {
      samples = [];
      this.progress.set(k, samples);
    }
    // One sample per second: consumers commit with every pull (thousands a second), and a
    // capped list of per-commit samples would cover far less than the window it is divided by.
    const last = samples[samples.length - 1];
    if (last !== undefined && now - last.at < SAMPLE_SPAN_MS) {
      last.delta += delta;
      return;
    }
    const since = now - RATE_WINDOW_MS;
    while (samples.length > 0 && samples[0]!.at <= since) samples.shift();
    samples.push({ at: now, delta });
  }
}

function key(topic: string, group: string): string {
  return `${topic}@${group}`;
}

function splitKey(k: string): { topic: string; group: string } {
  // Neither topic nor group names may contain "@" (spec §8.2/§8.3 character sets).
  const i = k.indexOf("@");
  return i < 0 ? { topic: k, group: "" } : { topic: k.slice(0, i), group: k.slice(i + 1) };
}

function checkOffsetKey(group: string, topic: string, queueId: number): void {
  if (!group || group.includes("@") || group.length > 255) {
    throw new TideMQError(ResponseCode.SYSTEM_ERROR, `invalid consumer group "${group}"`);
  }
  if (!topic || topic.includes("@") || topic.length > 511) {
    throw new TideMQError(ResponseCode.SYSTEM_ERROR, `invalid topic "${topic}"`);
  }
  if (!Number.isInteger(queueId) || queueId < 0 || queueId > MAX_QUEUE_ID) {
    throw new TideMQError(
      ResponseCode.SYSTEM_ERROR,
      `queueId ${queueId} is out of range [0, ${MAX_QUEUE_ID}]`,
    );
  }
}
