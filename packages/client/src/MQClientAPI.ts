import {
  type ClusterInfo,
  createRequest,
  decodeHeader,
  decodeJson,
  type ExtFields,
  type HeartbeatData,
  type MessageQueue,
  PullMessageResponseHeader,
  QueryConsumerOffsetResponseHeader,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
  requestCodeName,
  SendMessageResponseHeader,
  SerializeType,
  TIDEMQ_VERSION,
  type TopicRouteData,
} from "@tidemq/protocol";
import { RemotingClosedError, RemotingConnectError, RemotingTimeoutError } from "@tidemq/remoting";
import { BrokerError, ConnectionError, TimeoutError } from "./errors.js";
import type { SendStatus } from "./SendReceipt.js";

/** What the client needs from a transport; @tidemq/remoting's RemotingClient provides it. */
export interface Transport {
  invoke(addr: string, request: RemotingCommand, timeoutMs?: number): Promise<RemotingCommand>;
  invokeOneway(addr: string, request: RemotingCommand): Promise<void>;
  closeConnection(addr: string): void;
  close(): Promise<void>;
}

export interface SendResultRaw {
  sendStatus: SendStatus;
  offsetMsgId: string;
  queueId: number;
  queueOffset: number;
  /** A timer message's RECALL_MESSAGE handle. */
  recallHandle?: string;
}

export interface PullResultRaw {
  code: number;
  nextBeginOffset: number;
  minOffset: number;
  maxOffset: number;
  suggestWhichBrokerId: number;
  body: Buffer | undefined;
}

const SEND_STATUS: Partial<Record<number, SendStatus>> = {
  [ResponseCode.SUCCESS]: "SEND_OK",
  [ResponseCode.FLUSH_DISK_TIMEOUT]: "FLUSH_DISK_TIMEOUT",
  [ResponseCode.FLUSH_SLAVE_TIMEOUT]: "FLUSH_SLAVE_TIMEOUT",
  [ResponseCode.SLAVE_NOT_AVAILABLE]: "SLAVE_NOT_AVAILABLE",
};

/** The send status a send response code means, or undefined when it means "not stored". */
export function sendStatusOf(code: number): SendStatus | undefined {
  return SEND_STATUS[code];
}

const SUCCESS_ONLY: readonly number[] = [ResponseCode.SUCCESS];

function whatOf(what: string | (() => string) | undefined, code: number): string {
  return what === undefined ? requestCodeName(code) : typeof what === "string" ? what : what();
}

const PULL_CODES = [
  ResponseCode.SUCCESS,
  ResponseCode.PULL_NOT_FOUND,
  ResponseCode.PULL_RETRY_IMMEDIATELY,
  ResponseCode.PULL_OFFSET_MOVED,
];

/**
 * Requests of the 4.x protocol, one method per operation (RocketMQ's MQClientAPIImpl):
 * builds the request, maps transport failures to TimeoutError / ConnectionError and
 * unexpected response codes to BrokerError.
 */
export class MQClientAPI {
  constructor(
    readonly transport: Transport,
    readonly requestTimeout: number,
  ) {}

  /**
   * Sends a request; resolves with the response when its code is in `ok`. `what` names the
   * operation in errors (a function when building the name costs: it runs only on failure).
   */
  async call(
    addr: string,
    code: number,
    header: object | undefined,
    body: Buffer | undefined,
    options: {
      timeoutMs?: number;
      ok?: readonly number[];
      what?: string | (() => string);
      serializeType?: SerializeType;
    } = {},
  ): Promise<RemotingCommand> {
    const timeoutMs = options.timeoutMs ?? this.requestTimeout;
    const request = createRequest(
      code,
      header,
      body,
      options.serializeType === undefined ? undefined : { serializeType: options.serializeType },
    );
    let response: RemotingCommand;
    try {
      response = await this.transport.invoke(addr, request, timeoutMs);
    } catch (err) {
      throw mapTransportError(err, addr, whatOf(options.what, code), timeoutMs);
    }
    const ok = options.ok ?? SUCCESS_ONLY;
    if (!ok.includes(response.code))
      throw new BrokerError(response.code, response.remark, addr, whatOf(options.what, code));
    return response;
  }

  /**
   * A request answered SUCCESS (else BrokerError, as `call`), its header already wire fields in
   * the binary serialization: the same frame `call` builds from the header object, without the
   * async wrapper and the conversion of the header (built once by the caller and reused, so
   * neither this nor the transport may modify it). For the batch requests of transactions,
   * sent twice per turn of a transactional producer: as lean as sendMessage.
   */
  callWithFields(
    addr: string,
    code: number,
    ext: ExtFields,
    body: Buffer | undefined,
    timeoutMs: number,
    what: () => string,
  ): Promise<RemotingCommand> {
    const request = requestOf(code, ext, body);
    let sent: Promise<RemotingCommand>;
    try {
      sent = this.transport.invoke(addr, request, timeoutMs);
    } catch (err) {
      return Promise.reject(mapTransportError(err, addr, what(), timeoutMs));
    }
    return sent.then(
      (res) => {
        if (res.code !== ResponseCode.SUCCESS) throw new BrokerError(res.code, res.remark, addr, what());
        return res;
      },
      (err: unknown) => {
        throw mapTransportError(err, addr, what(), timeoutMs);
      },
    );
  }

  async oneway(addr: string, code: number, header: object | undefined, body?: Buffer): Promise<void> {
    try {
      await this.transport.invokeOneway(addr, createRequest(code, header, body, { oneway: true }));
    } catch (err) {
      throw mapTransportError(err, addr, requestCodeName(code), this.requestTimeout);
    }
  }

  // ---- NameServer ----

  /** The route, or undefined when the NameServer answers TOPIC_NOT_EXIST. */
  async getRouteInfo(nameServer: string, topic: string): Promise<TopicRouteData | undefined> {
    const res = await this.call(
      nameServer,
      RequestCode.GET_ROUTEINFO_BY_TOPIC,
      { topic, acceptStandardJsonOnly: true },
      undefined,
      {
        ok: [ResponseCode.SUCCESS, ResponseCode.TOPIC_NOT_EXIST],
        what: `route lookup of topic ${topic}`,
      },
    );
    if (res.code === ResponseCode.TOPIC_NOT_EXIST) return undefined;
    const route = decodeJson<TopicRouteData>(res.body, "topic route");
    route.queueDatas ??= [];
    route.brokerDatas ??= [];
    route.filterServerTable ??= {};
    for (const bd of route.brokerDatas) bd.brokerAddrs ??= {};
    return route;
  }

  async getClusterInfo(nameServer: string): Promise<ClusterInfo> {
    const res = await this.call(nameServer, RequestCode.GET_BROKER_CLUSTER_INFO, undefined, undefined);
    const info = decodeJson<ClusterInfo>(res.body, "cluster info");
    info.brokerAddrTable ??= {};
    info.clusterAddrTable ??= {};
    return info;
  }

  async getTopicList(nameServer: string): Promise<string[]> {
    const res = await this.call(
      nameServer,
      RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
      undefined,
      undefined,
    );
    return decodeJson<{ topicList?: string[] }>(res.body, "topic list").topicList ?? [];
  }

  // ---- Broker: send and pull ----

  /**
   * SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE with `ext` as the header's wire fields. Our own
   * sends use the binary header serialization (RocketMQ's ROCKETMQ type): cheaper to encode
   * and decode than JSON on both sides; the broker answers in kind. Runs once per request:
   * the command is built directly and there is one promise step, no async wrapper.
   */
  sendMessage(
    addr: string,
    code: number,
    ext: ExtFields,
    body: Buffer,
    timeoutMs: number,
  ): Promise<SendResultRaw> {
    const what = () => `send to topic ${ext.b ?? ext.topic}`;
    const request = requestOf(code, ext, body);
    let sent: Promise<RemotingCommand>;
    try {
      sent = this.transport.invoke(addr, request, timeoutMs);
    } catch (err) {
      return Promise.reject(mapTransportError(err, addr, what(), timeoutMs));
    }
    return sent.then(
      (res) => {
        const sendStatus = SEND_STATUS[res.code];
        if (sendStatus === undefined) throw new BrokerError(res.code, res.remark, addr, what());
        return sendResultOf(sendStatus, res.extFields);
      },
      (err: unknown) => {
        throw mapTransportError(err, addr, what(), timeoutMs);
      },
    );
  }

  async pullMessage(
    addr: string,
    header: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<PullResultRaw> {
    const res = await this.call(addr, RequestCode.PULL_MESSAGE, header, undefined, {
      timeoutMs,
      ok: PULL_CODES,
      what: () => `pull from ${String(header.topic)}:${String(header.queueId)}`,
      serializeType: SerializeType.ROCKETMQ,
    });
    const h = decodeHeader(PullMessageResponseHeader, res.extFields, "pull response");
    return { code: res.code, ...h, body: res.body };
  }

  // ---- Broker: groups and offsets ----

  async heartbeat(addr: string, data: HeartbeatData): Promise<void> {
    await this.call(addr, RequestCode.HEART_BEAT, undefined, Buffer.from(JSON.stringify(data), "utf8"));
  }

  async unregisterClient(
    addr: string,
    clientID: string,
    producerGroup?: string,
    consumerGroup?: string,
  ): Promise<void> {
    await this.call(
      addr,
      RequestCode.UNREGISTER_CLIENT,
      { clientID, producerGroup, consumerGroup },
      undefined,
    );
  }

  async getConsumerIdList(addr: string, consumerGroup: string): Promise<string[]> {
    const res = await this.call(addr, RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup }, undefined, {
      ok: [ResponseCode.SUCCESS, ResponseCode.SYSTEM_ERROR],
    });
    // SYSTEM_ERROR = "no consumer for this group" (spec §4.6): an empty list, not a failure.
    if (res.code !== ResponseCode.SUCCESS || !res.body) return [];
    return decodeJson<{ consumerIdList?: string[] }>(res.body, "consumer id list").consumerIdList ?? [];
  }

  /** The committed offset, or −1 when the broker has none (QUERY_NOT_FOUND). */
  async queryConsumerOffset(
    addr: string,
    consumerGroup: string,
    mq: MessageQueue,
    setZeroIfNotFound?: boolean,
  ): Promise<number> {
    const res = await this.call(
      addr,
      RequestCode.QUERY_CONSUMER_OFFSET,
      { consumerGroup, topic: mq.topic, queueId: mq.queueId, setZeroIfNotFound },
      undefined,
      {
        ok: [ResponseCode.SUCCESS, ResponseCode.QUERY_NOT_FOUND],
        what: `offset query of ${mq.topic}:${mq.queueId}`,
      },
    );
    if (res.code === ResponseCode.QUERY_NOT_FOUND) return -1;
    return decodeHeader(QueryConsumerOffsetResponseHeader, res.extFields, "offset response").offset;
  }

  async updateConsumerOffset(
    addr: string,
    consumerGroup: string,
    mq: MessageQueue,
    commitOffset: number,
  ): Promise<void> {
    await this.call(
      addr,
      RequestCode.UPDATE_CONSUMER_OFFSET,
      {
        consumerGroup,
        topic: mq.topic,
        queueId: mq.queueId,
        commitOffset,
      },
      undefined,
    );
  }

  async getMaxOffset(addr: string, mq: MessageQueue): Promise<number> {
    return this.queueOffset(addr, RequestCode.GET_MAX_OFFSET, mq, "max offset");
  }

  async getMinOffset(addr: string, mq: MessageQueue): Promise<number> {
    return this.queueOffset(addr, RequestCode.GET_MIN_OFFSET, mq, "min offset");
  }

  async searchOffset(addr: string, mq: MessageQueue, timestamp: number): Promise<number> {
    return this.queueOffset(addr, RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, mq, "search offset", { timestamp });
  }

  /** A queue offset request: header topic + queueId (+ `extra`), answer in the "offset" field. */
  private async queueOffset(
    addr: string,
    code: number,
    mq: MessageQueue,
    what: string,
    extra?: { timestamp: number },
  ): Promise<number> {
    const res = await this.call(addr, code, { topic: mq.topic, queueId: mq.queueId, ...extra }, undefined);
    const v = Number(res.extFields?.offset);
    if (!Number.isFinite(v))
      throw new BrokerError(ResponseCode.SYSTEM_ERROR, `${what}: response lacks "offset"`, addr, what);
    return v;
  }

  async consumerSendMessageBack(
    addr: string,
    header: {
      offset: number;
      group: string;
      delayLevel: number;
      originMsgId: string;
      originTopic: string;
      maxReconsumeTimes: number;
    },
  ): Promise<void> {
    await this.call(addr, RequestCode.CONSUMER_SEND_MSG_BACK, { ...header, unitMode: false }, undefined, {
      what: `send-back of ${header.originMsgId}`,
    });
  }
}

/**
 * A send response's header. The well-formed one every broker sends is read directly (this
 * runs once per request); anything else goes through decodeHeader and its errors.
 */
function sendResultOf(sendStatus: SendStatus, ext: ExtFields | undefined): SendResultRaw {
  const msgId = ext?.msgId;
  const queueId = Number(ext?.queueId || Number.NaN);
  const queueOffset = Number(ext?.queueOffset || Number.NaN);
  if (
    typeof msgId === "string" &&
    msgId.length > 0 &&
    Number.isSafeInteger(queueId) &&
    Number.isSafeInteger(queueOffset)
  )
    return { sendStatus, offsetMsgId: msgId, queueId, queueOffset, recallHandle: ext?.recallHandle };
  const h = decodeHeader(SendMessageResponseHeader, ext, "send response");
  return {
    sendStatus,
    offsetMsgId: h.msgId,
    queueId: h.queueId,
    queueOffset: h.queueOffset,
    recallHandle: h.recallHandle,
  };
}

/** Transport failures as client errors that name the address and the operation. */
function mapTransportError(err: unknown, addr: string, what: string, timeoutMs: number): unknown {
  if (err instanceof RemotingTimeoutError) {
    return new TimeoutError(`${what}: no response from ${addr} within ${timeoutMs} ms`, { cause: err });
  }
  if (err instanceof RemotingConnectError || err instanceof RemotingClosedError) {
    return new ConnectionError(`${what}: ${addr} is unreachable (${err.message})`, { cause: err });
  }
  return err;
}

/**
 * A request with header fields already in wire form (sendMessage, callWithFields): built
 * directly, without createRequest's conversion of the fields.
 */
function requestOf(code: number, ext: ExtFields, body: Buffer | undefined): RemotingCommand {
  return {
    code,
    language: "JAVA",
    version: TIDEMQ_VERSION,
    opaque: 0,
    flag: 0,
    remark: undefined,
    extFields: ext,
    body,
    serializeType: SerializeType.ROCKETMQ,
  };
}
