import {
  decodeJson,
  decodeMessages,
  type MessageExt,
  MessageSysFlag,
  RequestCode,
  ResponseCode,
  TransactionRequestCode,
  type TransactionStatusBody,
  transactionType,
} from "@tidemq/protocol";
import type { Admin } from "./Admin.js";

/** Where a broker keeps half messages (spec §8.8). */
export const TRANS_HALF_TOPIC = "RMQ_SYS_TRANS_HALF_TOPIC";

/** Pending half messages of one broker (TideMQ's TRANSACTION_STATUS request). */
export async function transactionStatus(
  admin: Admin,
  brokerAddr: string,
  halfOffset?: number,
): Promise<TransactionStatusBody> {
  const res = await admin.api.call(
    brokerAddr,
    TransactionRequestCode.TRANSACTION_STATUS,
    halfOffset === undefined ? {} : { halfOffset },
    undefined,
    { what: "TRANSACTION_STATUS" },
  );
  return decodeJson<TransactionStatusBody>(res.body, "TRANSACTION_STATUS answer");
}

/** A transactional message's state as queryMsgById prints it. */
export interface TransactionState {
  state:
    | "half pending"
    | "half being resolved"
    | "committed"
    | "rolled back"
    | "discarded"
    | "half (state unknown)";
  detail: string;
}

const HALF_STATES: Record<string, TransactionState["state"]> = {
  pending: "half pending",
  resolving: "half being resolved",
  committed: "committed",
  rolledBack: "rolled back",
  discarded: "discarded",
};

/**
 * The transaction state of a stored record, or undefined when it is not transactional: a
 * half (in RMQ_SYS_TRANS_HALF_TOPIC) is looked up on the broker that holds it; a committed
 * copy says so by its sysFlag and the half's commit-log offset.
 */
export async function transactionStateOf(
  admin: Admin,
  m: MessageExt,
  brokerAddr: string,
): Promise<TransactionState | undefined> {
  if (m.topic === TRANS_HALF_TOPIC) {
    const s = await transactionStatus(admin, brokerAddr, m.queueOffset);
    const status = s.half?.status ?? "unknown";
    const real = `${m.properties.REAL_TOPIC ?? "?"} queue ${m.properties.REAL_QID ?? "?"}`;
    const checks = s.half?.checks === undefined ? "" : `, ${s.half.checks} check-back(s) sent`;
    return {
      state: HALF_STATES[status] ?? "half (state unknown)",
      detail: `half message at queue offset ${m.queueOffset} for ${real}, producer group ${m.properties.PGROUP ?? "?"}${checks}`,
    };
  }
  // The COMMIT bits mark a copy made by END_TRANSACTION (its half may sit at offset 0).
  if (transactionType(m.sysFlag) === MessageSysFlag.TRANSACTION_COMMIT_TYPE) {
    return {
      state: "committed",
      detail: `committed from the half message at commit-log offset ${m.preparedTransactionOffset}`,
    };
  }
  return undefined;
}

/**
 * Half messages of `topic` with this client message id, on every broker of the topic: a
 * half that is pending or rolled back has no record in its real topic.
 */
export async function findHalves(
  admin: Admin,
  topic: string,
  msgId: string,
): Promise<Array<{ message: MessageExt; brokerAddr: string }>> {
  const route = await admin.getTopicRoute(topic);
  const out: Array<{ message: MessageExt; brokerAddr: string }> = [];
  for (const bd of route.brokerDatas) {
    const addr = bd.brokerAddrs["0"] ?? Object.values(bd.brokerAddrs)[0];
    if (!addr) continue;
    const res = await admin.api.call(
      addr,
      RequestCode.QUERY_MESSAGE,
      {
        topic: TRANS_HALF_TOPIC,
        key: msgId,
        maxNum: 32,
        beginTimestamp: 0,
        endTimestamp: Number.MAX_SAFE_INTEGER,
        _UNIQUE_KEY_QUERY: true,
      },
      undefined,
      { ok: [ResponseCode.SUCCESS, ResponseCode.QUERY_NOT_FOUND] },
    );
    if (res.code !== ResponseCode.SUCCESS || !res.body) continue;
    for (const m of decodeMessages(res.body, { decompressBody: true })) {
      if (m.properties.UNIQ_KEY === msgId && m.properties.REAL_TOPIC === topic)
        out.push({ message: m, brokerAddr: addr });
    }
  }
  return out;
}
