// Just enough typing of the unmodified ali-ons@3.12.0 internals these tests drive.
declare module "ali-ons/lib/mq_client_api.js" {
  interface AliRouteData {
    orderTopicConf?: string;
    queueDatas: Array<{ brokerName: string; perm: number; readQueueNums: number; writeQueueNums: number }>;
    brokerDatas: Array<{ brokerName: string; cluster?: string; brokerAddrs: Record<string, string> }>;
    filterServerTable?: Record<string, string[]>;
  }
  class MQClientAPI {
    constructor(options: Record<string, unknown>);
    ready(): Promise<void>;
    close(): Promise<void>;
    on(event: string, listener: (...args: unknown[]) => void): this;
    getTopicRouteInfoFromNameServer(topic: string, timeoutMillis: number): Promise<AliRouteData>;
    getDefaultTopicRouteInfoFromNameServer(topic: string, timeoutMillis: number): Promise<AliRouteData>;
    getKVConfigByValue(namespace: string, value: string, timeoutMillis: number): Promise<string>;
  }
  export default MQClientAPI;
}

declare module "ali-ons/lib/mq_client.js" {
  interface AliMessageQueue {
    topic: string;
    brokerName: string;
    queueId: number;
  }
  class MQClient {
    _topicRouteData2TopicPublishInfo(
      topic: string,
      route: unknown,
    ): { orderTopic: boolean; messageQueueList: AliMessageQueue[] };
    _topicRouteData2TopicSubscribeInfo(topic: string, route: unknown): AliMessageQueue[];
  }
  export default MQClient;
}
