import {
  atEndOfTurn,
  decodeEndTransactionResults,
  type EndTransactionEntry,
  encodeEndTransactionBatch,
  MAX_END_TRANSACTION_BATCH,
  ResponseCode,
  SerializeType,
  TransactionRequestCode,
} from "@tidemq/protocol";
import { BrokerError } from "./errors.js";
import type { MQClientInstance } from "./MQClientInstance.js";
import type { HalfHandle } from "./Transaction.js";

/** One END_TRANSACTION waiting for the turn's batch: its entry (encoded as it is) and its answer. */
interface Waiting extends EndTransactionEntry {
  half: HalfHandle;
  /** COMMIT / ROLLBACK / UNKNOWN, for a refusal's error. */
  resolution: string;
  /** Sends this one alone as END_TRANSACTION (a broker without the batch request). */
  alone: () => Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** A refused END_TRANSACTION's "what" (built only for an error). */
function whatOf(w: Waiting): string {
  return `END_TRANSACTION (${w.resolution}) of message ${w.half.msgId}`;
}

/**
 * Coalesces the END_TRANSACTIONs a client issues in one event-loop turn for the same broker
 * and producer group into one END_TRANSACTION_BATCH (TideMQ's request): with many
 * transactions in flight, the commits cost one request and one broker append instead of one
 * each. Each commit still gets its own answer (a refused one throws alone). A lone commit,
 * and every commit to a broker that does not know the request (a RocketMQ broker answers
 * REQUEST_CODE_NOT_SUPPORTED), goes as a plain END_TRANSACTION.
 */
export class EndTransactionBatcher {
  /** This turn's END_TRANSACTIONs by broker, then producer group (no key string per call). */
  private waiting = new Map<string, Map<string, Waiting[]>>();
  private scheduled = false;
  /** Brokers that answered REQUEST_CODE_NOT_SUPPORTED. */
  private readonly plainOnly = new Set<string>();

  constructor(private readonly instance: MQClientInstance) {}

  end(
    half: HalfHandle,
    group: string,
    commitOrRollback: number,
    resolution: string,
    alone: () => Promise<void>,
  ): Promise<void> {
    const brokerAddr = half.brokerAddr;
    if (this.plainOnly.has(brokerAddr)) return alone();
    let byGroup = this.waiting.get(brokerAddr);
    if (!byGroup) {
      byGroup = new Map();
      this.waiting.set(brokerAddr, byGroup);
    }
    let list = byGroup.get(group);
    if (!list) {
      list = [];
      byGroup.set(group, list);
    }
    const members = list;
    const done = new Promise<void>((resolve, reject) => {
      members.push({
        tranStateTableOffset: half.tranStateTableOffset,
        commitLogOffset: half.commitLogOffset,
        commitOrRollback,
        half,
        resolution,
        alone,
        resolve,
        reject,
      });
    });
    if (!this.scheduled) {
      this.scheduled = true;
      // Commits made in promise chains of this turn still join.
      atEndOfTurn(this.flush);
    }
    return done;
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const waiting = this.waiting;
    this.waiting = new Map();
    for (const [addr, byGroup] of waiting) {
      for (const [group, list] of byGroup) {
        for (let from = 0; from < list.length; from += MAX_END_TRANSACTION_BATCH) {
          const part =
            from === 0 && list.length <= MAX_END_TRANSACTION_BATCH
              ? list
              : list.slice(from, from + MAX_END_TRANSACTION_BATCH);
          if (part.length === 1) this.sendAlone(part[0]!);
          else this.sendBatch(addr, group, part);
        }
      }
    }
  };

  private sendAlone(w: Waiting): void {
    w.alone().then(w.resolve, w.reject);
  }

  private sendBatch(addr: string, group: string, part: Waiting[]): void {
    this.instance.api
      .call(
        addr,
        TransactionRequestCode.END_TRANSACTION_BATCH,
        { producerGroup: group, fromTransactionCheck: false },
        encodeEndTransactionBatch(part),
        {
          what: `END_TRANSACTION_BATCH of ${part.length} half messages`,
          serializeType: SerializeType.ROCKETMQ,
        },
      )
      .then(
        (res) => {
          const results = decodeEndTransactionResults(res.body, part.length);
          for (let i = 0; i < part.length; i++) {
            const w = part[i]!;
            const r = results[i]!;
            if (r.code === ResponseCode.SUCCESS) w.resolve();
            else w.reject(new BrokerError(r.code, r.remark, addr, whatOf(w)));
          }
        },
        (err: unknown) => {
          if (err instanceof BrokerError && err.code === ResponseCode.REQUEST_CODE_NOT_SUPPORTED) {
            this.plainOnly.add(addr);
            for (const w of part) this.sendAlone(w);
            return;
          }
          for (const w of part) w.reject(err);
        },
      )
      .catch((err: unknown) => {
        // A malformed answer: nothing is known about these commits (the broker checks back).
        for (const w of part) w.reject(err);
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
