import fs from "node:fs";
import { join } from "node:path";
import { javaStringHashCode } from "@tidemq/protocol";
import { ConsumeQueue, CqChunkCache } from "./ConsumeQueue.js";
import type { ReadFdCache } from "./fsx.js";
import type { Logger } from "./Logger.js";
import { messageIllegal } from "./StoreError.js";
import type { QueueState, TopicState } from "./StoreTypes.js";

/**
 * Every topic and queue the store knows: the consume queues on disk (topic → queue id →
 * ConsumeQueue) and, per topic, the append state (record bytes of its name, index hash,
 * next queue offset per queue). Shared by the append path, dispatch, recovery, retention
 * and queries.
 */
export class QueueTable {
  private readonly queues = new Map<string, Map<number, ConsumeQueue>>();
  private readonly topics = new Map<string, TopicState>();
  private readonly chunks = new CqChunkCache(512);

  constructor(
    readonly root: string,
    private readonly entriesPerFile: number,
    private readonly readFds: ReadFdCache,
  ) {}

  queue(topic: string, queueId: number): ConsumeQueue | undefined {
    return this.queues.get(topic)?.get(queueId);
  }

  count(): number {
    let n = 0;
    for (const m of this.queues.values()) n += m.size;
    return n;
  }

  *consumeQueues(): Generator<ConsumeQueue> {
    for (const byId of this.queues.values()) yield* byId.values();
  }

  /** Opens every consume queue under the root and cuts entries past the log's end. */
  async load(logEnd: number, clean: boolean, logger: Logger): Promise<void> {
    for (const topic of await fs.promises.readdir(this.root)) {
      const tdir = join(this.root, topic);
      if (!(await fs.promises.stat(tdir)).isDirectory()) continue;
      for (const q of await fs.promises.readdir(tdir)) {
        const queueId = Number(q);
        if (!/^\d+$/.test(q) || queueId > 0x7fffffff) {
          logger.warn(`ignoring ${join(tdir, q)}: not a queue id`);
          continue;
        }
        const cq = this.newQueue(topic, queueId);
        await cq.load(logger);
        await cq.truncateToLog(logEnd, clean, logger);
      }
    }
  }

  newQueue(topic: string, queueId: number): ConsumeQueue {
    let byId = this.queues.get(topic);
    if (!byId) {
      byId = new Map();
      this.queues.set(topic, byId);
    }
    const cq = new ConsumeQueue(
      topic,
      queueId,
      join(this.root, topic, String(queueId)),
      this.entriesPerFile,
      this.readFds,
      this.chunks,
    );
    byId.set(queueId, cq);
    const t = this.topics.get(topic);
    if (t) {
      const q = t.queues.get(queueId);
      if (q) q.cq = cq;
    }
    return cq;
  }

  /** A topic's append state; `topic` must be valid (checked by topicForPut or read from the log). */
  topicState(topic: string): TopicState {
    let t = this.topics.get(topic);
    if (!t) {
      t = {
        name: topic,
        buf: Buffer.from(topic, "utf8"),
        hash: javaStringHashCode(topic),
        queues: new Map(),
        deleted: false,
      };
      this.topics.set(topic, t);
    }
    return t;
  }

  queueState(t: TopicState, queueId: number): QueueState {
    let q = t.queues.get(queueId);
    if (!q) {
      const cq = this.queue(t.name, queueId);
      q = { topic: t, queueId, next: cq?.maxOffset ?? 0, cq };
      t.queues.set(queueId, q);
    }
    return q;
  }

  /** The topic's state for an append, refusing names that could not be stored. */
  topicForPut(topic: string): TopicState {
    const t = this.topics.get(topic);
    if (t) return t;
    if (typeof topic !== "string" || topic.length === 0) throw messageIllegal("topic is empty");
    // The topic names a consume-queue directory: nothing that could leave it.
    if (topic === "." || topic === ".." || /[/\\\u0000]/.test(topic)) {
      throw messageIllegal(`topic ${JSON.stringify(topic)} is not allowed`);
    }
    const bytes = Buffer.byteLength(topic, "utf8");
    if (bytes > 127) throw messageIllegal(`topic of ${bytes} bytes exceeds 127`);
    return this.topicState(topic);
  }

  queueForPut(t: TopicState, queueId: number): QueueState {
    const q = t.queues.get(queueId);
    if (q) return q;
    if (!Number.isInteger(queueId) || queueId < 0 || queueId > 0x7fffffff) {
      throw messageIllegal(`queue id ${queueId} is not a non-negative int`);
    }
    return this.queueState(t, queueId);
  }

  /** Drops the topics' queues (files included); queued dispatches of them find the topic deleted. */
  async deleteTopics(topics: string[]): Promise<void> {
    for (const t of topics) {
      const byId = this.queues.get(t);
      this.queues.delete(t);
      const state = this.topics.get(t);
      if (state) state.deleted = true;
      this.topics.delete(t);
      if (byId) for (const cq of byId.values()) await cq.destroy();
      await fs.promises.rm(join(this.root, t), { recursive: true, force: true });
    }
  }
}
