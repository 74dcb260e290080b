import { createLogger, type Logger } from "@tidemq/remoting";
import { ClientError } from "./errors.js";

/** Options every client (Producer, consumers, Admin) accepts. */
export interface ClientOptions {
  /**
   * NameServer addresses, "host:port;host:port" (the RocketMQ 5 client's name for it).
   * One of `endpoints` and `namesrvAddr` is required.
   */
  endpoints?: string;
  /** Same as `endpoints` (RocketMQ 4.x name); a string ("a:9876;b:9876") or an array. */
  namesrvAddr?: string | string[];
  /**
   * Kept for source compatibility with rocketmq-client-nodejs, where it is required.
   * Only the empty string is supported: namespaces are not implemented over the 4.x protocol.
   */
  namespace?: string;
  /**
   * Distinguishes several client instances in one process. The client id is
   * "ip@pid" without it and "ip@pid@instanceName" with it. Two consumers of the same group
   * in one process need different instance names (each gets its own connections).
   */
  instanceName?: string;
  /** Timeout of ordinary requests (routes, heartbeats, offsets), ms. Default 3000. */
  requestTimeout?: number;
  /**
   * How often routes of the topics in use are refreshed from a NameServer, ms. Default 30000.
   * When several clients share one client instance, the smallest value wins.
   */
  pollNameServerInterval?: number;
  /** How often a heartbeat goes to every broker in the known routes, ms. Default 30000. */
  heartbeatBrokerInterval?: number;
  /** Where log lines go. Default: the remoting logger named "client" (stderr, TIDEMQ_LOG_LEVEL). */
  logger?: Logger;
}

export interface ResolvedClientOptions {
  nameServers: string[];
  instanceName: string | undefined;
  requestTimeout: number;
  pollNameServerInterval: number;
  heartbeatBrokerInterval: number;
  logger: Logger;
}

/** Splits "a:1;b:2" (also "," or whitespace separated) into a list of host:port strings. */
export function parseEndpoints(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  const parts = Array.isArray(value) ? value : value.split(/[;,\s]+/);
  const out: string[] = [];
  for (const raw of parts) {
    const p = raw.trim();
    if (p.length === 0) continue;
    const i = p.lastIndexOf(":");
    const port = Number(p.slice(i + 1));
    if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new ClientError(`endpoint "${p}" is not host:port`);
    }
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/** Checks a positive integer option; `name` goes in the error. */
export function positiveInt(value: number | undefined, fallback: number, name: string, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || !Number.isInteger(value) || value < min) {
    throw new ClientError(`option ${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

export function resolveClientOptions(o: ClientOptions, loggerName: string): ResolvedClientOptions {
  if (o.namespace)
    throw new ClientError(`option namespace ("${o.namespace}") is not supported; leave it empty`);
  const nameServers = parseEndpoints(o.endpoints ?? o.namesrvAddr);
  if (nameServers.length === 0) {
    throw new ClientError(
      'no NameServer given: set option endpoints (or namesrvAddr), e.g. "127.0.0.1:9876"',
    );
  }
  if (o.instanceName !== undefined && !/^[\w.-]{1,64}$/.test(o.instanceName)) {
    throw new ClientError(
      `option instanceName "${o.instanceName}" must be 1-64 letters, digits, '.', '_' or '-'`,
    );
  }
  return {
    nameServers,
    instanceName: o.instanceName,
    requestTimeout: positiveInt(o.requestTimeout, 3000, "requestTimeout"),
    pollNameServerInterval: positiveInt(o.pollNameServerInterval, 30_000, "pollNameServerInterval", 10),
    heartbeatBrokerInterval: positiveInt(o.heartbeatBrokerInterval, 30_000, "heartbeatBrokerInterval", 10),
    logger: o.logger ?? createLogger(loggerName),
  };
}

/** Topic names as RocketMQ allows them (spec §8.2). */
export function checkTopic(topic: unknown): string {
  if (typeof topic !== "string" || topic.length === 0)
    throw new ClientError("topic must be a non-empty string");
  if (topic.length > 127)
    throw new ClientError(`topic "${topic.slice(0, 20)}…" is longer than 127 characters`);
  if (!/^[%|a-zA-Z0-9_-]+$/.test(topic)) {
    throw new ClientError(`topic "${topic}" may contain only letters, digits, '%', '|', '_' and '-'`);
  }
  return topic;
}

/** Group names: same characters as topics, at most 255 (Java's client-side validator). */
export function checkGroup(group: unknown, what = "consumerGroup"): string {
  if (typeof group !== "string" || group.length === 0)
    throw new ClientError(`${what} must be a non-empty string`);
  if (group.length > 255) throw new ClientError(`${what} is longer than 255 characters`);
  if (!/^[%|a-zA-Z0-9_-]+$/.test(group)) {
    throw new ClientError(`${what} "${group}" may contain only letters, digits, '%', '|', '_' and '-'`);
  }
  return group;
}
