import { join } from "node:path";
import { decodeMessage, type SubscriptionGroupConfig, type TopicConfig } from "@tidemq/protocol";
import type { Logger } from "@tidemq/remoting";
import type { MessageStore } from "@tidemq/store";
import { readConfigJson, writeFileAtomic } from "../ConfigFile.js";
import type { ConsumerOffsetManager } from "../ConsumerOffsetManager.js";
import { SerialPump } from "../SerialPump.js";
import type { SubscriptionGroupManager } from "../SubscriptionGroupManager.js";
import type { TopicConfigManager } from "../TopicConfigManager.js";
import { DLEDGER_METADATA_TOPIC } from "../TopicValidator.js";
import {
  decodeMetadataRecord,
  type MetadataChange,
  mergeDelayOffsets,
  type OffsetChanges,
} from "./MetadataRecord.js";
import type { SnapshotState } from "./SnapshotInstall.js";

/** The applied position (and what it learned) is written at most this often. */
const CHECKPOINT_MS = 1000;
const READ_BATCH = 64;
const FILE = "dledgerMetadata.json";

interface AppliedFile {
  /** Next metadata-topic queue offset to apply. */
  applied?: number;
  delay?: Record<string, number>;
  timer?: { cq: number; beforeMs: number };
  /** The retention floor learned from the log (RetentionFloor.ts). */
  floor?: number;
}

export interface TimerProgress {
  cq: number;
  beforeMs: number;
}

/**
 * How a change is applied. "direct": the leader's own change, just committed; "own": a record
 * this process wrote, read back (applied already: skipped, so an older value never comes
 * back over a newer one); "ownLate": ours, committed although its put failed (topic and
 * group changes apply; offsets never: the leader's manager is their source); "log":
 * another writer's record.
 */
export type ApplyHow = "direct" | "own" | "ownLate" | "log";

/**
 * The applier side of ReplicatedMetadata (every replica): tails the metadata topic's queue
 * (only committed records are dispatched) and applies each record to the managers; keeps what
 * the log taught it (delay-level and timer progress, the retention floor) and the applied
 * position in config/dledgerMetadata.json, written after the managers' files: after a crash
 * a run of records is applied again, which changes nothing (every change sets a value).
 * Snapshots are this state as changes.
 */
export class MetadataApplier {
  private applied = 0;
  private delay: Record<string, number> = {};
  private timer: TimerProgress | undefined;
  /** The leader's retention floor, learned from the log (undefined: none yet, keep everything). */
  private learnedFloor: number | undefined;
  private stopped = false;
  private readonly pump = new SerialPump(
    () => this.applyBatch(),
    () => this.stopped,
    (err) => {
      if (err)
        this.logger.error(`dledger: applying metadata records failed at ${this.applied}: ${err.message}`);
    },
  );
  private checkpointTimer: NodeJS.Timeout | undefined;
  private checkpointing: Promise<void> = Promise.resolve();
  /** Queue offsets of our records applied when their put was answered (the applier skips them). */
  private readonly appliedDirectly = new Set<number>();
  private readonly file: string;
  /** Records applied since start (tests and status). */
  appliedRecords = 0;

  constructor(
    private readonly store: MessageStore,
    private readonly logger: Logger,
    private readonly origin: string,
    configDir: string,
    private readonly topics: TopicConfigManager,
    private readonly groups: SubscriptionGroupManager,
    private readonly offsets: ConsumerOffsetManager,
    /** The writer's unwritten offsets: a group delete applied drops the group's from them. */
    private readonly offsetChanges: OffsetChanges,
  ) {
    this.file = join(configDir, FILE);
  }

  /** Loads the applied position and what it learned from config/dledgerMetadata.json. */
  async load(): Promise<void> {
    const saved = await readConfigJson<AppliedFile>(this.file);
    if (!saved) return;
    this.applied = Number.isSafeInteger(saved.applied) ? saved.applied! : 0;
    this.delay = mergeDelayOffsets(saved.delay, undefined);
    if (saved.timer && Number.isSafeInteger(saved.timer.cq) && Number.isSafeInteger(saved.timer.beforeMs))
      this.timer = saved.timer;
    if (Number.isSafeInteger(saved.floor) && saved.floor! >= 0) this.learnedFloor = saved.floor;
  }

  /** Starts applying (a record arrived, or at start). */
  kick(): void {
    this.pump.kick();
  }

  /** Settles once the current applying round is done. */
  get busy(): Promise<void> | undefined {
    return this.pump.busy;
  }

  get delayOffsets(): Record<string, number> {
    return { ...this.delay };
  }

  get floor(): number | undefined {
    return this.learnedFloor;
  }

  get timerSkip(): TimerProgress | undefined {
    return this.timer ? { ...this.timer } : undefined;
  }

  get appliedOffset(): number {
    return this.applied;
  }

  /** GET_BROKER_RUNTIME_INFO fields: what this replica applied from the log. */
  runtimeInfo(): Record<string, string> {
    const held = this.store.retentionHeldBy;
    return {
      dLegerMetadataApplied: String(this.applied),
      dLegerDelayProgress: JSON.stringify(this.delay),
      dLegerTimerProgress: this.timer ? JSON.stringify(this.timer) : "",
      dLegerRetentionFloor: this.learnedFloor !== undefined ? String(this.learnedFloor) : "",
      // The last retention pass kept a segment it would have deleted: which guard, from where.
      dLegerRetentionHeldBy: held ? `${held.offset} ${held.guard}` : "",
    };
  }

  /** Resolves once every metadata record dispatched so far is applied. */
  async caughtUp(): Promise<void> {
    for (let i = 0; i < 10_000 && !this.stopped; i++) {
      const max = this.store.getMaxOffsetInQueue(DLEDGER_METADATA_TOPIC, 0);
      if (this.applied >= max && !this.pump.busy) return;
      this.pump.kick();
      await this.pump.busy;
      if (this.applied < max && !this.pump.busy) {
        // A read failed (logged); try again shortly.
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** Our record at `queueOffset` was applied at its write: the applier skips it. */
  appliedAtWrite(queueOffset: number): void {
    if (this.appliedDirectly.size > 10_000) this.appliedDirectly.clear();
    this.appliedDirectly.add(queueOffset);
  }

  // ---------------------------------------------------------------- snapshots (SnapshotInstall.ts)

  /** Everything this replica knows, as changes, and the metadata queue offset it covers. */
  snapshotState(): SnapshotState {
    const changes: MetadataChange[] = [];
    for (const config of this.topics.all()) changes.push({ t: "topic", config });
    for (const config of this.groups.all()) changes.push({ t: "group", config });
    const entries: Array<[string, string, number, number]> = [];
    for (const { group, topic } of this.offsets.keys())
      for (const [q, o] of this.offsets.table(group, topic)) entries.push([group, topic, q, o]);
    if (entries.length > 0) changes.push({ t: "offsets", entries });
    changes.push({ t: "delay", offsets: { ...this.delay } });
    if (this.timer) changes.push({ t: "timer", ...this.timer });
    if (this.learnedFloor !== undefined) changes.push({ t: "retention", floor: this.learnedFloor });
    return { applied: this.applied, changes };
  }

  /** An installed snapshot's state: applied as a log record's, then checkpointed. */
  async installSnapshot(state: SnapshotState): Promise<void> {
    await this.pump.busy;
    // Topics and groups each in one write of their table (a snapshot carries them all; one
    // write per change rewrote the whole file per topic: 55 s for 1,000 topics on a loaded
    // machine, bench/dledger-snapshot-size.mjs). A snapshot holds no deletes, so the order
    // between a topic and a group does not matter; the rest applies in order.
    const topics: TopicConfig[] = [];
    const groups: SubscriptionGroupConfig[] = [];
    for (const c of state.changes) {
      if (c.t === "topic") topics.push(c.config);
      else if (c.t === "group") groups.push(c.config);
    }
    await this.topics.applyUpsertAll(topics);
    await this.groups.applyUpsertAll(groups);
    for (const c of state.changes) if (c.t !== "topic" && c.t !== "group") await this.apply(c, "log");
    if (state.applied > this.applied) this.applied = state.applied;
    await this.checkpoint();
    this.pump.kick();
  }

  // ---------------------------------------------------------------- applying records

  /** Applies one batch of records; true when there may be more. */
  private async applyBatch(): Promise<boolean> {
    const from = this.applied;
    const max = this.store.getMaxOffsetInQueue(DLEDGER_METADATA_TOPIC, 0);
    if (from >= max) return false;
    const r = await this.store.getMessage(DLEDGER_METADATA_TOPIC, 0, from, READ_BATCH);
    if (r.status !== "FOUND") {
      if (r.nextBeginOffset > from) {
        this.logger.warn(
          `dledger: metadata records ${from}..${r.nextBeginOffset - 1} are gone from the store (${r.status}); skipped`,
        );
        this.applied = r.nextBeginOffset;
        this.scheduleCheckpoint();
        return true;
      }
      return false;
    }
    let pos = 0;
    for (const qo of r.queueOffsets) {
      const m = decodeMessage(r.body, pos);
      pos += m.storeSize;
      if (qo < this.applied) continue;
      try {
        const rec = decodeMetadataRecord(m.body);
        // Our own record not applied at its write (its put failed or timed out, yet it
        // committed): its topic/group changes apply now.
        const how = rec.origin !== this.origin ? "log" : this.appliedDirectly.delete(qo) ? "own" : "ownLate";
        for (const c of rec.changes) await this.apply(c, how);
        this.appliedRecords++;
      } catch (err) {
        this.logger.error(
          `dledger: metadata record ${qo} (commit-log offset ${m.commitLogOffset}) cannot be applied: ${(err as Error).message}; skipped`,
        );
      }
      this.applied = qo + 1;
    }
    this.scheduleCheckpoint();
    return r.nextBeginOffset < r.maxOffset;
  }

  /** Applies one change (see ApplyHow). */
  async apply(c: MetadataChange, how: ApplyHow): Promise<void> {
    const managed = how !== "own";
    switch (c.t) {
      case "topic":
        if (managed) await this.topics.applyUpsert(c.config);
        return;
      case "topicDelete":
        // The request's processor drops a deleted topic's queues on the leader itself.
        if (how === "log" || how === "ownLate") await this.store.deleteTopics([c.topic]);
        if (managed) await this.topics.applyDelete(c.topic);
        return;
      case "group":
        if (managed) await this.groups.applyUpsert(c.config);
        return;
      case "groupDelete":
        if (managed) await this.groups.applyDelete(c.group);
        if (c.cleanOffset && managed) {
          // With the delete, in log order: offsets committed after it (a consumer still
          // running) come in later records and count again.
          this.offsetChanges.dropGroup(c.group);
          this.offsets.removeGroup(c.group);
        }
        return;
      case "offsets":
        // The leader's offsets are the source of its records: only other writers' apply.
        if (how !== "log") return;
        for (const [g, t, q, o] of c.entries) {
          try {
            this.offsets.commit(g, t, q, o);
          } catch (err) {
            this.logger.warn(`dledger: offset ${t}@${g}:${q}=${o} not applied: ${(err as Error).message}`);
          }
        }
        return;
      case "delay":
        this.delay = mergeDelayOffsets(this.delay, c.offsets);
        return;
      case "timer":
        if (Number.isSafeInteger(c.cq) && Number.isSafeInteger(c.beforeMs))
          this.timer = { cq: c.cq, beforeMs: c.beforeMs };
        return;
      case "retention":
        // A set, in log order: a new leader's lower floor replaces the old one (keeps more).
        if (how !== "own" && Number.isSafeInteger(c.floor) && c.floor >= 0) this.learnedFloor = c.floor;
        return;
      default:
        this.logger.warn(`dledger: unknown metadata change ${(c as { t: string }).t}; skipped`);
    }
  }

  private scheduleCheckpoint(): void {
    if (this.checkpointTimer || this.stopped) return;
    this.checkpointTimer = setTimeout(() => {
      this.checkpointTimer = undefined;
      void this.checkpoint();
    }, CHECKPOINT_MS);
    this.checkpointTimer.unref();
  }

  /** Offsets first, then the position: the position never runs ahead of the managers' files. */
  private checkpoint(): Promise<void> {
    this.checkpointing = this.checkpointing
      .then(async () => {
        const state: AppliedFile = {
          applied: this.applied,
          delay: this.delay,
          ...(this.timer ? { timer: this.timer } : {}),
          ...(this.learnedFloor !== undefined ? { floor: this.learnedFloor } : {}),
        };
        await this.offsets.persist();
        await writeFileAtomic(this.file, `${JSON.stringify(state)}\n`);
      })
      .catch((err: Error) => this.logger.error(`dledger: writing ${this.file} failed: ${err.message}`));
    return this.checkpointing;
  }

  /** Stops applying and writes the position a last time. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.pump.busy;
    if (this.checkpointTimer) clearTimeout(this.checkpointTimer);
    this.checkpointTimer = undefined;
    await this.checkpoint();
  }
}
