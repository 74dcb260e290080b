import { RecordLayout, readLong } from "@tidemq/protocol";
import type { CommitLog } from "./CommitLog.js";
import { CQ_ENTRY_BYTES } from "./ConsumeQueue.js";
import type { Dispatcher } from "./Dispatcher.js";
import type { IndexService } from "./IndexService.js";
import type { QueueTable } from "./QueueTable.js";
import { serviceNotAvailable } from "./StoreError.js";
import type { StoreHealth } from "./StoreHealth.js";
import type { GetMessageResult, GetMessageStatus } from "./StoreTypes.js";
import { recordMatchesKey } from "./storeRecords.js";

/** Consume-queue entries scanned per pull when a filter drops messages (RocketMQ: 16000 bytes / 20). */
const MAX_FILTER_SCAN = 800;
const DEFAULT_MAX_PULL_BYTES = 4 * 1024 * 1024;
const MAX_QUERY_MESSAGES = 64;

/**
 * Reads: pulls (consume-queue entries → one log read per contiguous run), queue offsets
 * by time, where the records since a time start in the log, look-ups by physical offset (offsetMsgId) and by key. Only dispatched records
 * are in consume queues and index, and look-ups by offset stop at the visible offset, so
 * nothing here returns data a crash or a failover can take back.
 */
export class MessageQueries {
  constructor(
    private readonly log: CommitLog,
    private readonly table: QueueTable,
    private readonly index: IndexService,
    private readonly dispatcher: Dispatcher,
    private readonly health: StoreHealth,
  ) {}

  getMaxOffsetInQueue(topic: string, queueId: number): number {
    return this.table.queue(topic, queueId)?.maxOffset ?? 0;
  }

  getMinOffsetInQueue(topic: string, queueId: number): number {
    return this.table.queue(topic, queueId)?.minOffset ?? 0;
  }

  async getMessage(
    topic: string,
    queueId: number,
    offset: number,
    maxMsgNums: number,
    /** Keeps an entry by its tags hash code; also given its queue offset (broker-side match indexes). */
    filter?: (tagsCode: number, queueOffset: number) => boolean,
    maxBytes = DEFAULT_MAX_PULL_BYTES,
  ): Promise<GetMessageResult> {
    const cq = this.table.queue(topic, queueId);
    const minOffset = cq?.minOffset ?? 0;
    const maxOffset = cq?.maxOffset ?? 0;
    const empty = (
      status: GetMessageStatus,
      nextBeginOffset: number,
      lastPhysicalOffset = -1,
    ): GetMessageResult => ({
      status,
      nextBeginOffset,
      minOffset,
      maxOffset,
      messageCount: 0,
      body: Buffer.alloc(0),
      queueOffsets: [],
      lastPhysicalOffset,
    });
    if (this.health.closed) throw serviceNotAvailable("message store is shut down");
    if (!cq || maxOffset === 0) return empty("NO_MESSAGE_IN_QUEUE", 0);
    if (offset < minOffset) return empty("OFFSET_TOO_SMALL", minOffset);
    if (offset === maxOffset) return empty("OFFSET_OVERFLOW_ONE", offset);
    if (offset > maxOffset) return empty("OFFSET_OVERFLOW_BADLY", minOffset === 0 ? minOffset : maxOffset);
    const want = Math.max(1, Math.min(maxMsgNums | 0, 10_000));
    const scan = filter ? Math.max(want, MAX_FILTER_SCAN) : want;
    const entries = await cq.read(offset, scan);
    const logMin = this.log.minOffset;
    // Entries are read in place (no object per message) and merged into log ranges that are
    // contiguous within one segment: a pull of N sequential messages is one log read.
    const runs: number[] = []; // flat [start, length] pairs
    const queueOffsets: number[] = [];
    let runEnd = -1;
    let runSegmentEnd = -1;
    let bytes = 0;
    let scanned = 0;
    let removed = 0;
    let lastPhys = -1;
    const n = entries.length / CQ_ENTRY_BYTES;
    for (let i = 0; i < n && queueOffsets.length < want; i++) {
      const at = i * CQ_ENTRY_BYTES;
      const phys = readLong(entries, at);
      const size = entries.readInt32BE(at + 8);
      scanned = i + 1;
      lastPhys = phys;
      if (phys < logMin) {
        removed++;
        continue;
      }
      if (filter && !filter(readLong(entries, at + 12), offset + i)) continue;
      if (queueOffsets.length > 0 && bytes + size > maxBytes) {
        scanned = i;
        break;
      }
      if (phys === runEnd && phys + size <= runSegmentEnd) {
        runs[runs.length - 1]! += size;
      } else {
        runs.push(phys, size);
        runSegmentEnd = this.segmentEndOf(phys);
      }
      runEnd = phys + size;
      queueOffsets.push(offset + i);
      bytes += size;
    }
    if (queueOffsets.length === 0) {
      return empty(
        removed > 0 ? "MESSAGE_WAS_REMOVING" : filter ? "NO_MATCHED_MESSAGE" : "OFFSET_FOUND_NULL",
        offset + scanned,
        lastPhys,
      );
    }
    const body = await this.readRuns(runs, bytes);
    return {
      status: "FOUND",
      nextBeginOffset: offset + scanned,
      minOffset,
      maxOffset,
      messageCount: queueOffsets.length,
      body,
      queueOffsets,
      lastPhysicalOffset: lastPhys,
    };
  }

  /** End of the commit-log segment holding `offset` (a read never crosses a segment). */
  private segmentEndOf(offset: number): number {
    const seg = this.log.segments[this.log.segmentIndexFor(offset)];
    return seg ? seg.start + seg.size : offset;
  }

  /** Reads log ranges ([start, length] pairs) into one buffer: a memcpy from the in-memory tail, else a positioned read each. */
  private async readRuns(runs: number[], bytes: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(bytes);
    const reads: Promise<void>[] = [];
    let pos = 0;
    for (let i = 0; i < runs.length; i += 2) {
      reads.push(this.log.read(runs[i]!, runs[i + 1]!, out, pos));
      pos += runs[i + 1]!;
    }
    await Promise.all(reads);
    return out;
  }

  /** The store timestamp of the record at a physical offset. */
  async storeTimeAt(offset: number): Promise<number> {
    const b = Buffer.allocUnsafe(8);
    await this.log.read(offset + RecordLayout.STORE_TIMESTAMP, 8, b, 0);
    return readLong(b, 0);
  }

  async getOffsetInQueueByTime(topic: string, queueId: number, timestamp: number): Promise<number> {
    const cq = this.table.queue(topic, queueId);
    if (!cq || cq.maxOffset === cq.minOffset) return cq?.maxOffset ?? 0;
    let lo = cq.minOffset;
    let hi = cq.maxOffset;
    const logMin = this.log.minOffset;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const e = await cq.entry(mid);
      const t = e.offset < logMin ? Number.NEGATIVE_INFINITY : await this.storeTimeAt(e.offset);
      if (t >= timestamp) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  async getEarliestMessageTime(topic: string, queueId: number): Promise<number> {
    const cq = this.table.queue(topic, queueId);
    if (!cq || cq.maxOffset === cq.minOffset) return -1;
    return this.getMessageStoreTimestamp(topic, queueId, cq.minOffset);
  }

  async getMessageStoreTimestamp(topic: string, queueId: number, queueOffset: number): Promise<number> {
    const cq = this.table.queue(topic, queueId);
    if (!cq || queueOffset < cq.minOffset || queueOffset >= cq.maxOffset) return -1;
    const e = await cq.entry(queueOffset);
    if (e.offset < this.log.minOffset) return -1;
    return this.storeTimeAt(e.offset);
  }

  /** See MessageStore.commitLogOffsetInQueue. */
  async commitLogOffsetInQueue(topic: string, queueId: number, queueOffset: number): Promise<number> {
    const cq = this.table.queue(topic, queueId);
    if (!cq) return Number.POSITIVE_INFINITY;
    const n = Math.max(queueOffset, cq.minOffset);
    if (n >= cq.maxOffset) return Number.POSITIVE_INFINITY;
    return (await cq.entry(n)).offset;
  }

  /**
   * Where the records stored since `timestamp` start in the commit log (see
   * MessageStore.forEachRecordSince), at most `maxBytes` before its confirmed end.
   */
  async offsetSince(timestamp: number, maxBytes: number): Promise<number> {
    const to = this.log.confirmedOffset;
    // At most maxBytes of log: per queue, the first entry at or after both bounds.
    const floor = to - maxBytes;
    let from = to;
    for (const cq of [...this.table.consumeQueues()]) {
      let n = await this.getOffsetInQueueByTime(cq.topic, cq.queueId, timestamp);
      if (n >= cq.maxOffset) continue;
      if ((await cq.entry(n)).offset < floor) {
        let lo = n;
        let hi = cq.maxOffset;
        while (lo < hi) {
          const mid = Math.floor((lo + hi) / 2);
          if ((await cq.entry(mid)).offset >= floor) hi = mid;
          else lo = mid + 1;
        }
        n = lo;
        if (n >= cq.maxOffset) continue;
      }
      const e = await cq.entry(n);
      if (e.offset < from) from = e.offset;
    }
    return Math.max(from, this.log.minOffset);
  }

  /** One stored record at a physical offset (offsetMsgId look-ups); only confirmed data. */
  async lookMessageByOffset(commitLogOffset: number): Promise<Buffer | undefined> {
    if (!Number.isSafeInteger(commitLogOffset) || commitLogOffset < this.log.minOffset) return undefined;
    if (commitLogOffset + 8 > this.dispatcher.visibleOffset) return undefined;
    const rec = await this.log.readRecord(commitLogOffset);
    if (!rec || commitLogOffset + rec.length > this.dispatcher.visibleOffset) return undefined;
    return rec;
  }

  /** Messages of `topic` whose KEYS contain `key` or whose UNIQ_KEY is `key`, stored in [begin, end]. */
  async queryMessage(
    topic: string,
    key: string,
    maxNum: number,
    begin: number,
    end: number,
  ): Promise<{ messages: Buffer[]; indexLastUpdateTimestamp: number; indexLastUpdatePhyoffset: number }> {
    const max = Math.max(1, Math.min(maxNum | 0, MAX_QUERY_MESSAGES));
    const phys = await this.index.query(topic, key, begin, end, max * 4);
    const messages: Buffer[] = [];
    for (const phy of phys) {
      if (messages.length >= max) break;
      const rec = await this.lookMessageByOffset(phy);
      if (rec && recordMatchesKey(rec, topic, key)) messages.push(rec);
    }
    return {
      messages,
      indexLastUpdateTimestamp: this.index.lastTs,
      indexLastUpdatePhyoffset: Math.max(0, this.index.lastPhy),
    };
  }
}
