import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { Producer } from "../src/index.js";
import { createTopicOn, FAST, testLogger, uniq } from "./cluster.js";
import { DLedgerGroup, freePorts } from "./dledgerGroup.js";
import { HaGroup, type HaRole } from "./haGroup.js";
import { type PromSample, scrape, scrapeUntil, series, value } from "./prom.js";

/*
 * Replication metrics scraped from real broker processes: a DLedger group of three (role,
 * term, commit index, per-peer match index and lag, elections, leader contact) through
 * traffic and a kill -9 of the leader; and a master with two slaves (one connected, one
 * whose HA address leads nowhere) through traffic and a stopped slave.
 */

const one = (s: PromSample[], name: string, labels: Record<string, string> = {}): number => {
  const v = value(s, name, labels);
  assert.ok(v !== undefined, `${name} ${JSON.stringify(labels)} missing`);
  return v;
};

async function sendN(nsAddr: string, topic: string, n: number): Promise<void> {
  const p = new Producer({ endpoints: nsAddr, logger: testLogger("producer"), ...FAST });
  await p.startup();
  try {
    for (let i = 0; i < n; i++) await p.send({ topic, body: `m${i}` });
  } finally {
    await p.shutdown();
  }
}

test("DLedger metrics: role, term, commit index and per-peer lag follow traffic and a leader kill", async () => {
  const group = await DLedgerGroup.start(3, { metricsPort: 0 });
  try {
    const leader = await group.leader();
    const port = (id: string) => {
      const p = group.replica(id).metricsPort;
      assert.ok(p && p > 0, `replica ${id} has no metrics port`);
      return p;
    };
    const followers = group.replicas.filter((r) => r.id !== leader.id);
    const l0 = await scrape(port(leader.id));
    const labels = { dledger_group: group.brokerName, self_id: leader.id };
    assert.equal(one(l0, "tidemq_dledger_role", { ...labels, role: "leader" }), 1);
    assert.equal(one(l0, "tidemq_dledger_role", { ...labels, role: "follower" }), 0);
    assert.equal(one(l0, "tidemq_dledger_writable", labels), 1);
    assert.equal(one(l0, "tidemq_dledger_leader_contact_age_seconds", labels), 0);
    // A writable leader: no "elected but not writable" series; no amnesia mark.
    assert.equal(series(l0, "tidemq_dledger_leader_not_writable_seconds").length, 0);
    assert.equal(one(l0, "tidemq_dledger_amnesia_recover_to_bytes", labels), 0);
    const term = one(l0, "tidemq_dledger_term", labels);
    assert.ok(term >= 1);
    assert.ok(one(l0, "tidemq_dledger_elections_total", labels) >= 1, "the leader campaigned");
    assert.deepEqual(
      series(l0, "tidemq_dledger_peer_match_index")
        .map((s) => s.labels.peer)
        .sort(),
      ["n0", "n1", "n2"],
    );
    for (const f of followers) {
      const s = await scrape(port(f.id));
      const fl = { dledger_group: group.brokerName, self_id: f.id };
      assert.equal(one(s, "tidemq_dledger_role", { ...fl, role: "follower" }), 1);
      assert.equal(one(s, "tidemq_dledger_writable", fl), 0);
      assert.equal(one(s, "tidemq_dledger_term", fl), term);
      assert.equal(series(s, "tidemq_dledger_peer_lag_entries").length, 0, "followers export no peer table");
      // Heartbeats every 100 ms; a follower hears from the leader well within an election timeout.
      const age = await scrapeUntil(port(f.id), "leader contact", (x) => {
        const a = value(x, "tidemq_dledger_leader_contact_age_seconds", fl);
        return a !== undefined && a < 1 ? a : undefined;
      });
      assert.ok(age >= 0);
    }

    // Every DLedger metric the Grafana dashboard queries is exposed by a replica.
    const dashboard = JSON.parse(
      await readFile(new URL("../../../../bench/grafana/tidemq.json", import.meta.url), "utf8"),
    ) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    const exposed = new Set(l0.map((x) => x.name));
    let queried = 0;
    for (const panel of dashboard.panels) {
      for (const t of panel.targets) {
        for (const m of t.expr.matchAll(/\b(tidemq_dledger_[a-z0-9_]+)/g)) {
          assert.ok(exposed.has(m[1]!), `panel "${panel.title}" queries ${m[1]}, not exposed by a replica`);
          queried++;
        }
      }
    }
    assert.ok(queried >= 5, `${queried} DLedger queries in the dashboard`);
    assert.equal(
      value(l0, "tidemq_dledger_term", { node_id: `${group.brokerName}-${leader.id}` }),
      term,
      "node_id names the replica",
    );

    // Traffic: every send is one Raft entry; the commit index moves by at least the sends.
    const topic = uniq("DLM");
    await createTopicOn(group.nsAddr, leader.addr, topic, 2, 15_000);
    const commitBefore = one(await scrape(port(leader.id)), "tidemq_dledger_commit_index", labels);
    await sendN(group.nsAddr, topic, 40);
    const l1 = await scrape(port(leader.id));
    const commitAfter = one(l1, "tidemq_dledger_commit_index", labels);
    assert.ok(commitAfter >= commitBefore + 40, `commit ${commitBefore} → ${commitAfter} after 40 sends`);
    assert.ok(one(l1, "tidemq_dledger_last_index", labels) >= commitAfter);
    // Followers catch up: the leader's per-peer lag goes to 0 and their commit index follows.
    await scrapeUntil(port(leader.id), "peer lag 0", (x) =>
      series(x, "tidemq_dledger_peer_lag_entries").every((s) => s.value === 0) &&
      series(x, "tidemq_dledger_peer_match_index").every((s) => s.value >= commitAfter)
        ? true
        : undefined,
    );
    for (const f of followers) {
      await scrapeUntil(port(f.id), "follower commit", (x) =>
        (value(x, "tidemq_dledger_commit_index", { self_id: f.id }) ?? 0) >= commitAfter ? true : undefined,
      );
    }

    // Kill -9 the leader: a follower becomes leader in a higher term, the other sees the change.
    await group.kill(leader.id);
    const next = await group.leader(20_000, leader.id);
    const other = followers.find((f) => f.id !== next.id)!;
    const nl = { dledger_group: group.brokerName, self_id: next.id };
    const n1 = await scrapeUntil(port(next.id), "new leader writable", (x) =>
      value(x, "tidemq_dledger_writable", nl) === 1 ? x : undefined,
    );
    assert.equal(one(n1, "tidemq_dledger_role", { ...nl, role: "leader" }), 1);
    const term2 = one(n1, "tidemq_dledger_term", nl);
    assert.ok(term2 > term, `term ${term} → ${term2}`);
    assert.ok(one(n1, "tidemq_dledger_elections_total", nl) >= 1);
    assert.ok(
      one(n1, "tidemq_dledger_leader_changes_total", nl) >= 1,
      "the new leader saw the leader change",
    );
    const ol = { dledger_group: group.brokerName, self_id: other.id };
    const o1 = await scrapeUntil(port(other.id), "other follows the new term", (x) =>
      value(x, "tidemq_dledger_term", ol) === term2 ? x : undefined,
    );
    assert.ok(one(o1, "tidemq_dledger_leader_changes_total", ol) >= 1, "the follower saw the leader change");
    assert.equal(one(o1, "tidemq_dledger_role", { ...ol, role: "follower" }), 1);

    // Traffic without the killed replica: its lag on the new leader grows by at least the sends.
    const lagOf = (x: PromSample[], peer: string) =>
      value(x, "tidemq_dledger_peer_lag_entries", { peer }) ?? -1;
    const lagBefore = lagOf(await scrape(port(next.id)), leader.id);
    await sendN(group.nsAddr, topic, 20);
    const n2 = await scrape(port(next.id));
    assert.ok(
      lagOf(n2, leader.id) >= lagBefore + 20,
      `lag of the dead ${leader.id}: ${lagBefore} → ${lagOf(n2, leader.id)}`,
    );
    // The old leader comes back as a follower and catches up: its lag goes back to 0.
    await group.startReplica(leader.id);
    await scrapeUntil(
      port(next.id),
      "restarted replica caught up",
      (x) => (lagOf(x, leader.id) === 0 ? true : undefined),
      30_000,
    );
    const back = await scrape(port(leader.id));
    const bl = { dledger_group: group.brokerName, self_id: leader.id };
    assert.equal(one(back, "tidemq_dledger_role", { ...bl, role: "follower" }), 1);
  } finally {
    await group.stop();
  }
});

test("master/slave metrics: the master's per-slave lag and a slave's distance behind the master follow traffic", async () => {
  const group = await HaGroup.start({
    dirPrefix: "tidemq-ha-metrics-",
    settings: {
      brokerName: "ha-metrics",
      mappedFileSizeCommitLog: 1024 * 1024,
      maxMessageSize: 64 * 1024,
      metricsPort: 0,
    },
  });
  const nsAddr = group.nsAddr;
  const start = async (id: number, role: HaRole, extra: Record<string, unknown> = {}) => {
    const b = await group.startBroker(`b${id}`, id, role, extra);
    assert.ok(b.metricsPort !== undefined, `${b.label} printed no METRICS line`);
    return { ...b, metrics: b.metricsPort };
  };
  let stopped: ChildProcess | undefined;
  try {
    const master = await start(0, "ASYNC_MASTER");
    const slave = await start(1, "SLAVE");
    // A second slave whose HA address leads nowhere: it knows its master (metadata sync) but copies nothing.
    const [deadPort] = await freePorts(1);
    const cut = await start(2, "SLAVE", { haMasterAddress: `127.0.0.1:${deadPort}` });

    const m0 = await scrapeUntil(master.metrics, "one slave connected", (x) =>
      value(x, "tidemq_ha_slave_connections") === 1 ? x : undefined,
    );
    assert.equal(series(m0, "tidemq_ha_slave_lag_bytes").length, 1);
    assert.equal(series(m0, "tidemq_ha_master_connected").length, 0, "a master has no master");

    const topic = uniq("HAM");
    await createTopicOn(nsAddr, master.addr, topic, 2, 15_000);
    await sendN(nsAddr, topic, 30);
    const masterEnd = one(await scrape(master.metrics), "tidemq_ha_confirmed_offset_bytes");
    assert.ok(masterEnd > 30 * 100, `master's commit log ends at ${masterEnd}`);
    // The connected slave catches up: lag 0 on the master, 0 behind on the slave.
    await scrapeUntil(master.metrics, "slave lag 0", (x) => {
      const s = series(x, "tidemq_ha_slave_lag_bytes");
      return s.length === 1 && s[0]!.value === 0 && value(x, "tidemq_ha_slave_ack_offset_bytes") === masterEnd
        ? true
        : undefined;
    });
    const s1 = await scrapeUntil(slave.metrics, "slave caught up", (x) =>
      value(x, "tidemq_ha_behind_master_bytes") === 0 ? x : undefined,
    );
    assert.equal(one(s1, "tidemq_ha_master_connected"), 1);
    assert.equal(one(s1, "tidemq_ha_confirmed_offset_bytes"), masterEnd);
    assert.equal(series(s1, "tidemq_ha_slave_lag_bytes").length, 0, "a slave serves no slaves");
    // The cut-off slave: not connected, behind by the whole log.
    const c1 = await scrapeUntil(cut.metrics, "cut slave sees the master", (x) =>
      value(x, "tidemq_ha_behind_master_bytes") !== undefined ? x : undefined,
    );
    assert.equal(one(c1, "tidemq_ha_master_connected"), 0);
    assert.equal(
      one(c1, "tidemq_ha_behind_master_bytes"),
      masterEnd - one(c1, "tidemq_ha_confirmed_offset_bytes"),
    );
    assert.equal(one(c1, "tidemq_ha_confirmed_offset_bytes"), 0, "it copied nothing");
    assert.equal(one(c1, "tidemq_ha_behind_master_bytes"), masterEnd);

    // Stop the connected slave (SIGSTOP): the master's lag for it grows by what is sent meanwhile.
    stopped = slave.child;
    process.kill(slave.child.pid!, "SIGSTOP");
    await sendN(nsAddr, topic, 20);
    const m2 = await scrape(master.metrics);
    const end2 = one(m2, "tidemq_ha_confirmed_offset_bytes");
    assert.ok(end2 > masterEnd);
    assert.equal(
      one(m2, "tidemq_ha_slave_lag_bytes"),
      end2 - masterEnd,
      "lag = bytes sent while the slave was stopped",
    );
    process.kill(slave.child.pid!, "SIGCONT");
    stopped = undefined;
    await scrapeUntil(master.metrics, "lag back to 0", (x) =>
      value(x, "tidemq_ha_slave_lag_bytes") === 0 ? true : undefined,
    );
    const c2 = await scrapeUntil(cut.metrics, "cut slave further behind", (x) => {
      const b = value(x, "tidemq_ha_behind_master_bytes");
      return b !== undefined && b >= end2 - one(c1, "tidemq_ha_confirmed_offset_bytes") ? b : undefined;
    });
    assert.ok(c2 > one(c1, "tidemq_ha_behind_master_bytes"));
  } finally {
    if (stopped?.pid) process.kill(stopped.pid, "SIGCONT");
    await group.stop();
  }
});
