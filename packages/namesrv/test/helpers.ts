import { createConnection, type Socket } from "node:net";
import {
  createRequest,
  encodeRegisterBrokerBody,
  FrameDecoder,
  type RemotingCommand,
  RequestCode,
  type TopicConfig,
} from "@tidemq/protocol";
import type { Logger } from "@tidemq/remoting";
import { NameServer, type NameServerOptions } from "../src/index.js";

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export async function startNameServer(options: NameServerOptions = {}): Promise<NameServer> {
  const ns = new NameServer({ port: 0, host: "127.0.0.1", logger: silentLogger, ...options });
  await ns.start();
  return ns;
}

export function topicConfig(name: string, queues = 8, perm = 6): TopicConfig {
  return {
    topicName: name,
    readQueueNums: queues,
    writeQueueNums: queues,
    perm,
    topicFilterType: "SINGLE_TAG",
    topicSysFlag: 0,
    order: false,
  };
}

export interface BrokerIdentity {
  clusterName?: string;
  brokerName: string;
  brokerAddr: string;
  brokerId?: number;
}

/** A REGISTER_BROKER request as a broker sends it. */
export function registerRequest(
  b: BrokerIdentity,
  topics: TopicConfig[],
  opts: { compressed?: boolean; counter?: number; crc?: number } = {},
): RemotingCommand {
  const body = encodeRegisterBrokerBody(
    {
      topicConfigSerializeWrapper: {
        topicConfigTable: Object.fromEntries(topics.map((t) => [t.topicName, t])),
        dataVersion: { timestamp: 1_700_000_000_000, counter: opts.counter ?? 1 },
      },
      filterServerList: [],
    },
    opts.compressed ?? false,
  );
  return createRequest(
    RequestCode.REGISTER_BROKER,
    {
      brokerName: b.brokerName,
      brokerAddr: b.brokerAddr,
      clusterName: b.clusterName ?? "DefaultCluster",
      haServerAddr: b.brokerAddr.replace(/:\d+$/, ":10912"),
      brokerId: b.brokerId ?? 0,
      compressed: opts.compressed ?? false,
      bodyCrc32: opts.crc,
    },
    body,
  );
}

/** Polls `probe` until it returns true; fails after `timeoutMs` (for effects with no event to await). */
export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000; i++) {
    if (await probe()) return;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * A raw TCP connection for bad-input tests: collects decoded responses and reports
 * when the server closes it.
 */
export class RawConnection {
  readonly socket: Socket;
  readonly responses: RemotingCommand[] = [];
  readonly closed: Promise<void>;
  private readonly decoder = new FrameDecoder();
  private waiters: Array<() => void> = [];
  isClosed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => {
      socket.on("close", () => {
        this.isClosed = true;
        this.wake();
        resolve();
      });
    });
    socket.on("error", () => {});
    socket.on("data", (chunk: Buffer) => {
      try {
        this.responses.push(...this.decoder.push(chunk));
      } catch {
        socket.destroy();
      }
      this.wake();
    });
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host: "127.0.0.1", port }, () => {
        socket.off("error", reject);
        resolve(new RawConnection(socket));
      });
      socket.once("error", reject);
    });
  }

  write(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves with the response to `opaque`, or undefined if the connection closes first. */
  async response(opaque: number, timeoutMs = 5000): Promise<RemotingCommand | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.responses.find((r) => r.opaque === opaque);
      if (found) return found;
      if (this.isClosed) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no response to opaque ${opaque} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Resolves true once the server closed the connection, false if it is still open at the deadline. */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const result = await Promise.race([this.closed.then(() => true), timeout]);
    clearTimeout(timer);
    return result;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
