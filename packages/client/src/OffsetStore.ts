import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { type MessageQueue, mqKey } from "./MessageQueue.js";

/** Consumer offsets (the next offset to consume) per queue, in memory. Pure. */
export class OffsetTable {
  private readonly table = new Map<string, { mq: MessageQueue; offset: number }>();

  /** Sets an offset; with `increaseOnly` a smaller value than the held one is ignored. */
  update(mq: MessageQueue, offset: number, increaseOnly: boolean): void {
    if (!Number.isFinite(offset) || offset < 0) return;
    const key = mqKey(mq);
    const cur = this.table.get(key);
    if (!cur) {
      this.table.set(key, { mq, offset });
      return;
    }
    if (increaseOnly && offset < cur.offset) return;
    // In place: consumers update after every batch they consume.
    cur.mq = mq;
    cur.offset = offset;
  }
  read(mq: MessageQueue): number | undefined {
    return this.table.get(mqKey(mq))?.offset;
  }
  remove(mq: MessageQueue): void {
    this.table.delete(mqKey(mq));
  }
  entries(): Array<{ mq: MessageQueue; offset: number }> {
    return [...this.table.values()];
  }
}

/** Where a consumer keeps its offsets (RocketMQ's OffsetStore). */
export interface OffsetStore {
  load(): Promise<void>;
  update(mq: MessageQueue, offset: number, increaseOnly: boolean): void;
  /** Offset in memory, or undefined. */
  read(mq: MessageQueue): number | undefined;
  /** Offset from the backing store; −1 when nothing is stored. Throws when the store cannot be read. */
  readFromStore(mq: MessageQueue): Promise<number>;
  /** Writes the offsets of these queues to the backing store. */
  persistAll(mqs: MessageQueue[]): Promise<void>;
  /** Forgets a queue (after persisting it, when it is reassigned). */
  remove(mq: MessageQueue): void;
}

/** What a broker-backed store needs from the client: query and commit one queue's offset. */
export interface BrokerOffsetAccess {
  query(mq: MessageQueue): Promise<number>;
  commit(mq: MessageQueue, offset: number): Promise<void>;
}

/** Clustering consumers: offsets live on the broker (QUERY/UPDATE_CONSUMER_OFFSET). */
export class RemoteBrokerOffsetStore implements OffsetStore {
  private readonly table = new OffsetTable();
  /** Last value the broker acknowledged per queue, so unchanged offsets are not re-sent every 5 s. */
  private readonly committed = new Map<string, number>();
  constructor(private readonly access: BrokerOffsetAccess) {}

  async load(): Promise<void> {}
  update(mq: MessageQueue, offset: number, increaseOnly: boolean): void {
    this.table.update(mq, offset, increaseOnly);
    // An explicit set (start position, offset reset, moved offset) is always sent at the next
    // persist: the broker's value may have changed since our last commit (a reset by an
    // operator, a commit piggybacked on a pull that crossed the reset).
    if (!increaseOnly) this.committed.delete(mqKey(mq));
  }
  read(mq: MessageQueue): number | undefined {
    return this.table.read(mq);
  }
  async readFromStore(mq: MessageQueue): Promise<number> {
    const offset = await this.access.query(mq);
    if (offset >= 0) {
      this.table.update(mq, offset, false);
      this.committed.set(mqKey(mq), offset);
    }
    return offset;
  }
  async persistAll(mqs: MessageQueue[]): Promise<void> {
    const errors: unknown[] = [];
    await Promise.all(
      mqs.map(async (mq) => {
        const offset = this.table.read(mq);
        const key = mqKey(mq);
        if (offset === undefined || this.committed.get(key) === offset) return;
        try {
          await this.access.commit(mq, offset);
          this.committed.set(key, offset);
        } catch (err) {
          errors.push(err);
        }
      }),
    );
    if (errors.length > 0) throw errors[0];
  }
  remove(mq: MessageQueue): void {
    this.table.remove(mq);
    this.committed.delete(mqKey(mq));
  }
}

interface OffsetFile {
  offsetTable: Record<string, { topic: string; brokerName: string; queueId: number; offset: number }>;
}

/**
 * Broadcasting consumers: offsets stay with the client (spec §8.10), in memory, or in a JSON
 * file when a path is given (written to a temporary file and renamed, so a crash leaves the
 * old or the new file, never half of one).
 */
export class LocalOffsetStore implements OffsetStore {
  private readonly table = new OffsetTable();
  constructor(private readonly path: string | undefined) {}

  async load(): Promise<void> {
    if (!this.path) return;
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    let data: OffsetFile;
    try {
      data = JSON.parse(text) as OffsetFile;
    } catch {
      // A corrupt file must not stop the consumer: start as on first boot (the start rules apply).
      return;
    }
    for (const e of Object.values(data.offsetTable ?? {})) {
      if (typeof e?.topic === "string" && typeof e.brokerName === "string" && Number.isInteger(e.queueId)) {
        this.table.update(
          { topic: e.topic, brokerName: e.brokerName, queueId: e.queueId },
          Number(e.offset),
          false,
        );
      }
    }
  }
  update(mq: MessageQueue, offset: number, increaseOnly: boolean): void {
    this.table.update(mq, offset, increaseOnly);
  }
  read(mq: MessageQueue): number | undefined {
    return this.table.read(mq);
  }
  async readFromStore(mq: MessageQueue): Promise<number> {
    return this.table.read(mq) ?? -1;
  }
  async persistAll(_mqs: MessageQueue[]): Promise<void> {
    if (!this.path) return;
    // Every known queue is written, not just the held ones, so offsets of queues that left survive.
    const out: OffsetFile = { offsetTable: {} };
    for (const { mq, offset } of this.table.entries()) out.offsetTable[mqKey(mq)] = { ...mq, offset };
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp`;
    await writeFile(tmp, JSON.stringify(out, null, 1));
    await rename(tmp, this.path);
  }
  remove(_mq: MessageQueue): void {
    // Broadcasting keeps every offset: the queue may come back and must resume where it was.
  }
}
