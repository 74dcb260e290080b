import { inflateSync } from "node:zlib";
import {
  AddWritePermOfBrokerRequestHeader,
  bodyCrc,
  createResponse,
  type DataVersion,
  DeleteKVConfigRequestHeader,
  DeleteTopicFromNamesrvRequestHeader,
  decodeHeader,
  decodeJson,
  decodeRegisterBrokerBody,
  encodeJson,
  GetKVConfigRequestHeader,
  GetKVListByNamespaceRequestHeader,
  GetRouteInfoRequestHeader,
  GetTopicsByClusterRequestHeader,
  type KVTable,
  PutKVConfigRequestHeader,
  QueryDataVersionRequestHeader,
  type RegisterBrokerBody,
  RegisterBrokerRequestHeader,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
  TideMQError,
  UnregisterBrokerRequestHeader,
  WipeWritePermOfBrokerRequestHeader,
} from "@tidemq/protocol";
import { NAMESPACE_ORDER_TOPIC_CONFIG } from "./KVConfigManager.js";
import type { RouteInfoManager } from "./RouteInfoManager.js";

/** What a handler knows about the request besides its frame. */
export interface RequestContext {
  /** Id of the connection the request came on (brokers are dropped when it closes). */
  connectionId: number;
  now: number;
}

export type NamesrvHandler = (request: RemotingCommand, ctx: RequestContext) => RemotingCommand;

/** A compressed REGISTER_BROKER body may not inflate beyond this (a small deflate stream can expand 1000×). */
export const MAX_INFLATED_REGISTER_BODY = 64 * 1024 * 1024;
/** Cap on filter-server addresses kept per broker. */
const MAX_FILTER_SERVERS = 64;

/**
 * The NameServer's request handlers by code (RocketMQ's DefaultRequestProcessor), free of
 * I/O: each maps a request frame to its response. A TideMQError thrown here becomes an error
 * response with its code; decodeHeader's HeaderError names a missing field (SYSTEM_ERROR).
 */
export function createNamesrvHandlers(routes: RouteInfoManager): Map<number, NamesrvHandler> {
  const ok = (req: RemotingCommand, header?: object, body?: Buffer) =>
    createResponse(req, ResponseCode.SUCCESS, undefined, header, body);
  const handlers = new Map<number, NamesrvHandler>();

  handlers.set(RequestCode.REGISTER_BROKER, (req, ctx) => {
    const h = decodeHeader(RegisterBrokerRequestHeader, req.extFields, "REGISTER_BROKER");
    const crc = h.bodyCrc32 ?? 0;
    if (crc !== 0 && bodyCrc(req.body ?? Buffer.alloc(0)) !== crc) {
      return createResponse(req, ResponseCode.SYSTEM_ERROR, "crc32 not match");
    }
    const body = decodeRegisterBody(req.body, h.compressed ?? false);
    const result = routes.registerBroker({
      clusterName: h.clusterName,
      brokerAddr: h.brokerAddr,
      brokerName: h.brokerName,
      brokerId: h.brokerId,
      haServerAddr: h.haServerAddr,
      topicConfigWrapper: body.topicConfigSerializeWrapper,
      filterServerList: stringArray(body.filterServerList).slice(0, MAX_FILTER_SERVERS),
      heartbeatTimeoutMillis: h.heartbeatTimeoutMillis,
      channelId: ctx.connectionId,
      now: ctx.now,
    });
    // The broker learns the order-topic configuration from the registration's answer.
    const orderConf = routes.getKVListByNamespace(NAMESPACE_ORDER_TOPIC_CONFIG);
    const kvBody = orderConf ? encodeJson({ table: orderConf } satisfies KVTable) : undefined;
    return ok(req, result, kvBody);
  });

  handlers.set(RequestCode.UNREGISTER_BROKER, (req) => {
    const h = decodeHeader(UnregisterBrokerRequestHeader, req.extFields, "UNREGISTER_BROKER");
    routes.unregisterBroker(h.clusterName, h.brokerAddr, h.brokerName, h.brokerId);
    return ok(req);
  });

  handlers.set(RequestCode.QUERY_DATA_VERSION, (req, ctx) => {
    const h = decodeHeader(QueryDataVersionRequestHeader, req.extFields, "QUERY_DATA_VERSION");
    const dataVersion = asSystemError(() => decodeJson<DataVersion>(req.body, "QUERY_DATA_VERSION body"));
    const { changed, stored } = routes.queryDataVersion(h.brokerAddr, dataVersion, ctx.now);
    return ok(req, { changed }, stored ? encodeJson(stored) : undefined);
  });

  handlers.set(RequestCode.GET_ROUTEINFO_BY_TOPIC, (req) => {
    const h = decodeHeader(GetRouteInfoRequestHeader, req.extFields, "GET_ROUTEINFO_BY_TOPIC");
    const route = routes.pickupTopicRouteData(h.topic);
    if (!route) {
      return createResponse(
        req,
        ResponseCode.TOPIC_NOT_EXIST,
        `No topic route info in name server for the topic: ${h.topic}`,
      );
    }
    return ok(req, undefined, encodeJson(route));
  });

  handlers.set(RequestCode.GET_BROKER_CLUSTER_INFO, (req) =>
    ok(req, undefined, encodeJson(routes.getClusterInfo())),
  );

  handlers.set(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER, (req) =>
    ok(req, undefined, encodeJson(routes.getAllTopicList())),
  );

  handlers.set(RequestCode.GET_TOPICS_BY_CLUSTER, (req) => {
    const h = decodeHeader(GetTopicsByClusterRequestHeader, req.extFields, "GET_TOPICS_BY_CLUSTER");
    return ok(req, undefined, encodeJson(routes.getTopicsByCluster(h.cluster)));
  });

  handlers.set(RequestCode.GET_SYSTEM_TOPIC_LIST_FROM_NS, (req) =>
    ok(req, undefined, encodeJson(routes.getSystemTopicList())),
  );

  handlers.set(RequestCode.DELETE_TOPIC_IN_NAMESRV, (req) => {
    const h = decodeHeader(DeleteTopicFromNamesrvRequestHeader, req.extFields, "DELETE_TOPIC_IN_NAMESRV");
    routes.deleteTopic(h.topic, h.clusterName);
    return ok(req);
  });

  handlers.set(RequestCode.PUT_KV_CONFIG, (req) => {
    const h = decodeHeader(PutKVConfigRequestHeader, req.extFields, "PUT_KV_CONFIG");
    routes.putKVConfig(h.namespace, h.key, h.value);
    return ok(req);
  });

  handlers.set(RequestCode.GET_KV_CONFIG, (req) => {
    const h = decodeHeader(GetKVConfigRequestHeader, req.extFields, "GET_KV_CONFIG");
    const value = routes.getKVConfig(h.namespace, h.key);
    if (value === undefined) {
      return createResponse(
        req,
        ResponseCode.QUERY_NOT_FOUND,
        `No config item, Namespace: ${h.namespace} Key: ${h.key}`,
      );
    }
    return ok(req, { value });
  });

  handlers.set(RequestCode.DELETE_KV_CONFIG, (req) => {
    const h = decodeHeader(DeleteKVConfigRequestHeader, req.extFields, "DELETE_KV_CONFIG");
    routes.deleteKVConfig(h.namespace, h.key);
    return ok(req);
  });

  handlers.set(RequestCode.GET_KVLIST_BY_NAMESPACE, (req) => {
    const h = decodeHeader(GetKVListByNamespaceRequestHeader, req.extFields, "GET_KVLIST_BY_NAMESPACE");
    const table = routes.getKVListByNamespace(h.namespace);
    if (!table)
      return createResponse(req, ResponseCode.QUERY_NOT_FOUND, `No config item, Namespace: ${h.namespace}`);
    return ok(req, undefined, encodeJson({ table } satisfies KVTable));
  });

  handlers.set(RequestCode.WIPE_WRITE_PERM_OF_BROKER, (req) => {
    const h = decodeHeader(WipeWritePermOfBrokerRequestHeader, req.extFields, "WIPE_WRITE_PERM_OF_BROKER");
    return ok(req, { wipeTopicCount: routes.wipeWritePermOfBroker(h.brokerName) });
  });

  handlers.set(RequestCode.ADD_WRITE_PERM_OF_BROKER, (req) => {
    const h = decodeHeader(AddWritePermOfBrokerRequestHeader, req.extFields, "ADD_WRITE_PERM_OF_BROKER");
    return ok(req, { addTopicCount: routes.addWritePermOfBroker(h.brokerName) });
  });

  // ali-ons' GET_KV_CONFIG_BY_VALUE is an Aliyun-internal call; answer at once so the
  // client does not sit out its 3 s timeout (the Java NameServer never answers it).
  handlers.set(RequestCode.GET_KV_CONFIG_BY_VALUE, (req) =>
    createResponse(
      req,
      ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
      ` request type ${req.code} not supported (GET_KV_CONFIG_BY_VALUE is an Aliyun-only call)`,
    ),
  );

  return handlers;
}

function decodeRegisterBody(raw: Buffer | undefined, compressed: boolean): RegisterBrokerBody {
  return asSystemError(() => {
    if (compressed && raw && raw.length > 0) {
      // Bound the inflated size before the real decode: the protocol decoder inflates without a cap.
      try {
        inflateSync(raw, { maxOutputLength: MAX_INFLATED_REGISTER_BODY });
      } catch (err) {
        throw new TideMQError(
          ResponseCode.SYSTEM_ERROR,
          `compressed register body does not inflate within ${MAX_INFLATED_REGISTER_BODY} bytes: ${(err as Error).message}`,
        );
      }
    }
    return decodeRegisterBrokerBody(raw, compressed);
  });
}

/** Body decoding failures are the sender's fault, reported the way Java does: SYSTEM_ERROR. */
function asSystemError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TideMQError && err.code === ResponseCode.SYSTEM_ERROR) throw err;
    throw new TideMQError(ResponseCode.SYSTEM_ERROR, (err as Error).message, { cause: err });
  }
}

function stringArray(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : [];
}
