import {
  atEndOfTurn,
  type EndTransactionEntry,
  type ExtFields,
  endTransactionResultCode,
  endTransactionResultRemark,
  MAX_END_TRANSACTION_BATCH,
  ResponseCode,
  readEndTransactionResults,
  TransactionRequestCode,
} from "@tidemq/protocol";
import { BrokerError } from "./errors.js";
import type { MQClientInstance } from "./MQClientInstance.js";
import type { HalfHandle } from "./Transaction.js";

/**
 * What ends its halves through the batcher (a Transaction): told once per half how its
 * END_TRANSACTION went, and asked to send one alone (a broker without the batch request).
 */
export interface HalfOwner {
  /** COMMIT / ROLLBACK / UNKNOWN, for a refusal's error. */
  readonly resolution: string;
  halfEnded(half: EndingHalf, err: unknown): void;
  endAlone(half: EndingHalf): Promise<void>;
}

/** A half being ended: its handle, the entry fields (encoded as they are) and its owner. */
export interface EndingHalf extends HalfHandle, EndTransactionEntry {
  owner: HalfOwner;
}

/** A refused END_TRANSACTION's "what" (built only for an error). */
function whatOf(h: EndingHalf): string {
  return `END_TRANSACTION (${h.owner.resolution}) of message ${h.msgId}`;
}

/** Bytes of one END_TRANSACTION_BATCH entry (protocol's transactionCodes.ts). */
const ENTRY_BYTES = 17;
const TWO_32 = 2 ** 32;

/**
 * The END_TRANSACTION_BATCH body of `entries`: the bytes of the protocol's
 * encodeEndTransactionBatch (int64 tranStateTableOffset, int64 commitLogOffset, int8
 * commitOrRollback per entry), written through one DataView. Its writeLong goes through
 * Buffer's checked writeInt32BE / writeUInt32BE: ~100 ns per entry against ~14 here
 * (64 entries, alternating rounds), on a path taken once per half.
 */
export function encodeEndTransactionEntries(entries: readonly EndTransactionEntry[]): Buffer {
  const n = entries.length;
  const out = Buffer.allocUnsafe(n * ENTRY_BYTES);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0, p = 0; i < n; i++, p += ENTRY_BYTES) {
    const e = entries[i]!;
    // As numbers, not BigInts: offsets stay far below 2^53.
    const t = e.tranStateTableOffset;
    const c = e.commitLogOffset;
    const tHigh = Math.floor(t / TWO_32);
    const cHigh = Math.floor(c / TWO_32);
    view.setInt32(p, tHigh);
    view.setUint32(p + 4, t - tHigh * TWO_32);
    view.setInt32(p + 8, cHigh);
    view.setUint32(p + 12, c - cHigh * TWO_32);
    view.setInt8(p + 16, e.commitOrRollback);
  }
  return out;
}

const OPEN = 0x5b;
const ZERO = 0x30;
const COMMA = 0x2c;
const CLOSE = 0x5d;

/**
 * Whether an END_TRANSACTION_BATCH answer is exactly `[0,0,…,0]` with `expected` results:
 * every END_TRANSACTION accepted, the answer nearly every batch gets (encodeEndTransactionResults
 * writes a bare 0 per accepted entry). Read from its bytes: no text, no JSON.parse, no array.
 * Anything else (a refusal, a remark, whitespace) goes through readEndTransactionResults.
 */
export function allAccepted(body: Buffer | undefined, expected: number): boolean {
  if (body === undefined || expected < 1 || body.length !== 2 * expected + 1) return false;
  if (body[0] !== OPEN || body[2 * expected] !== CLOSE) return false;
  for (let i = 0; i < expected; i++) {
    const p = 2 * i + 1;
    if (body[p] !== ZERO) return false;
    if (i + 1 < expected && body[p + 1] !== COMMA) return false;
  }
  return true;
}

function sendAlone(h: EndingHalf): void {
  h.owner.endAlone(h).then(
    () => h.owner.halfEnded(h, undefined),
    (err: unknown) => h.owner.halfEnded(h, err),
  );
}

/**
 * Coalesces the END_TRANSACTIONs a client issues in one event-loop turn for the same broker
 * and producer group into one END_TRANSACTION_BATCH (TideMQ's request): with many
 * transactions in flight, the commits cost one request and one broker append instead of one
 * each. Each half still gets its own answer, handed to its owner (no promise per half: the
 * transaction settles its one promise when its last half is answered). A lone commit,
 * and every commit to a broker that does not know the request (a RocketMQ broker answers
 * REQUEST_CODE_NOT_SUPPORTED), goes as a plain END_TRANSACTION.
 */
export class EndTransactionBatcher {
  /** This turn's END_TRANSACTIONs by broker, then producer group (no key string per call). */
  private waiting = new Map<string, Map<string, EndingHalf[]>>();
  /**
   * The list the last end() joined, and its broker and group: a producer's commits go to one
   * broker and group turn after turn, so most calls skip the two Map lookups (~1 % of a
   * transaction's CPU). Cleared with `waiting`.
   */
  private lastAddr: string | undefined;
  private lastGroup: string | undefined;
  private lastList: EndingHalf[] | undefined;
  private scheduled = false;
  /** Brokers that answered REQUEST_CODE_NOT_SUPPORTED. */
  private readonly plainOnly = new Set<string>();
  /** The last group's request header as wire fields (built once per group, never modified). */
  private headerGroup: string | undefined;
  private header: ExtFields = {};

  constructor(private readonly instance: MQClientInstance) {}

  /** The request header of `group`'s batches (binary serialization, as sendMessage's). */
  private headerOf(group: string): ExtFields {
    if (group !== this.headerGroup) {
      this.header = { producerGroup: group, fromTransactionCheck: "false" };
      this.headerGroup = group;
    }
    return this.header;
  }

  /** Queues `half` (its commitOrRollback set) for this turn's batch to its broker. */
  end(half: EndingHalf, group: string): void {
    const brokerAddr = half.brokerAddr;
    if (this.plainOnly.size > 0 && this.plainOnly.has(brokerAddr)) {
      sendAlone(half);
      return;
    }
    let list = this.lastList;
    if (list === undefined || brokerAddr !== this.lastAddr || group !== this.lastGroup) {
      let byGroup = this.waiting.get(brokerAddr);
      if (!byGroup) {
        byGroup = new Map();
        this.waiting.set(brokerAddr, byGroup);
      }
      list = byGroup.get(group);
      if (!list) {
        list = [];
        byGroup.set(group, list);
      }
      this.lastAddr = brokerAddr;
      this.lastGroup = group;
      this.lastList = list;
    }
    list.push(half);
    if (!this.scheduled) {
      this.scheduled = true;
      // Commits made in promise chains of this turn still join.
      atEndOfTurn(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const waiting = this.waiting;
    this.waiting = new Map();
    this.lastList = undefined;
    for (const [addr, byGroup] of waiting) {
      for (const [group, list] of byGroup) {
        for (let from = 0; from < list.length; from += MAX_END_TRANSACTION_BATCH) {
          const part =
            from === 0 && list.length <= MAX_END_TRANSACTION_BATCH
              ? list
              : list.slice(from, from + MAX_END_TRANSACTION_BATCH);
          if (part.length === 1) sendAlone(part[0]!);
          else this.sendBatch(addr, group, part);
        }
      }
    }
  };

  private sendBatch(addr: string, group: string, part: EndingHalf[]): void {
    const api = this.instance.api;
    api
      .callWithFields(
        addr,
        TransactionRequestCode.END_TRANSACTION_BATCH,
        this.headerOf(group),
        encodeEndTransactionEntries(part),
        api.requestTimeout,
        () => `END_TRANSACTION_BATCH of ${part.length} half messages`,
      )
      .then(
        (res) => {
          if (allAccepted(res.body, part.length)) {
            for (let i = 0; i < part.length; i++) {
              const h = part[i]!;
              h.owner.halfEnded(h, undefined);
            }
            return;
          }
          let results: unknown[];
          try {
            results = readEndTransactionResults(res.body, part.length);
          } catch (err) {
            // A malformed answer: nothing is known about these commits (the broker checks back).
            for (const h of part) h.owner.halfEnded(h, err);
            return;
          }
          for (let i = 0; i < part.length; i++) {
            const h = part[i]!;
            const r = results[i];
            const code = endTransactionResultCode(r);
            h.owner.halfEnded(
              h,
              code === ResponseCode.SUCCESS
                ? undefined
                : new BrokerError(code, endTransactionResultRemark(r), addr, whatOf(h)),
            );
          }
        },
        (err: unknown) => {
          if (err instanceof BrokerError && err.code === ResponseCode.REQUEST_CODE_NOT_SUPPORTED) {
            this.plainOnly.add(addr);
            for (const h of part) sendAlone(h);
            return;
          }
          for (const h of part) h.owner.halfEnded(h, err);
        },
      )
      .catch((err: unknown) => {
        // Not reached: an owner's halfEnded does not throw.
        this.instance.logger.error(`END_TRANSACTION_BATCH answer not handled: ${(err as Error).message}`);
      });
  }
}

const batchers = new WeakMap<MQClientInstance, EndTransactionBatcher>();

/** The client instance's batcher (one per instance: its producers share connections). */
export function endTransactionBatcherOf(instance: MQClientInstance): EndTransactionBatcher {
  let b = batchers.get(instance);
  if (!b) {
    b = new EndTransactionBatcher(instance);
    batchers.set(instance, b);
  }
  return b;
}
