import { randomInt } from "node:crypto";
import { Admin, type MessageOptions, Producer } from "@tidemq/client";
import { createLogger, type Logger } from "@tidemq/remoting";
import type { ProducerBenchOptions } from "./options.js";
import { type BenchMessage, ProducerBench, type StopReason } from "./ProducerBench.js";
import { formatInt, latencyText, producerTickText, type Reporter } from "./Reporter.js";
import { ReportRecorder } from "./report/ReportRecorder.js";

export function benchLogger(): Logger {
  const level = process.env.TIDEMQ_LOG_LEVEL;
  const ok = level === "debug" || level === "info" || level === "warn" || level === "error";
  return createLogger("bench", ok ? level : "warn");
}

/** UPDATE_AND_CREATE_TOPIC on every master of the cluster (only with --create-queues). */
export async function createTopicIfAsked(
  o: { namesrv: string; topic: string; createQueues: number | undefined; cluster: string },
  logger: Logger,
): Promise<void> {
  if (o.createQueues === undefined) return;
  const admin = new Admin({ endpoints: o.namesrv, logger });
  try {
    await admin.createTopic({
      topic: o.topic,
      clusterName: o.cluster,
      readQueueNums: o.createQueues,
      writeQueueNums: o.createQueues,
    });
  } finally {
    await admin.shutdown();
  }
}

/** Installs SIGINT/SIGTERM handlers that call `stop`; returns their removal. */
export function onStopSignals(stop: () => void): () => void {
  const h = () => stop();
  process.on("SIGINT", h);
  process.on("SIGTERM", h);
  return () => {
    process.off("SIGINT", h);
    process.off("SIGTERM", h);
  };
}

export interface ProducerSummaryLine {
  type: "summary";
  role: "producer";
  stoppedBy: StopReason;
  [k: string]: unknown;
}

/** `tidemq bench producer`: returns the exit code. */
export async function runProducer(o: ProducerBenchOptions, out: Reporter): Promise<number> {
  const logger = benchLogger();
  await createTopicIfAsked(o, logger);
  const producer = new Producer({
    endpoints: o.namesrv,
    producerGroup: o.group,
    sendMsgTimeout: o.sendTimeoutMs,
    logger,
  });
  await producer.startup();
  const topic = o.topic;
  const tag = o.tag;
  const toMessage = (m: BenchMessage): MessageOptions => ({ topic, body: m.body, tag, keys: m.keys });
  const bench = new ProducerBench(
    {
      size: o.size,
      concurrency: o.concurrency,
      batch: o.batch,
      keys: o.keys,
      mode: o.mode,
      count: o.count,
      durationSec: o.durationSec,
      runId: randomInt(1, 2 ** 32 - 1),
    },
    o.batch === 1
      ? (msgs) => producer.send(toMessage(msgs[0]!))
      : (msgs) => producer.sendBatch(msgs.map(toMessage)),
  );

  out.emit(
    {
      type: "start",
      role: "producer",
      topic,
      size: o.size,
      concurrency: o.concurrency,
      batch: o.batch,
      mode: o.mode,
      keys: o.keys,
      tag: tag ?? null,
      count: o.count ?? null,
      durationSec: o.durationSec ?? null,
    },
    `bench producer: topic ${topic}, ${o.size}-byte bodies, ${o.concurrency} in flight (${o.mode})` +
      `${o.batch > 1 ? `, batches of ${o.batch}` : ""}${o.keys ? ", keys" : ""}${tag ? `, tag ${tag}` : ""}` +
      `, until ${[o.count && `${o.count} messages`, o.durationSec && `${o.durationSec} s`].filter(Boolean).join(" or ") || "Ctrl-C"}`,
  );

  const recorder = o.report ? new ReportRecorder(o) : undefined;
  await recorder?.start();
  const t0 = performance.now();
  let lastTick = t0;
  let tick = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    const p = bench.takePeriod();
    const secs = (now - lastTick) / 1000;
    lastTick = now;
    tick++;
    const totals = bench.totals();
    const line = {
      time: new Date().toISOString(),
      tps: secs > 0 ? Math.round(p.sent / secs) : 0,
      rt: { avg: p.rt.avg, p50: p.rt.p50, p99: p.rt.p99, max: p.rt.max },
      sendFailed: p.sendFailed,
      responseFailed: p.responseFailed,
      total: totals.sent,
    };
    recorder?.tick((now - t0) / 1000, line.tps, p.rt);
    out.emit(
      { type: "tick", role: "producer", second: tick, elapsedSec: +((now - t0) / 1000).toFixed(3), ...line },
      producerTickText(line),
    );
  }, o.intervalMs);
  const progress = setInterval(() => {
    const secs = (performance.now() - t0) / 1000;
    const totals = bench.totals();
    const of = o.count ? ` / ${formatInt(o.count)} (${Math.floor((100 * bench.attempted) / o.count)}%)` : "";
    out.progress(
      `${secs.toFixed(1)} s  sent ${formatInt(totals.sent)}${of}  avg ${formatInt(secs > 0 ? totals.sent / secs : 0)} msg/s` +
        `  in flight ${bench.inflightCount}  failed ${totals.sendFailed + totals.responseFailed}`,
    );
  }, 250);
  const removeSignals = onStopSignals(() => bench.stop("signal"));

  let stoppedBy: StopReason;
  try {
    stoppedBy = await bench.run();
  } finally {
    clearInterval(ticker);
    clearInterval(progress);
    removeSignals();
    out.clearProgress();
  }
  const t = bench.totals();
  const tps = t.elapsedSec > 0 ? Math.round(t.sent / t.elapsedSec) : 0;
  const summary: ProducerSummaryLine = {
    type: "summary",
    role: "producer",
    stoppedBy,
    topic,
    size: o.size,
    concurrency: o.concurrency,
    batch: o.batch,
    mode: o.mode,
    attempted: t.attempted,
    sent: t.sent,
    sendFailed: t.sendFailed,
    responseFailed: t.responseFailed,
    firstError: t.firstError ?? null,
    elapsedSec: +t.elapsedSec.toFixed(3),
    tps,
    rt: t.rt,
  };
  out.emit(
    summary,
    `\nSummary (stopped by ${stoppedBy}): sent ${formatInt(t.sent)} of ${formatInt(t.attempted)} in ` +
      `${t.elapsedSec.toFixed(2)} s = ${formatInt(tps)} msg/s; send failed ${t.sendFailed}, ` +
      `response failed ${t.responseFailed}${t.firstError ? ` (first: ${t.firstError})` : ""}\n` +
      `RT(ms) per send call: ${latencyText(t.rt)}`,
  );
  if (recorder)
    await recorder.finish({ tps, sent: t.sent, failed: t.sendFailed + t.responseFailed, rt: t.rt }, out);
  await Promise.race([producer.shutdown(), new Promise((r) => setTimeout(r, 5000).unref())]);
  return t.sent > 0 || t.attempted === 0 ? 0 : 1;
}
