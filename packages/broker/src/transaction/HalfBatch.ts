import {
  createResponse,
  decodeHalfBatch,
  encodeHalfBatchResults,
  type HalfBatchEntry,
  type HalfBatchResult,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
  type SendMessageRequestHeader,
  TideMQError,
  TransactionRequestCode,
} from "@tidemq/protocol";
import type { Connection, RemotingServer } from "@tidemq/remoting";
import { fail } from "../processors/responses.js";
import { isHalfSend } from "./HalfMessage.js";

/** The part of SendMessageProcessor a half batch uses: one send with its header decoded. */
export interface DecodedSender {
  processDecoded(
    request: RemotingCommand,
    header: SendMessageRequestHeader,
    conn: Connection,
  ): Promise<RemotingCommand>;
}

/** Send response codes that mean "stored" (the answer then carries msgId, queueId, queueOffset). */
const STORED = new Set<number>([
  ResponseCode.SUCCESS,
  ResponseCode.FLUSH_DISK_TIMEOUT,
  ResponseCode.FLUSH_SLAVE_TIMEOUT,
  ResponseCode.SLAVE_NOT_AVAILABLE,
]);

/**
 * SEND_HALF_BATCH (TideMQ's request, protocol/halfBatch.ts): each entry is one transaction half
 * message, sent through the send path exactly as a SEND_MESSAGE_V2 carrying it would be — the
 * same checks, the same half-topic re-addressing, its own result. Only the request is shared:
 * the halves of one producer's turn reach the store in one turn and become one append. An entry
 * that is not a half is refused alone (a plain message never travels this way); a body that is
 * not whole entries refuses the request.
 */
export class HalfBatch {
  constructor(private readonly sender: DecodedSender) {}

  register(server: Pick<RemotingServer, "registerHandler">): void {
    server.registerHandler(TransactionRequestCode.SEND_HALF_BATCH, (req, conn) => this.process(req, conn));
  }

  async process(req: RemotingCommand, conn: Connection): Promise<RemotingCommand> {
    const ext = req.extFields ?? {};
    const producerGroup = ext.producerGroup;
    if (typeof producerGroup !== "string" || producerGroup === "") {
      fail(ResponseCode.SYSTEM_ERROR, "SEND_HALF_BATCH without producerGroup");
    }
    const defaultTopic = typeof ext.defaultTopic === "string" ? ext.defaultTopic : "TBW102";
    const queueNums = Number(ext.defaultTopicQueueNums ?? 4);
    let entries: HalfBatchEntry[];
    try {
      entries = decodeHalfBatch(req.body);
    } catch (err) {
      fail(ResponseCode.MESSAGE_ILLEGAL, (err as Error).message);
    }
    const results = await Promise.all(
      entries.map((e, i) =>
        this.one(
          req,
          conn,
          i,
          {
            producerGroup,
            topic: e.topic,
            defaultTopic,
            defaultTopicQueueNums: Number.isSafeInteger(queueNums) ? queueNums : 4,
            queueId: e.queueId,
            sysFlag: e.sysFlag,
            bornTimestamp: e.bornTimestamp,
            flag: e.flag,
            properties: e.properties === "" ? undefined : e.properties,
          },
          e.body,
        ),
      ),
    );
    return createResponse(req, ResponseCode.SUCCESS, undefined, undefined, encodeHalfBatchResults(results));
  }

  /** One entry's send (never throws: a refusal is its result). */
  private async one(
    req: RemotingCommand,
    conn: Connection,
    index: number,
    header: SendMessageRequestHeader,
    body: Buffer,
  ): Promise<HalfBatchResult> {
    try {
      if (!isHalfSend(header)) {
        fail(
          ResponseCode.MESSAGE_ILLEGAL,
          `SEND_HALF_BATCH entry ${index} (topic ${header.topic}) is not a transaction half message (no TRAN_MSG=true, no PREPARED sysFlag); send it as an ordinary message`,
        );
      }
      const single: RemotingCommand = {
        code: RequestCode.SEND_MESSAGE_V2,
        language: req.language,
        version: req.version,
        opaque: req.opaque,
        flag: 0,
        remark: undefined,
        extFields: undefined,
        body,
        serializeType: req.serializeType,
      };
      const res = await this.sender.processDecoded(single, header, conn);
      const out: HalfBatchResult = { code: res.code };
      if (res.remark) out.remark = res.remark;
      const x = res.extFields;
      if (STORED.has(res.code) && x && typeof x.msgId === "string") {
        out.msgId = x.msgId;
        out.queueId = Number(x.queueId);
        out.queueOffset = Number(x.queueOffset);
      }
      return out;
    } catch (err) {
      return err instanceof TideMQError
        ? { code: err.code, remark: err.message }
        : { code: ResponseCode.SYSTEM_ERROR, remark: (err as Error).message };
    }
  }
}
