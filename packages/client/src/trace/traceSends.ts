import type { PreparedMessage } from "../Message.js";
import type { BatchSendReceipt, SendReceipt } from "../SendReceipt.js";
import type { Tracer } from "./Tracer.js";

/** Records a Pub when the send settles; returns the send's own promise untouched. */
export function traceSend(
  tracer: Tracer,
  msg: PreparedMessage,
  p: Promise<SendReceipt>,
): Promise<SendReceipt> {
  const t0 = Date.now();
  p.then(
    (r) => tracer.pub(msg, r, Date.now() - t0),
    () => tracer.pub(msg, undefined, Date.now() - t0),
  );
  return p;
}

/** One Pub per message of a batch (each with its own offsetMsgId). */
export function traceBatch(
  tracer: Tracer,
  msgs: readonly PreparedMessage[],
  p: Promise<BatchSendReceipt>,
): Promise<BatchSendReceipt> {
  const t0 = Date.now();
  p.then(
    (r) => {
      const offsetIds = r.offsetMessageId.split(",");
      const cost = Date.now() - t0;
      for (let i = 0; i < msgs.length; i++) tracer.pub(msgs[i]!, r, cost, offsetIds[i] ?? "");
    },
    () => {
      for (const m of msgs) tracer.pub(m, undefined, Date.now() - t0);
    },
  );
  return p;
}
