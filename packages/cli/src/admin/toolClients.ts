/**
 * The clients `tidemq admin` starts of its own: their groups (mqadmin's TOOLS_PRODUCER /
 * TOOLS_CONSUMER) and a pull consumer for reading queues, started and shut down around one use.
 */
import { PullConsumer } from "@tidemq/client";
import type { AdminContext } from "./handlers.js";

export const TOOLS_PRODUCER = "TOOLS_PRODUCER";
export const TOOLS_CONSUMER = "TOOLS_CONSUMER";

export async function withPullConsumer<T>(
  ctx: AdminContext,
  group: string,
  f: (c: PullConsumer) => Promise<T>,
): Promise<T> {
  const consumer = new PullConsumer({
    namesrvAddr: ctx.nameServers,
    consumerGroup: group,
    logger: ctx.logger,
  });
  await consumer.startup();
  try {
    return await f(consumer);
  } finally {
    await consumer.shutdown();
  }
}
