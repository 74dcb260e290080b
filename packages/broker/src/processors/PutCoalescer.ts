import { afterSyncRun, MessageSysFlag, ResponseCode, TideMQError, transactionType } from "@tidemq/protocol";
import type { MessageInput, PutResult } from "@tidemq/store";
import { offsetOfMsgId } from "../dedup/RecordOffsets.js";

/** The part of the MessageStore the coalescer uses. */
export interface BatchPutter {
  putMessages(msgs: MessageInput[], options?: { msgIds?: boolean }): Promise<PutResult>;
}

/** Store options of a put whose caller reads no msgIds. */
const NO_MSG_IDS = Object.freeze({ msgIds: false });

interface Part {
  /** Index of this request's first message in the group. */
  start: number;
  inputs: MessageInput[];
  resolve: (r: PutResult) => void;
  reject: (err: unknown) => void;
}

interface Group {
  inputs: MessageInput[];
  parts: Part[];
  bytes: number;
}

/** A group is handed to the store early once it holds this many messages or body bytes. */
const MAX_GROUP_MESSAGES = 4096;
const MAX_GROUP_BYTES = 4 * 1024 * 1024;

/**
 * Turns the sends of one event-loop turn (every frame of a socket chunk, every send that
 * left the send queue together) into one store append per topic/queue: one reservation,
 * one promise and one waiter in the store for the lot instead of one per message. Each
 * request still gets its own result (its messages' ids and first queue offset), and the
 * order of appends per queue is the order the puts were made in.
 *
 * A group the store refuses as a whole for one bad message (MESSAGE_ILLEGAL) is retried
 * request by request, so only the bad request fails.
 */
export class PutCoalescer {
  /** Groups of this turn by topic, then queue id (no key string built per put). */
  private groups = new Map<string, Map<number, Group>>();
  private scheduled = false;

  constructor(private readonly store: BatchPutter) {}

  /**
   * `ids` false: the caller needs no msgIds from a put that goes alone (it reads the records'
   * offsets from commitLogOffset and recordSizes); a coalesced put has them all the same.
   */
  put(inputs: MessageInput[], ids = true): Promise<PutResult> {
    const first = inputs[0];
    // Half/rollback transaction records take no queue offset: per-request offsets could not
    // be derived from the group's first offset, so they go alone (after what waits ahead).
    if (!first || anyNotInQueue(inputs)) {
      if (first) this.flushKey(first.topic, first.queueId);
      return ids ? this.store.putMessages(inputs) : this.store.putMessages(inputs, NO_MSG_IDS);
    }
    let byQueue = this.groups.get(first.topic);
    if (!byQueue) {
      byQueue = new Map();
      this.groups.set(first.topic, byQueue);
    }
    let group = byQueue.get(first.queueId);
    if (!group) {
      group = { inputs: [], parts: [], bytes: 0 };
      byQueue.set(first.queueId, group);
    }
    const g = group;
    const promise = new Promise<PutResult>((resolve, reject) => {
      g.parts.push({ start: g.inputs.length, inputs, resolve, reject });
    });
    for (const m of inputs) {
      g.inputs.push(m);
      g.bytes += m.body.length;
    }
    if (g.inputs.length >= MAX_GROUP_MESSAGES || g.bytes >= MAX_GROUP_BYTES) {
      this.flushKey(first.topic, first.queueId);
    } else if (!this.scheduled) {
      this.scheduled = true;
      // After the current synchronous run (the whole socket chunk), before any I/O.
      afterSyncRun(this.flushAll);
    }
    return promise;
  }

  private readonly flushAll = (): void => {
    this.scheduled = false;
    const groups = this.groups;
    if (groups.size === 0) return;
    this.groups = new Map();
    for (const byQueue of groups.values()) for (const g of byQueue.values()) this.submit(g);
  };

  private flushKey(topic: string, queueId: number): void {
    const byQueue = this.groups.get(topic);
    const g = byQueue?.get(queueId);
    if (!byQueue || !g) return;
    byQueue.delete(queueId);
    this.submit(g);
  }

  private submit(g: Group): void {
    if (g.parts.length === 1) {
      const p = g.parts[0]!;
      this.store.putMessages(p.inputs).then(p.resolve, p.reject);
      return;
    }
    this.store.putMessages(g.inputs).then(
      (r) => {
        const sizes = r.recordSizes;
        let offset = r.commitLogOffset;
        for (const p of g.parts) {
          const n = p.inputs.length;
          // Each request's own first record (de-duplication enters a send at it).
          const at = sizes !== undefined || p.start === 0 ? offset : offsetOfMsgId(r.msgIds[p.start]!);
          p.resolve(slice(r, p.start, n, at));
          if (sizes !== undefined) for (let i = p.start; i < p.start + n; i++) offset += sizes[i]!;
        }
      },
      (err: unknown) => {
        if (err instanceof TideMQError && err.code === ResponseCode.MESSAGE_ILLEGAL) {
          for (const p of g.parts) this.store.putMessages(p.inputs).then(p.resolve, p.reject);
        } else {
          for (const p of g.parts) p.reject(err);
        }
      },
    );
  }
}

function anyNotInQueue(inputs: MessageInput[]): boolean {
  for (let i = 0; i < inputs.length; i++) {
    const tt = transactionType(inputs[i]!.sysFlag);
    if (tt === MessageSysFlag.TRANSACTION_PREPARED_TYPE || tt === MessageSysFlag.TRANSACTION_ROLLBACK_TYPE) {
      return true;
    }
  }
  return false;
}

/**
 * One request's share of a group's result: its ids, first queue offset (the group's are
 * consecutive) and where its first record starts (`commitLogOffset`).
 */
function slice(r: PutResult, start: number, count: number, commitLogOffset: number): PutResult {
  return {
    status: r.status,
    queueOffset: r.queueOffset + start,
    commitLogOffset,
    msgIds: r.msgIds.slice(start, start + count),
    count,
    storeTimestamp: r.storeTimestamp,
  };
}
