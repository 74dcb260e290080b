#!/usr/bin/env node
// Where one DLedger round's time goes: joins the `dlt` lines that brokers started with
// TIDEMQ_DLEDGER_TIMELINE=1 print (bench/dledger-throughput.mjs --logs DIR) across the
// replicas of a group and prints, per step of an entry's round, p50 / p90 in ms.
// Usage: node bench/dledger-timeline.mjs DIR (the directory holding n0.log, n1.log, n2.log).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.argv[2];
if (!dir) throw new Error("usage: node bench/dledger-timeline.mjs DIR");
/** events[self][event] = [[index, t, peer]] in log order */
const ev = {};
for (const f of readdirSync(dir).filter((f) => f.endsWith(".log"))) {
  for (const line of readFileSync(join(dir, f), "utf8").split("\n")) {
    if (!line.startsWith("dlt ")) continue;
    const [, self, event, index, t, peer] = line.split(" ");
    if (!ev[self]) ev[self] = {};
    if (!ev[self][event]) ev[self][event] = [];
    ev[self][event].push([Number(index), Number(t), peer ?? ""]);
  }
}
const leader = Object.keys(ev).find((s) => ev[s].propose?.length > 0);
if (!leader) throw new Error("no proposals in the logs (TIDEMQ_DLEDGER_TIMELINE=1 and --logs?)");
const followers = Object.keys(ev).filter((s) => s !== leader);

/** First event time whose index >= i (events' indexes grow), by binary search. */
function firstAtLeast(list, i, peer) {
  const l = peer === undefined ? list : list.filter((e) => e[2] === peer);
  let lo = 0;
  let hi = l.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (l[mid][0] < i) lo = mid + 1;
    else hi = mid;
  }
  return l[lo]?.[1];
}
const cache = new Map();
function list(self, event, peer) {
  const k = `${self}/${event}/${peer ?? ""}`;
  if (!cache.has(k)) {
    const l = (ev[self]?.[event] ?? []).filter((e) => peer === undefined || e[2] === peer);
    cache.set(k, l);
  }
  return cache.get(k);
}
const at = (self, event, i, peer) => firstAtLeast(list(self, event, peer), i);

const steps = {};
/** Per entry: its steps (name → ms), to show where the slowest rounds lost their time. */
const rounds = [];
let cur;
const add = (name, v) => {
  if (cur && v !== undefined && !Number.isNaN(v)) cur[name] = Math.max(cur[name] ?? 0, v);
  if (v === undefined || Number.isNaN(v)) return;
  if (!steps[name]) steps[name] = [];
  steps[name].push(v);
};
const proposes = ev[leader].propose;
// Skip the first and last second (start-up, drain).
const t0 = proposes[0][1] + 1000;
const t1 = proposes.at(-1)[1] - 1000;
let bytes = 0;
let n = 0;
const gaps = [];
for (let k = 0; k < proposes.length; k++) {
  const [i, tp, size] = proposes[k];
  if (tp < t0 || tp > t1) continue;
  n++;
  cur = {};
  rounds.push(cur);
  bytes += Number(size);
  if (k > 0) gaps.push(tp - proposes[k - 1][1]);
  add("leader propose→own durable", at(leader, "durable", i) - tp);
  add("leader propose→commit", at(leader, "commit", i) - tp);
  const acks = [];
  for (const f of followers) {
    const sent = at(leader, "send-app", i, f);
    add("leader propose→send", sent - tp);
    const recv = at(f, "recv", i);
    add("wire leader→follower", recv - sent);
    const written = at(f, "written", i);
    add("follower recv→written", written - recv);
    const durable = at(f, "durable", i);
    add("follower written→durable", durable - written);
    const ack = at(leader, "ack", i, f);
    add("wire follower→leader (ack)", ack - durable);
    add("leader propose→ack", ack - tp);
    acks.push(ack - tp);
  }
  acks.sort((a, b) => a - b);
  add("leader propose→first ack", acks[0]);
  // What commit waited for last: the first follower's ack, or the leader's own fsync.
  const own = at(leader, "durable", i) - tp;
  const ready = Math.max(acks[0], own);
  add("leader commit-ready→commit", at(leader, "commit", i) - tp - ready);
  add(acks[0] >= own ? "(commit waited for an ack)" : "(commit waited for own fsync)", 0);
}
const q = (a, p) => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};
console.log(
  `leader ${leader}: ${n} entries, ${(bytes / Math.max(1, n) / 1024).toFixed(1)} KiB avg, propose gap p50 ${q(gaps, 0.5)?.toFixed(2)} ms`,
);
const slow = rounds
  .filter((r) => r["leader propose→commit"] !== undefined)
  .sort((a, b) => b["leader propose→commit"] - a["leader propose→commit"])
  .slice(0, Math.max(1, Math.ceil(rounds.length / 50)));
for (const [name, a] of Object.entries(steps)) {
  console.log(
    `${name.padEnd(30)} p50 ${q(a, 0.5).toFixed(2).padStart(7)}  p90 ${q(a, 0.9).toFixed(2).padStart(7)}  (${a.length})`,
  );
}
console.log(`the slowest ${slow.length} rounds (2 %), per step the mean (worse follower):`);
for (const name of Object.keys(steps)) {
  const v = slow.map((r) => r[name]).filter((x) => x !== undefined);
  if (v.length)
    console.log(`${name.padEnd(30)} ${(v.reduce((a, b) => a + b, 0) / v.length).toFixed(2).padStart(7)}`);
}
