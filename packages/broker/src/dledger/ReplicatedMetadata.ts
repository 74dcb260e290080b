import { randomBytes } from "node:crypto";
import { ResponseCode, TideMQError } from "@tidemq/protocol";
import type { Logger } from "@tidemq/remoting";
import type { MessageStore } from "@tidemq/store";
import type { ConsumerOffsetManager } from "../ConsumerOffsetManager.js";
import type { SubscriptionGroupManager } from "../SubscriptionGroupManager.js";
import type { TopicConfigManager } from "../TopicConfigManager.js";
import { DLEDGER_METADATA_TOPIC } from "../TopicValidator.js";
import { MetadataApplier, type TimerProgress } from "./MetadataApplier.js";
import { chunkChanges, encodeMetadataRecord, type MetadataChange, OffsetChanges } from "./MetadataRecord.js";
import { REPLICATED_FLOOR_GUARD, RETENTION_FLOOR_MS, replicaGuardFloor } from "./RetentionFloor.js";
import type { SnapshotState } from "./SnapshotInstall.js";

export type { TimerProgress } from "./MetadataApplier.js";

/** The leader also writes what changed (and queued group creations) this often. */
export const METADATA_BATCH_MS = 200;
/**
 * Changed consumer offsets and delivery progress are written at once when no metadata record
 * is being written, else together as one record when it is done (group commit), and records
 * start at least this far apart: one record per commit round trip at most, whatever the rate.
 */
export const OFFSET_RECORD_GAP_MS = 50;
/**
 * A batch that is due waits at most this long for the next message append, and then goes in
 * the same Raft Ready (one frame, one index write, one fsync round on every replica). Written
 * on its own, each batch cost a whole round of its own: with a consumer committing, about a
 * third of the group's Readies were these ~300-byte records.
 */
export const RIDE_ALONG_MS = 10;
/** A/B switch for the bench: every batch is written at once, in a Ready of its own (the old way). */
const METADATA_ALONE = process.env.TIDEMQ_DLEDGER_METADATA_ALONE === "1";
/** A record's JSON stays well below maxMessageSize (4 MiB by default). */
const MAX_RECORD_BYTES = 1024 * 1024;

/**
 * DLedger mode: topics, subscription groups, consumer offsets and the delay/timer delivery
 * progress are replicated through the Raft log — the commit log — as records of the system
 * topic DLEDGER_METADATA_TOPIC, so they commit, replicate and recover with everything else.
 *
 * - Writer (the leader only): a topic or group change (admin, auto-creation on send) is one
 *   record, answered once committed on a majority, then applied locally. Consumer offsets
 *   change with every commit: they are group-committed — written at once when no metadata
 *   record is in flight, else all together after it (records ≥ OFFSET_RECORD_GAP_MS apart),
 *   with the next message append when one comes within RIDE_ALONG_MS (one round for both);
 *   the delay levels' and timers' delivery progress every METADATA_BATCH_MS; a hand-over
 *   (transfer, clean stop) writes the last batch first. After a kill -9 of the leader, a
 *   consumer re-reads what it committed during the last record's write (one commit round trip
 *   of the group, plus OFFSET_RECORD_GAP_MS), plus what it had not committed itself.
 * - Applier (every replica, MetadataApplier.ts): tails the topic's queue (only committed
 *   records are dispatched) and applies each record; the leader skips the topic/group/offset
 *   changes it wrote itself (applied at once). The position is kept in
 *   config/dledgerMetadata.json, written after the managers' files: after a crash a run of
 *   records is applied again, which changes nothing (every change sets a value).
 */
export class ReplicatedMetadata {
  /** This process's writer identity (a restarted replica applies its own old records). */
  readonly origin: string;
  /** Leading: the floor the guards gave last, to be written when it differs from the applied one. */
  private nextFloor: number | undefined;
  private floorTimer: NodeJS.Timeout | undefined;
  private floorAsking = false;
  private batchTimer: NodeJS.Timeout | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  /** A batch is due and waits (flushTimer, ≤ RIDE_ALONG_MS) for a message append to ride along. */
  private due = false;
  private lastFlushAt = 0;
  private flushing: Promise<void> = Promise.resolve();
  private leading = false;
  private readonly offsetChanges = new OffsetChanges();
  private pending: MetadataChange[] = [];
  private lastDelayJson = "";
  private lastTimerJson = "";
  /** The timer queue offset of the last timer progress written (undefined: none written yet). */
  private lastTimerCq: number | undefined;
  /** A delivery was stored since the last batch took the progress. */
  private delivered = false;
  /** Applies records on every replica; keeps what the log taught (progress, floor) and the position. */
  private readonly applier: MetadataApplier;
  /** Whether the Raft replica takes writes (a new leader's services may still be starting). */
  isWritable: (() => boolean) | undefined;
  /** Sources of delivery progress while leading (set by LeaderServices). */
  delayProgress: (() => Record<string, number>) | undefined;
  timerProgress: (() => TimerProgress | undefined) | undefined;
  /**
   * Leading, once every service has registered its retention guard (set by LeaderServices):
   * the floor to publish. Unset, nothing is published (a floor asked before the guards exist
   * would let every replica delete what they are about to keep).
   */
  retentionFloorSource: (() => Promise<number>) | undefined;

  constructor(
    private readonly store: MessageStore,
    private readonly logger: Logger,
    selfId: string,
    configDir: string,
    private readonly topics: TopicConfigManager,
    private readonly groups: SubscriptionGroupManager,
    private readonly offsets: ConsumerOffsetManager,
  ) {
    this.origin = `${selfId}:${randomBytes(6).toString("hex")}`;
    this.applier = new MetadataApplier(
      store,
      logger,
      this.origin,
      configDir,
      topics,
      groups,
      offsets,
      this.offsetChanges,
    );
  }

  /** Loads the applied position, installs the managers' hooks and starts applying. */
  async start(): Promise<void> {
    const applier = this.applier;
    await applier.load();
    // Every replica, leader or not: what the leader keeps for parked records is kept here too
    // (a follower may be the next leader). Registered (replacing the broker's keep-everything
    // placeholder) only now that the persisted floor is loaded.
    this.store.addRetentionGuard(REPLICATED_FLOOR_GUARD, () => replicaGuardFloor(applier.floor));
    this.topics.replicate = (c) => this.writeNow([c]);
    this.groups.replicate = (c) =>
      c.t === "groupDelete" && c.cleanOffset ? this.writeAfterFlushes([c]) : this.writeNow([c]);
    this.groups.replicateLater = (c) => {
      if (this.leading) this.pending.push(c);
    };
    this.offsets.onCommitted = (g, t, q, o) => {
      if (!this.leading) return;
      this.offsetChanges.note(g, t, q, o);
      this.kickFlush();
    };
    this.store.onMessageArrived((topic) => {
      if (topic === DLEDGER_METADATA_TOPIC) applier.kick();
    });
    applier.kick();
    await applier.busy;
  }

  /** Delay-level progress learned from the log (level → next offset). */
  get delayOffsets(): Record<string, number> {
    return this.applier.delayOffsets;
  }

  /** The retention floor learned from the log (undefined: none yet). */
  get retentionFloor(): number | undefined {
    return this.applier.floor;
  }

  /** Timer progress learned from the log. */
  get timerSkip(): TimerProgress | undefined {
    return this.applier.timerSkip;
  }

  /** GET_BROKER_RUNTIME_INFO fields: what this replica applied from the log. */
  runtimeInfo(): Record<string, string> {
    return this.applier.runtimeInfo();
  }

  get appliedOffset(): number {
    return this.applier.appliedOffset;
  }

  /** Records applied since start (tests and status). */
  get appliedRecords(): number {
    return this.applier.appliedRecords;
  }

  /** Resolves once every metadata record dispatched so far is applied. */
  caughtUp(): Promise<void> {
    return this.applier.caughtUp();
  }

  private leadingWaiters: Array<() => void> = [];

  private leadingWithin(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const waiters = this.leadingWaiters;
      function done() {
        clearTimeout(t);
        const i = waiters.indexOf(done);
        if (i >= 0) waiters.splice(i, 1);
        resolve();
      }
      waiters.push(done);
    });
  }

  /** This replica leads (after catching up): changes are written from now on. */
  startLeading(): void {
    this.offsetChanges.clear();
    this.pending = [];
    this.leading = true;
    for (const w of this.leadingWaiters.slice()) w();
    this.batchTimer = setInterval(() => this.flushWithNextAppend(), METADATA_BATCH_MS);
    this.batchTimer.unref();
    this.nextFloor = undefined;
    this.floorTimer = setInterval(() => void this.askFloor(), RETENTION_FLOOR_MS);
    this.floorTimer.unref();
  }

  /** Leading: asks the guards for the floor; a new value goes out with the next batch. */
  private async askFloor(): Promise<void> {
    const source = this.retentionFloorSource;
    if (!source || !this.leading || this.floorAsking) return;
    this.floorAsking = true;
    try {
      const f = await source();
      if (!this.leading || this.retentionFloorSource !== source) return;
      if (f !== this.applier.floor) {
        this.nextFloor = f;
        this.kickFlush();
      }
    } catch (err) {
      this.logger.warn(`dledger: retention floor not published (${(err as Error).message})`);
    } finally {
      this.floorAsking = false;
    }
  }

  /** Deposed: nothing more can be written (changes noted since are another leader's business). */
  stopLeading(): void {
    this.leading = false;
    if (this.batchTimer) clearInterval(this.batchTimer);
    this.batchTimer = undefined;
    if (this.floorTimer) clearInterval(this.floorTimer);
    this.floorTimer = undefined;
    this.nextFloor = undefined;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.due = false;
    this.offsetChanges.clear();
    this.pending = [];
  }

  get isLeading(): boolean {
    return this.leading;
  }

  /**
   * Writes one record with `changes` and resolves once it is committed on a majority (the
   * store answers a put only then), then applies it here.
   */
  async writeNow(changes: MetadataChange[]): Promise<void> {
    // Writable, but still applying the previous leader's records: wait for that (briefly).
    if (!this.leading && this.isWritable?.()) await this.leadingWithin(5000);
    if (!this.leading) {
      throw new TideMQError(
        ResponseCode.SERVICE_NOT_AVAILABLE,
        "this DLedger replica is not the leader: topic and subscription group changes go to the leader",
      );
    }
    await this.put(changes);
  }

  /**
   * writeNow, in line with the offset batches: a batch already being written lands before this
   * record, and none starts until this one is applied. A group delete with cleanOffset needs
   * it: an offsets record of that group written after the delete would bring its offsets back
   * on the followers but not on the leader.
   */
  private writeAfterFlushes(changes: MetadataChange[]): Promise<void> {
    const run = this.flushing.then(() => this.writeNow(changes));
    this.flushing = run.catch(() => undefined);
    return run;
  }

  /** Delivery progress moved (a delay-level or timer delivery was stored): record it soon. */
  progressChanged(): void {
    this.delivered = true;
    this.kickFlush();
  }

  private kickFlush(): void {
    if (this.flushTimer || !this.leading) return;
    const wait = Math.max(0, this.lastFlushAt + OFFSET_RECORD_GAP_MS - Date.now());
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.flushWithNextAppend();
    }, wait);
    this.flushTimer.unref();
  }

  /** A batch is due: it goes with the next message append, or alone after RIDE_ALONG_MS. */
  private flushWithNextAppend(): void {
    if (METADATA_ALONE) {
      void this.flush();
      return;
    }
    if (this.due || !this.leading) return;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.due = true;
    this.flushTimer = setTimeout(() => this.flushDue(), RIDE_ALONG_MS);
    this.flushTimer.unref();
  }

  /**
   * The leader is about to propose a message append (DLedgerNode.onLocalAppend): a due batch
   * is written now. Its put starts in a microtask queued before the Ready loop's, so both
   * entries usually leave in one Ready.
   */
  localAppend(): void {
    if (this.due) this.flushDue();
  }

  private flushDue(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.due = false;
    void this.flush();
  }

  /** Writes what changed since the last batch (offsets, queued group creations, delivery progress). */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.flushNow()).catch(() => undefined);
    return this.flushing;
  }

  private async flushNow(): Promise<void> {
    if (!this.leading) return;
    this.lastFlushAt = Date.now();
    const changes: MetadataChange[] = this.pending.splice(0);
    const entries = this.offsetChanges.take();
    if (entries.length > 0) changes.push({ t: "offsets", entries });
    const delay = this.delayProgress?.();
    const delayJson = delay ? JSON.stringify(delay) : "";
    if (delay && delayJson !== this.lastDelayJson) changes.push({ t: "delay", offsets: delay });
    const timer = this.timerProgress?.();
    const timerJson = timer ? JSON.stringify(timer) : "";
    // The timers' beforeMs follows the wheel's loaded slots, so it moves every second even on
    // an idle leader; with no timer enqueued and none delivered since the last record the move
    // tells a successor nothing (it skips only records below cq that were delivered), and
    // writing it would add a record a second to an idle group's log forever.
    const delivered = this.delivered;
    this.delivered = false;
    const timerMoved = timer !== undefined && (timer.cq !== this.lastTimerCq || delivered);
    if (timer && timerMoved && timerJson !== this.lastTimerJson) changes.push({ t: "timer", ...timer });
    // After the progress, in the same record: the floor was asked before the progress was
    // taken, so a replica that applies both never holds a floor past what it would deliver
    // from after a failover.
    const floor = this.nextFloor;
    if (floor !== undefined && floor !== this.applier.floor) changes.push({ t: "retention", floor });
    if (changes.length === 0) return;
    try {
      await this.put(changes);
      this.lastDelayJson = delayJson;
      if (timerMoved) {
        this.lastTimerJson = timerJson;
        this.lastTimerCq = timer?.cq;
      }
    } catch (err) {
      if (!this.leading) return;
      // Not committed (slow majority): keep the changes for the next batch.
      if (delivered) this.delivered = true;
      this.offsetChanges.restore(entries);
      this.pending.unshift(...changes.filter((c) => c.t === "group"));
      this.logger.warn(`dledger: metadata batch not written (${(err as Error).message}); retrying`);
    }
  }

  private async put(changes: MetadataChange[]): Promise<void> {
    for (const chunk of chunkChanges(changes, MAX_RECORD_BYTES)) {
      const body = encodeMetadataRecord({ v: 1, origin: this.origin, changes: chunk });
      const r = await this.store.putMessage({
        topic: DLEDGER_METADATA_TOPIC,
        queueId: 0,
        flag: 0,
        body,
        properties: {},
        sysFlag: 0,
        bornTimestamp: Date.now(),
        bornHost: { host: "127.0.0.1", port: 0 },
        reconsumeTimes: 0,
        preparedTransactionOffset: 0,
        tagsCode: 0,
      });
      if (r.status !== "PUT_OK") {
        throw new TideMQError(
          ResponseCode.FLUSH_DISK_TIMEOUT,
          `the metadata change was not confirmed by a majority of the DLedger group in time (${r.status}); it may or may not take effect`,
        );
      }
      // Applied here now (the applier skips our own records, so no older state comes back).
      this.applier.appliedAtWrite(r.queueOffset);
      for (const c of chunk) await this.applier.apply(c, "direct");
    }
  }

  // ---------------------------------------------------------------- snapshots (SnapshotInstall.ts)

  /** Everything this replica knows, as changes, and the metadata queue offset it covers. */
  snapshotState(): SnapshotState {
    return this.applier.snapshotState();
  }

  /** An installed snapshot's state: applied as a log record's, then checkpointed. */
  installSnapshot(state: SnapshotState): Promise<void> {
    return this.applier.installSnapshot(state);
  }

  async stop(): Promise<void> {
    this.stopLeading();
    await this.applier.stop();
  }
}
