import {
  createResponse,
  decodeHeader,
  isReadable,
  PullMessageRequestHeader,
  PullSysFlag,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
} from "@tidemq/protocol";
import type { Connection } from "@tidemq/remoting";
import type { GetMessageResult, GetMessageStatus } from "@tidemq/store";
import type { BrokerContext, SubscriptionGroupConfig } from "../context.js";
import type { Sql92Filter } from "../filter/sql92/index.js";
import { getMessageMatchingSql } from "../filter/sqlPull.js";
import { isSlowRead, SLAVE_RETRY_CODE, slaveCannotServe, suggestBrokerId } from "../ha/ReadSplitting.js";
import { type PullRequestHoldService, pullKey } from "../PullRequestHoldService.js";
import {
  filterFromExpression,
  filterFromSubscription,
  isSql92,
  sqlFilterOf,
  type TagsCodeFilter,
} from "../SubscriptionFilter.js";
import { errorResponse, fail } from "./responses.js";

/** Clients time a suspended pull out after 30 s; holding longer would only produce timeouts. */
export const MAX_HOLD_MS = 25_000;

/**
 * The store's answer mapped to a pull response code and the client's next offset (the
 * table of spec §4.3, master behaviour of Java 4.9.8).
 */
export function mapPullStatus(
  status: GetMessageStatus,
  requestOffset: number,
  r: Pick<GetMessageResult, "nextBeginOffset" | "minOffset" | "maxOffset">,
): { code: number; nextBeginOffset: number } {
  switch (status) {
    case "FOUND":
      return { code: ResponseCode.SUCCESS, nextBeginOffset: r.nextBeginOffset };
    case "NO_MATCHED_MESSAGE":
    case "MESSAGE_WAS_REMOVING":
      return { code: ResponseCode.PULL_RETRY_IMMEDIATELY, nextBeginOffset: r.nextBeginOffset };
    case "NO_MESSAGE_IN_QUEUE":
    case "NO_MATCHED_LOGIC_QUEUE":
      return {
        code: requestOffset === 0 ? ResponseCode.PULL_NOT_FOUND : ResponseCode.PULL_OFFSET_MOVED,
        nextBeginOffset: 0,
      };
    case "OFFSET_TOO_SMALL":
      return { code: ResponseCode.PULL_OFFSET_MOVED, nextBeginOffset: r.minOffset };
    case "OFFSET_OVERFLOW_ONE":
      return { code: ResponseCode.PULL_NOT_FOUND, nextBeginOffset: requestOffset };
    case "OFFSET_OVERFLOW_BADLY":
      return { code: ResponseCode.PULL_OFFSET_MOVED, nextBeginOffset: r.maxOffset };
    case "OFFSET_FOUND_NULL":
      return { code: ResponseCode.PULL_NOT_FOUND, nextBeginOffset: r.nextBeginOffset };
  }
}

/**
 * PULL_MESSAGE (11), spec §4.3: every check in Java's order, server-side tag filtering,
 * the commit-offset piggyback and long polling through PullRequestHoldService.
 */
export class PullMessageProcessor {
  constructor(
    private readonly ctx: BrokerContext,
    private readonly hold: PullRequestHoldService,
  ) {}

  register(): void {
    this.ctx.server.registerHandler(RequestCode.PULL_MESSAGE, (req, conn) => this.execute(req, conn, true));
    this.ctx.store.onMessageArrived((topic, queueId, maxOffset) => {
      this.hold.notifyMessageArriving(topic, queueId, maxOffset);
    });
  }

  /**
   * One execution. `firstExecution` false = a woken, previously parked pull: it is never
   * parked again and never re-commits the offset.
   */
  async execute(
    request: RemotingCommand,
    conn: Connection,
    firstExecution: boolean,
  ): Promise<RemotingCommand | undefined> {
    const t0 = this.ctx.traffic?.startPullTiming() ?? -1;
    const { config, logger } = this.ctx;
    const header = decodeHeader(PullMessageRequestHeader, request.extFields, "PULL_MESSAGE");
    const filter = this.checkAndBuildFilter(header);

    const maxMsgNums = Math.min(Math.max(1, header.maxMsgNums), config.maxTransferCountOnMessageInMemory);
    const maxBytes =
      header.maxMsgBytes !== undefined && header.maxMsgBytes > 0 ? header.maxMsgBytes : undefined;
    const result = filter.sql
      ? await getMessageMatchingSql(
          this.ctx.store,
          header.topic,
          header.queueId,
          header.queueOffset,
          maxMsgNums,
          filter.sql,
          maxBytes,
        )
      : await this.ctx.store.getMessage(
          header.topic,
          header.queueId,
          header.queueOffset,
          maxMsgNums,
          filter.tags,
          maxBytes,
        );
    let { code, nextBeginOffset } = mapPullStatus(result.status, header.queueOffset, result);
    let suggest = 0;
    if (config.brokerRole === "SLAVE" && slaveCannotServe(result.status)) {
      // Data this slave has not got: back to the master, offset unchanged.
      code = SLAVE_RETRY_CODE;
      nextBeginOffset = header.queueOffset;
    } else if (config.slaveReadEnable) {
      suggest = this.suggest(header.consumerGroup, result);
    }

    // 7. The piggybacked commit happens on the first execution, even when the pull then waits.
    if (
      firstExecution &&
      (header.sysFlag & PullSysFlag.COMMIT_OFFSET) !== 0 &&
      config.brokerRole !== "SLAVE" &&
      header.commitOffset >= 0
    ) {
      this.ctx.offsets.commit(header.consumerGroup, header.topic, header.queueId, header.commitOffset, true);
    }

    if (code === ResponseCode.SUCCESS) {
      this.ctx.stats.recordGet(result.messageCount);
      this.ctx.traffic?.recordOut(
        header.consumerGroup,
        header.topic,
        header.queueId,
        result.messageCount,
        result.body.length,
        nextBeginOffset,
      );
    }

    const suspend = (header.sysFlag & PullSysFlag.SUSPEND) !== 0;
    if (code === ResponseCode.PULL_NOT_FOUND && firstExecution && suspend) {
      const holdMs = config.longPollingEnable
        ? Math.min(header.suspendTimeoutMillis, MAX_HOLD_MS)
        : Math.min(config.shortPollingTimeMills, MAX_HOLD_MS);
      if (holdMs > 0) {
        // A message may have landed while the store was being read: re-run at once then.
        if (this.ctx.store.getMaxOffsetInQueue(header.topic, header.queueId) > header.queueOffset) {
          return this.execute(request, conn, false);
        }
        const parked = new Promise<RemotingCommand | undefined>((resolve) => {
          const ok = this.hold.hold(
            header.topic,
            header.queueId,
            header.queueOffset,
            holdMs,
            conn,
            () => {
              this.execute(request, conn, false).then(resolve, (err: unknown) => {
                logger.warn(`woken pull on ${pullKey(header.topic, header.queueId)} failed: ${String(err)}`);
                resolve(errorResponse(request, err));
              });
            },
            () => resolve(undefined),
          );
          if (!ok) resolve(this.respond(request, code, nextBeginOffset, result, suggest));
        });
        return parked;
      }
    }
    if (t0 >= 0) this.ctx.traffic?.pullLatency.observe(performance.now() - t0);
    return this.respond(request, code, nextBeginOffset, result, suggest);
  }

  /** slaveReadEnable: where this consumer should pull next (read/write splitting, spec §2). */
  private suggest(consumerGroup: string, result: GetMessageResult): number {
    const { config, store } = this.ctx;
    const group = this.ctx.subscriptionGroups.get(consumerGroup);
    return suggestBrokerId({
      role: config.brokerRole,
      slaveReadEnable: config.slaveReadEnable,
      slow: isSlowRead(
        store.maxPhysicalOffset,
        result.lastPhysicalOffset,
        config.accessMessageInMemoryMaxRatio,
      ),
      groupBrokerId: group?.brokerId ?? 0,
      whichBrokerWhenConsumeSlowly: group?.whichBrokerWhenConsumeSlowly ?? 1,
    });
  }

  private respond(
    request: RemotingCommand,
    code: number,
    nextBeginOffset: number,
    result: GetMessageResult,
    suggestWhichBrokerId: number,
  ): RemotingCommand {
    // ali-ons reads all four fields on every outcome (spec §12.4).
    return createResponse(
      request,
      code,
      result.status,
      { suggestWhichBrokerId, nextBeginOffset, minOffset: result.minOffset, maxOffset: result.maxOffset },
      code === ResponseCode.SUCCESS ? result.body : undefined,
    );
  }

  /** Checks 1–6 of spec §4.3; returns the tag or SQL92 filter to apply. */
  private checkAndBuildFilter(header: PullMessageRequestHeader): PullFilter {
    const { config } = this.ctx;
    if (!isReadable(config.brokerPermission)) {
      fail(ResponseCode.NO_PERMISSION, `the broker[${config.brokerName}] pulling message is forbidden`);
    }
    const group = this.ctx.subscriptionGroups.findOrCreate(header.consumerGroup);
    if (!group) {
      fail(
        ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
        `subscription group [${header.consumerGroup}] does not exist (autoCreateSubscriptionGroup=${config.autoCreateSubscriptionGroup})`,
      );
    }
    if (!group.consumeEnable) {
      fail(ResponseCode.NO_PERMISSION, `subscription group no permission, ${header.consumerGroup}`);
    }
    const topic = this.ctx.topics.get(header.topic);
    if (!topic) {
      fail(
        ResponseCode.TOPIC_NOT_EXIST,
        `topic[${header.topic}] not exist on broker ${config.brokerName}, apply first please!`,
      );
    }
    if (!isReadable(topic.perm)) {
      fail(ResponseCode.NO_PERMISSION, `the topic[${header.topic}] pulling message is forbidden`);
    }
    if (header.queueId < 0 || header.queueId >= topic.readQueueNums) {
      fail(
        ResponseCode.SYSTEM_ERROR,
        `queueId[${header.queueId}] is illegal, topic:[${header.topic}] topicConfig.readQueueNums:[${topic.readQueueNums}] consumer:[${header.consumerGroup}]`,
      );
    }
    return this.filterOf(header, group);
  }

  /** Check 6: the subscription, sent in the pull or registered by heartbeat, as a tag or SQL92 filter. */
  private filterOf(header: PullMessageRequestHeader, group: SubscriptionGroupConfig): PullFilter {
    const { config } = this.ctx;
    let expressionType = header.expressionType;
    let subString = header.subscription;
    let tags: TagsCodeFilter;
    if ((header.sysFlag & PullSysFlag.SUBSCRIPTION) !== 0) {
      try {
        tags = filterFromExpression(header.subscription, header.expressionType);
      } catch (err) {
        fail(
          ResponseCode.SUBSCRIPTION_PARSE_FAILED,
          `parse the consumer's subscription[${header.subscription}] failed: ${(err as Error).message}`,
        );
      }
    } else {
      const consumerGroup = this.ctx.consumers.getGroup(header.consumerGroup);
      if (!consumerGroup) {
        fail(
          ResponseCode.SUBSCRIPTION_NOT_EXIST,
          `the consumer's group info not exist (group ${header.consumerGroup}: no heartbeat received yet)`,
        );
      }
      if (consumerGroup.messageModel === "BROADCASTING" && !group.consumeBroadcastEnable) {
        fail(
          ResponseCode.NO_PERMISSION,
          `the consumer group[${header.consumerGroup}] can not consume by broadcast way`,
        );
      }
      const sub = this.ctx.consumers.findSubscription(header.consumerGroup, header.topic);
      if (!sub) {
        fail(
          ResponseCode.SUBSCRIPTION_NOT_EXIST,
          `the consumer's subscription not exist (group ${header.consumerGroup}, topic ${header.topic})`,
        );
      }
      if (sub.subVersion < header.subVersion) {
        fail(
          ResponseCode.SUBSCRIPTION_NOT_LATEST,
          `the consumer's subscription not latest (broker has ${sub.subVersion}, pull asks ${header.subVersion})`,
        );
      }
      expressionType = sub.expressionType;
      subString = sub.subString;
      tags = filterFromSubscription(sub);
    }
    if (isSql92(expressionType) && !config.enablePropertyFilter) {
      fail(
        ResponseCode.SYSTEM_ERROR,
        "The broker does not support consumer to filter message by SQL92: set enablePropertyFilter=true in broker.conf",
      );
    }
    // A malformed expression throws Sql92ParseError: SUBSCRIPTION_PARSE_FAILED with its position.
    return { tags, sql: sqlFilterOf(subString, expressionType) };
  }
}

/** What a pull filters by: a tags-code test on the consume queue, or an SQL92 expression on properties. */
interface PullFilter {
  tags: TagsCodeFilter;
  sql: Sql92Filter | undefined;
}
