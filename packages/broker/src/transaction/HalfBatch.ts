import {
  createResponse,
  decodeHalfBatch,
  encodeHalfBatchResults,
  encodeStoredHalfResults,
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
import type { MessageInput, PutResult } from "@tidemq/store";
import { fail } from "../processors/responses.js";
import type { Prepared } from "../processors/SendInputBuilder.js";
import { type HalfSendBase, type HalfTopic, halfInputOf } from "./HalfInput.js";
import { type HalfFacts, isHalfSend } from "./HalfMessage.js";

/**
 * The part of SendMessageProcessor a half batch uses: one send with its header decoded, or
 * the same steps taken apart so that the halves share one send-queue task.
 */
export interface DecodedSender {
  processDecoded(
    request: RemotingCommand,
    header: SendMessageRequestHeader,
    conn: Connection,
  ): Promise<RemotingCommand>;
  readonly sharedTaskAllowed: boolean;
  prepareDecoded(
    request: RemotingCommand,
    header: SendMessageRequestHeader,
    conn: Connection,
  ): Prepared | Promise<Prepared>;
  submitShared(
    task: () => Promise<RemotingCommand>,
    busy: (remark: string) => RemotingCommand,
  ): Promise<RemotingCommand>;
  putHalves(
    inputs: MessageInput[],
    facts: ReadonlyArray<HalfFacts | undefined>,
    requestBytes: number,
  ): Promise<StoredHalves>;
  halfTopic(topicName: string): HalfTopic | undefined;
  halfSendBase(producerGroup: string, conn: Connection): HalfSendBase;
  /** The first characters of every offset message id (the store's host and port in hex). */
  readonly msgIdPrefix: string;
  offsetMsgId(commitLogOffset: number): string;
}

/** One put of halves: its result (without msgIds) and each record's commit-log offset. */
export interface StoredHalves {
  put: PutResult;
  offsets: number[];
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
 * message, stored exactly as a SEND_MESSAGE_V2 carrying it would be — the same checks, the
 * same half-topic re-addressing, its own result (the usual half is built straight from its
 * entry by HalfInput, to the input the send path builds; any other takes the send path). Only the request is shared:
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
    const topicQueueNums = Number.isSafeInteger(queueNums) ? queueNums : 4;
    const headerOf = (e: HalfBatchEntry): SendMessageRequestHeader => ({
      producerGroup,
      topic: e.topic,
      defaultTopic,
      defaultTopicQueueNums: topicQueueNums,
      queueId: e.queueId,
      sysFlag: e.sysFlag,
      bornTimestamp: e.bornTimestamp,
      flag: e.flag,
      properties: e.properties === "" ? undefined : e.properties,
    });
    const shared = this.sender.sharedTaskAllowed
      ? this.shared(req, conn, producerGroup, headerOf, entries)
      : undefined;
    if (shared) return shared;
    const results = await Promise.all(entries.map((e, i) => this.one(req, conn, i, headerOf(e), e.body)));
    return answer(req, results);
  }

  /**
   * The common case in one send-queue task: every half checked as its own send would be
   * (a refused one fails alone), then the accepted ones put together (one append, each its
   * own part, so a half the store refuses fails alone too), answered straight from their
   * put results. A half of the usual kind is built straight from its entry (HalfInput); any
   * other goes through the send path's checks (prepareDecoded). Undefined, with nothing
   * stored, when a half needs a topic created first: then each half takes the single-send path.
   */
  private shared(
    req: RemotingCommand,
    conn: Connection,
    producerGroup: string,
    headerOf: (e: HalfBatchEntry) => SendMessageRequestHeader,
    entries: HalfBatchEntry[],
  ): Promise<RemotingCommand> | undefined {
    const n = entries.length;
    const results: HalfBatchResult[] = new Array(n);
    const halves: Accepted = { at: [], inputs: [], facts: [], queueIds: [], bytes: 0 };
    const base = this.sender.halfSendBase(producerGroup, conn);
    let topicName: string | undefined;
    let topic: HalfTopic | undefined;
    for (let i = 0; i < n; i++) {
      const e = entries[i]!;
      if (e.topic !== topicName) {
        topicName = e.topic;
        topic = this.sender.halfTopic(topicName);
      }
      const k = halves.inputs.length;
      const input = topic && halfInputOf(e, topic, base, halves.facts, k);
      if (input) {
        halves.at.push(i);
        halves.inputs.push(input);
        halves.queueIds.push(e.queueId);
        halves.bytes += e.body.length;
        continue;
      }
      try {
        const header = headerOf(e);
        halfOnly(header, i);
        const p = this.sender.prepareDecoded(singleOf(req, e.body), header, conn);
        if (p instanceof Promise) {
          p.catch(() => undefined); // the single-send path prepares it again and reports
          return undefined;
        }
        if (!p.half) return undefined;
        halves.at.push(i);
        halves.inputs.push(p.inputs[0]!);
        halves.facts[k] = p.halfFacts;
        halves.queueIds.push(p.requestedQueueId);
        halves.bytes += e.body.length;
      } catch (err) {
        results[i] = refusal(err);
      }
    }
    if (halves.at.length === 0) return Promise.resolve(answer(req, results));
    return this.sender.submitShared(
      () =>
        this.putAll(halves, results, n).then((stored) =>
          stored ? respond(req, stored) : answer(req, results),
        ),
      (remark) => {
        for (const i of halves.at) results[i] = { code: ResponseCode.SYSTEM_BUSY, remark };
        return answer(req, results);
      },
    );
  }

  /**
   * The accepted halves as one put (one coalescer part, one promise), each answered from its
   * place in the result. If the store refuses that put as illegal (nothing written), each half
   * is put alone, so the half it refuses fails alone and the others are stored, as single
   * sends would be.
   */
  private putAll(h: Accepted, results: HalfBatchResult[], entries: number): Promise<Buffer | undefined> {
    return this.sender.putHalves(h.inputs, h.facts, h.bytes).then(
      ({ put: r, offsets }) => {
        const flushTimeout = r.status === "FLUSH_DISK_TIMEOUT";
        // Every entry stored in this append (the usual case): the answer straight from the
        // put's arrays and the records' offsets, no result object or id string per half.
        if (!flushTimeout && h.at.length === entries) {
          const stored = encodeStoredHalfResults(this.sender.msgIdPrefix, offsets, h.queueIds, r.queueOffset);
          if (stored) return stored;
        }
        for (let k = 0; k < h.at.length; k++) {
          const out: HalfBatchResult = {
            code: flushTimeout ? ResponseCode.FLUSH_DISK_TIMEOUT : ResponseCode.SUCCESS,
            msgId: this.sender.offsetMsgId(offsets[k]!),
            queueId: h.queueIds[k]!,
            queueOffset: r.queueOffset + k,
          };
          if (flushTimeout) out.remark = "flush disk timeout";
          results[h.at[k]!] = out;
        }
        return undefined;
      },
      (err: unknown) => {
        // Only a refusal before anything was written is retried half by half (as the
        // PutCoalescer does): any other failure is every half's answer.
        if (!(err instanceof TideMQError && err.code === ResponseCode.MESSAGE_ILLEGAL)) {
          for (const i of h.at) results[i] = refusal(err);
          return undefined;
        }
        return Promise.all(
          h.at.map((i, k) =>
            this.sender.putHalves([h.inputs[k]!], [h.facts[k]], h.inputs[k]!.body.length).then(
              ({ put: r, offsets }) => {
                results[i] = {
                  code:
                    r.status === "FLUSH_DISK_TIMEOUT"
                      ? ResponseCode.FLUSH_DISK_TIMEOUT
                      : ResponseCode.SUCCESS,
                  msgId: this.sender.offsetMsgId(offsets[0]!),
                  queueId: h.queueIds[k]!,
                  queueOffset: r.queueOffset,
                };
                if (r.status === "FLUSH_DISK_TIMEOUT") results[i]!.remark = "flush disk timeout";
              },
              (err: unknown) => {
                results[i] = refusal(err);
              },
            ),
          ),
        ).then(() => undefined);
      },
    );
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
      halfOnly(header, index);
      const res = await this.sender.processDecoded(singleOf(req, body), header, conn);
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
      return refusal(err);
    }
  }
}

/** The halves of a request accepted for the store, in entry order (parallel arrays, no object per half). */
interface Accepted {
  /** Entry index of each. */
  at: number[];
  inputs: MessageInput[];
  facts: Array<HalfFacts | undefined>;
  /** The queue id each answer reports (the real topic's). */
  queueIds: number[];
  /** Body bytes of all (traffic statistics). */
  bytes: number;
}

function answer(req: RemotingCommand, results: HalfBatchResult[]): RemotingCommand {
  return respond(req, encodeHalfBatchResults(results));
}

function respond(req: RemotingCommand, body: Buffer): RemotingCommand {
  return createResponse(req, ResponseCode.SUCCESS, undefined, undefined, body);
}

/** Only halves travel in SEND_HALF_BATCH: any other entry is refused alone. */
function halfOnly(header: SendMessageRequestHeader, index: number): void {
  if (!isHalfSend(header)) {
    fail(
      ResponseCode.MESSAGE_ILLEGAL,
      `SEND_HALF_BATCH entry ${index} (topic ${header.topic}) is not a transaction half message (no TRAN_MSG=true, no PREPARED sysFlag); send it as an ordinary message`,
    );
  }
}

/** The SEND_MESSAGE_V2 request an entry stands for (the send path reads its body and client version). */
function singleOf(req: RemotingCommand, body: Buffer): RemotingCommand {
  return {
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
}

function refusal(err: unknown): HalfBatchResult {
  return err instanceof TideMQError
    ? { code: err.code, remark: err.message }
    : { code: ResponseCode.SYSTEM_ERROR, remark: (err as Error).message };
}
