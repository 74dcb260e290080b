#!/usr/bin/env node
// Timer delivery lateness: a NameServer + broker in a child process (fresh temp dir), then in
// this process a producer that sends RATE × SECONDS timer messages (deliveryTimestamp) due at an
// even RATE per second, all sent before the first is due, and a push consumer. Prints how late
// each message was stored in its real topic (broker: storeTimestamp − due) and reached the
// consumer (end to end: arrival − due) as p50/p99/max, the broker's peak RSS and the machine.
//
// Usage: node bench/timer-lateness.mjs [--rate 1000] [--seconds 5] [--size 200] [--lead S] [--json]
//        (--lead: seconds between the start of sending and the first due time; default measured)
//        (build first: npx tsc -b)
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { dist, machine, pct, procMemory, quiet } from "./lib/common.mjs";
import { startTimerBroker, stopTimerBroker } from "./lib/timerBroker.mjs";

const { values: opt } = parseArgs({
  options: {
    rate: { type: "string", default: "1000" },
    seconds: { type: "string", default: "5" },
    size: { type: "string", default: "200" },
    lead: { type: "string" },
    json: { type: "boolean", default: false },
  },
});

async function main() {
  const rate = Number(opt.rate);
  const seconds = Number(opt.seconds);
  const n = rate * seconds;
  const dir = mkdtempSync(join(os.tmpdir(), "tidemq-timer-bench-"));
  let b;
  try {
    const started = await startTimerBroker(dir, process.env.BROKER_NODE_OPTS?.split(" ").filter(Boolean));
    b = started.child;
    const { ns } = started;
    const { Producer, PushConsumer, ConsumeResult } = await import(dist("client"));
    const topic = "TimerBench";
    const p = new Producer({ endpoints: ns, logger: quiet, pollNameServerInterval: 500 });
    await p.startup();
    await p.send({ topic, body: Buffer.from("warm-up") });
    const broker = []; // lateness at the broker: storeTimestamp − due
    const e2e = []; // lateness at the consumer: arrival − due
    let early = 0;
    let done;
    const allIn = new Promise((r) => {
      done = r;
    });
    const c = new PushConsumer({
      endpoints: ns,
      consumerGroup: "TimerBenchGroup",
      subscriptions: new Map([[topic, "*"]]),
      logger: quiet,
      pollNameServerInterval: 500,
      rebalanceInterval: 500,
      messageListener: {
        consume(m) {
          const due = Number(m.properties.get("TIMER_OUT_MS"));
          if (!Number.isFinite(due)) return ConsumeResult.SUCCESS;
          const now = Date.now();
          if (now < due) early++;
          e2e.push(now - due);
          broker.push(m.storeTimestamp.getTime() - due);
          if (e2e.length >= n) done();
          return ConsumeResult.SUCCESS;
        },
      },
    });
    await c.startup();
    const body = Buffer.alloc(Number(opt.size), "t");
    const window = 256;
    // All sends must be in before the first is due: the send rate of this machine now is
    // measured with ordinary messages (not counted), the lead is 3 s + 1.5 × the send time.
    const calN = Math.min(2000, n);
    const calStart = Date.now();
    let ci = 0;
    await Promise.all(
      Array.from({ length: window }, async () => {
        while (ci++ < calN) await p.send({ topic, body });
      }),
    );
    const sendRate = calN / ((Date.now() - calStart) / 1000);
    const lead = opt.lead ? Number(opt.lead) * 1000 : 3000 + Math.ceil(1.5 * (n / sendRate) * 1000);
    const t0 = Date.now() + lead;
    let sentLate = 0;
    let i = 0;
    const sendStart = Date.now();
    await Promise.all(
      Array.from({ length: window }, async () => {
        while (i < n) {
          const k = i++;
          const due = t0 + Math.floor((k * 1000) / rate);
          await p.send({ topic, body, deliveryTimestamp: due });
          if (Date.now() >= due) sentLate++;
        }
      }),
    );
    const sendMs = Date.now() - sendStart;
    const timeout = setTimeout(() => done(), lead + seconds * 1000 + 30_000);
    await allIn;
    clearTimeout(timeout);
    b.send({ status: true });
    const { status } = await b.next((m) => m.status);
    const rss = procMemory(b.pid).hwm / 2 ** 20;
    await c.shutdown();
    await p.shutdown();
    const sb = broker.sort((x, y) => x - y);
    const se = e2e.sort((x, y) => x - y);
    const result = {
      rate,
      messages: n,
      received: e2e.length,
      early,
      sentAfterDue: sentLate,
      sendSeconds: sendMs / 1000,
      leadSeconds: lead / 1000,
      brokerLatenessMs: { p50: pct(sb, 50), p99: pct(sb, 99), max: sb[sb.length - 1] },
      endToEndLatenessMs: { p50: pct(se, 50), p99: pct(se, 99), max: se[se.length - 1] },
      brokerPeakRssMiB: Math.round(rss),
      timerStatus: { pending: status.pending, delivered: status.delivered },
      machine: machine(),
    };
    if (opt.json) console.log(JSON.stringify(result));
    else {
      console.log(
        `timer lateness at ${rate} due/s, ${n} messages (${result.received} received, ${early} early, ${sentLate} sent after their due time; sending took ${result.sendSeconds} s)`,
      );
      console.log(
        `  broker  (store − due):   p50 ${result.brokerLatenessMs.p50} ms  p99 ${result.brokerLatenessMs.p99} ms  max ${result.brokerLatenessMs.max} ms`,
      );
      console.log(
        `  e2e     (arrival − due): p50 ${result.endToEndLatenessMs.p50} ms  p99 ${result.endToEndLatenessMs.p99} ms  max ${result.endToEndLatenessMs.max} ms`,
      );
      console.log(`  broker peak RSS ${result.brokerPeakRssMiB} MiB; ${result.machine}`);
    }
  } finally {
    if (b) await stopTimerBroker(b);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
