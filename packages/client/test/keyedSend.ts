import {
  createRequest,
  encodeProperties,
  type RemotingCommand,
  RequestCode,
  sendHeaderToV2,
} from "@tidemq/protocol";

/**
 * A raw SEND_MESSAGE_V2 to queue 0 carrying `uniqKey` as its UNIQ_KEY (and `body-<key>`), as a
 * producer's retry after a lost acknowledgement sends it again: the de-duplication tests
 * resend the very same request and compare answers.
 */
export function keyedSend(producerGroup: string, topic: string, uniqKey: string): RemotingCommand {
  return createRequest(
    RequestCode.SEND_MESSAGE_V2,
    sendHeaderToV2({
      producerGroup,
      topic,
      defaultTopic: "TBW102",
      defaultTopicQueueNums: 4,
      queueId: 0,
      sysFlag: 0,
      bornTimestamp: Date.now(),
      flag: 0,
      properties: encodeProperties({ WAIT: "true", UNIQ_KEY: uniqKey }),
      reconsumeTimes: 0,
      unitMode: false,
    }),
    Buffer.from(`body-${uniqKey}`),
  );
}

/** What a send's answer says of where the message is (equal for a resend answered "already stored"). */
export const sendAnswer = (r: RemotingCommand) => ({
  code: r.code,
  msgId: r.extFields?.msgId,
  queueId: r.extFields?.queueId,
  queueOffset: r.extFields?.queueOffset,
});
