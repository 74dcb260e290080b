/**
 * Dropped copies of rolled timers are visible: `tidemq admin timerStatus` (the real executable)
 * and the broker's /metrics endpoint show TimerService.supersededRolls.
 *
 * The broker's timer wheel spans 3 s, so a 10 s timer is stored again ("rolled") within the
 * test. Deleting the timer directory before a restart makes the broker rebuild its wheel from
 * the whole log, original and copies (what a DLedger follower that becomes leader does): the
 * older copies are dropped, the timer is delivered once.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { BrokerController, loadBrokerConfig } from "@tidemq/broker";
import { Producer } from "@tidemq/client";
import { NameServer } from "@tidemq/namesrv";
import { createLogger } from "@tidemq/remoting";
import { runAdmin } from "./runAdmin.js";

const TIMER_TOPIC = "rmq_sys_wheel_timer";
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** Polls `cond` every 50 ms until true; fails after `ms`. */
async function until(cond: () => boolean | Promise<boolean>, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("timerStatus and /metrics show the superseded copies of a rolled timer dropped after a wheel rebuild", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tidemq-admin-superseded-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const logger = createLogger("test", "warn");
  const ns = new NameServer({ port: 0, logger });
  await ns.start();
  cleanups.push(() => ns.stop());
  const nsAddr = `127.0.0.1:${ns.port}`;
  const { config } = await loadBrokerConfig({
    env: {},
    overrides: {
      namesrvAddr: nsAddr,
      listenPort: 0,
      brokerIP1: "127.0.0.1",
      storePathRootDir: dir,
      mappedFileSizeCommitLog: 16 * 1024 * 1024,
      autoCreateTopicEnable: true,
      metricsPort: 0,
      metricsHost: "127.0.0.1",
    },
  });
  let broker: BrokerController | undefined;
  const open = async () => {
    broker = new BrokerController(config, { logger, timerWheelSlots: 3 });
    await broker.start();
    return broker;
  };
  cleanups.push(async () => broker?.shutdown());
  const children = new Set<ChildProcess>();
  cleanups.push(async () => {
    for (const c of children)
      if (c.exitCode === null && c.signalCode === null) process.kill(c.pid!, "SIGKILL");
  });

  let b = await open();
  const p = new Producer({ endpoints: nsAddr, logger: createLogger("producer", "error") });
  await p.startup();
  const due = Date.now() + 10_000;
  try {
    await p.send({ topic: "SupersededT", body: "close order", deliveryTimestamp: due });
  } finally {
    await p.shutdown();
  }
  await until(
    () => b.context.store.getMaxOffsetInQueue(TIMER_TOPIC, 0) >= 2,
    "the first rolled copy",
    10_000,
  );
  await b.shutdown();
  broker = undefined;
  assert.ok(Date.now() < due, "stopped before the due time (the machine is too slow otherwise)");
  await rm(join(dir, "timer"), { recursive: true, force: true });

  b = await open();
  await until(
    () => {
      const s = b.timers!.status();
      return s.delivered >= 1 && s.loadedUpToMs > due + 1000 && s.loadedInMemory === 0;
    },
    "the timer delivered after the rebuild",
    25_000,
  );
  const dropped = b.timers!.supersededRolls;
  assert.ok(dropped >= 1, `superseded ${dropped}`);
  assert.equal(b.timers!.status().delivered, 1, "delivered once");

  const addr = `127.0.0.1:${b.port}`;
  const text = await runAdmin(nsAddr, ["timerStatus", "-b", addr], children);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`Superseded Rolls:\\s+${dropped}\\n`));
  assert.match(text.stdout, /Skipped Delivered:\s+0\n/);
  const json = await runAdmin(nsAddr, ["timerStatus", "-b", addr, "--json"], children);
  assert.equal(json.code, 0, json.stderr);
  assert.equal((JSON.parse(json.stdout) as { supersededRolls: number }).supersededRolls, dropped);

  const res = await fetch(`http://127.0.0.1:${b.metricsPort}/metrics`);
  assert.equal(res.status, 200);
  const body = await res.text();
  assert.match(body, /# TYPE tidemq_timer_superseded_rolls_total counter/);
  const sample = (name: string) => {
    const m = new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, "m").exec(body);
    assert.ok(m, `${name} in /metrics`);
    return Number(m[1]);
  };
  assert.equal(sample("tidemq_timer_superseded_rolls_total"), dropped);
  assert.equal(sample("tidemq_timer_delivered_total"), 1);
  assert.equal(sample("tidemq_timer_pending_messages"), 0);
  assert.equal(sample("tidemq_timer_skipped_delivered_total"), 0);
});
