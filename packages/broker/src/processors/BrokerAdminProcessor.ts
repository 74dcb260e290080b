import {
  createResponse,
  encodeJson,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
  TIDEMQ_VERSION,
  versionName,
} from "@tidemq/protocol";
import type { BrokerConfig } from "../BrokerConfig.js";
import type { BrokerStatsImpl } from "../BrokerStats.js";
import type { BrokerContext } from "../context.js";
import {
  BrokerConfigError,
  brokerConfigToProperties,
  isBrokerConfigKey,
  parseConfigValue,
  parsePropertiesText,
  splitNamesrvAddr,
} from "../loadBrokerConfig.js";
import type { RequestQueue } from "../RequestQueue.js";
import { scheduleRuntimeEntries } from "../schedule/scheduleRuntimeInfo.js";
import { fail } from "./responses.js";

/**
 * Keys UPDATE_BROKER_CONFIG may change while running: read on every request, no file or
 * socket depends on them. Paths, ports, names and store settings need a restart.
 */
export const LIVE_CONFIG_KEYS: ReadonlySet<keyof BrokerConfig> = new Set<keyof BrokerConfig>([
  "brokerPermission",
  "autoCreateTopicEnable",
  "defaultTopicQueueNums",
  "waitTimeMillsInSendQueue",
  "sendThreadPoolQueueCapacity",
  "sendMessageThreadPoolNums",
  "pullThreadPoolQueueCapacity",
  "maxTransferCountOnMessageInMemory",
  "longPollingEnable",
  "shortPollingTimeMills",
  "notifyConsumerIdsChangedEnable",
  "enablePropertyFilter",
  "timerMaxDelaySec",
  "maxMsgsNumBatch",
  "defaultQueryMaxNum",
  "regionId",
  "traceOn",
  // Read by every registration round: a new list is used from the next one on.
  "namesrvAddr",
]);

/**
 * GET_BROKER_CONFIG (26), UPDATE_BROKER_CONFIG (25) and GET_BROKER_RUNTIME_INFO (28,
 * spec §6.6: the KVTable clusterList and brokerStatus read).
 */
export class BrokerAdminProcessor {
  private configVersion = { timestamp: Date.now(), counter: 0 };

  constructor(
    private readonly ctx: BrokerContext,
    private readonly stats: BrokerStatsImpl,
    private readonly sendQueue: RequestQueue<RemotingCommand>,
    private readonly onPermissionChange: () => void,
  ) {}

  register(): void {
    const s = this.ctx.server;
    s.registerHandler(RequestCode.GET_BROKER_CONFIG, (r) => this.getBrokerConfig(r));
    s.registerHandler(RequestCode.UPDATE_BROKER_CONFIG, (r) => this.updateBrokerConfig(r));
    s.registerHandler(RequestCode.GET_BROKER_RUNTIME_INFO, (r) => this.getRuntimeInfo(r));
  }

  getBrokerConfig(request: RemotingCommand): RemotingCommand {
    return createResponse(
      request,
      ResponseCode.SUCCESS,
      undefined,
      { version: JSON.stringify(this.configVersion) },
      Buffer.from(brokerConfigToProperties(this.ctx.config), "utf8"),
    );
  }

  /** All-or-nothing: one key that cannot change live (or one bad value) changes nothing. */
  updateBrokerConfig(request: RemotingCommand): RemotingCommand {
    const text = request.body?.toString("utf8") ?? "";
    if (text.length > 64 * 1024) fail(ResponseCode.SYSTEM_ERROR, "the config body exceeds 64 KiB");
    const updates: Array<[keyof BrokerConfig, BrokerConfig[keyof BrokerConfig]]> = [];
    for (const { key, value } of parsePropertiesText(text)) {
      if (!isBrokerConfigKey(key)) fail(ResponseCode.SYSTEM_ERROR, `unknown config key ${key}`);
      if (!LIVE_CONFIG_KEYS.has(key)) {
        fail(
          ResponseCode.SYSTEM_ERROR,
          `config key ${key} cannot change while the broker runs; edit the file and restart`,
        );
      }
      try {
        const parsed = parseConfigValue(key, value, "UPDATE_BROKER_CONFIG");
        if (key === "namesrvAddr") checkNamesrvAddr(String(parsed));
        updates.push([key, parsed]);
      } catch (err) {
        fail(ResponseCode.SYSTEM_ERROR, (err as Error).message);
      }
    }
    const target = this.ctx.config as unknown as Record<string, unknown>;
    let permissionChanged = false;
    for (const [key, value] of updates) {
      if (key === "brokerPermission" && target[key] !== value) permissionChanged = true;
      target[key] = value;
      this.ctx.logger.info(`config ${key} changed to ${String(value)} (not written back to the config file)`);
    }
    if (updates.length > 0)
      this.configVersion = { timestamp: Date.now(), counter: this.configVersion.counter + 1 };
    // The NameServers must see the new permission at once (Java re-registers too).
    if (permissionChanged) this.onPermissionChange();
    return createResponse(request, ResponseCode.SUCCESS);
  }

  async getRuntimeInfo(request: RemotingCommand): Promise<RemotingCommand> {
    const { ctx, stats } = this;
    stats.rollDay();
    const s = ctx.store.stats;
    const now = Date.now();
    const table: Record<string, string> = {
      brokerVersionDesc: versionName(TIDEMQ_VERSION),
      brokerVersion: String(TIDEMQ_VERSION),
      putTps: stats.putTps(),
      getTransferedTps: stats.getTps(),
      getFoundTps: stats.getTps(),
      getMissTps: "0.00 0.00 0.00",
      getTotalTps: stats.getTps(),
      msgPutTotalTodayNow: String(stats.putTotal()),
      msgGetTotalTodayNow: String(stats.getTotal()),
      msgPutTotalTodayMorning: String(stats.putTodayMorning),
      msgGetTotalTodayMorning: String(stats.getTodayMorning),
      msgPutTotalYesterdayMorning: String(stats.putYesterdayMorning),
      msgGetTotalYesterdayMorning: String(stats.getYesterdayMorning),
      sendThreadPoolQueueSize: String(this.sendQueue.size),
      sendThreadPoolQueueCapacity: String(ctx.config.sendThreadPoolQueueCapacity),
      sendThreadPoolQueueHeadWaitTimeMills: String(this.sendQueue.headWaitMs()),
      pullThreadPoolQueueSize: "0",
      pullThreadPoolQueueCapacity: String(ctx.config.pullThreadPoolQueueCapacity),
      pullThreadPoolQueueHeadWaitTimeMills: "0",
      queryThreadPoolQueueSize: "0",
      queryThreadPoolQueueCapacity: "20000",
      queryThreadPoolQueueHeadWaitTimeMills: "0",
      EndTransactionQueueSize: "0",
      EndTransactionThreadPoolQueueCapacity: "100000",
      pageCacheLockTimeMills: "0",
      bootTimestamp: String(ctx.bootTimestamp),
      runtime: formatRuntime(now - ctx.bootTimestamp),
      earliestMessageTimeStamp: String(s.earliestMessageTimeStamp),
      // The store reports percent; RocketMQ tools expect a 0…1 ratio.
      commitLogDiskRatio: String(s.diskUsedRatio / 100),
      consumeQueueDiskRatio: String(s.diskUsedRatio / 100),
      commitLogMinOffset: String(s.commitLogMinOffset),
      commitLogMaxOffset: String(s.commitLogMaxOffset),
      dispatchBehindBytes: String(s.dispatchBehindBytes),
      remainHowManyDataToFlush: String(Math.max(0, s.commitLogMaxOffset - s.flushedOffset)),
      putMessageTimesTotal: String(s.putMessageTimesTotal),
      putMessageSizeTotal: String(s.putMessageSizeTotal),
      putMessageEntireTimeMax: "0",
      putMessageAverageSize: String(
        s.putMessageTimesTotal > 0 ? (s.putMessageSizeTotal / s.putMessageTimesTotal).toFixed(2) : "0.0",
      ),
      brokerActive: "true",
      brokerName: ctx.config.brokerName,
      brokerAddr: ctx.brokerAddr,
      ...(ctx.schedule ? scheduleRuntimeEntries(ctx.schedule.service.status()) : {}),
      ...ctx.haRuntimeInfo?.(),
    };
    return createResponse(request, ResponseCode.SUCCESS, undefined, undefined, encodeJson({ table }));
  }
}

function checkNamesrvAddr(value: string): void {
  for (const addr of splitNamesrvAddr(value)) {
    const m = /^(.+):(\d+)$/.exec(addr);
    if (!m || Number(m[2]) > 65535) {
      throw new BrokerConfigError(`invalid value for namesrvAddr: "${value}" (expected host:port;host:port)`);
    }
  }
}

/** RocketMQ prints uptime as "[ d days, h hours, m minutes, s seconds ]". */
function formatRuntime(ms: number): string {
  const total = Math.floor(ms / 1000);
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  return `[ ${d} days, ${h} hours, ${m} minutes, ${sec} seconds ]`;
}
