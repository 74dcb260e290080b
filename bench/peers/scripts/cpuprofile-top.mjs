#!/usr/bin/env node
// Top self-time functions of a V8 .cpuprofile (node --cpu-prof), aggregated by function and
// source location. Usage: node cpuprofile-top.mjs FILE.cpuprofile [N=10]
import { readFileSync } from "node:fs";
import { relative } from "node:path";

const [file, nArg] = process.argv.slice(2);
if (!file) {
  console.error("usage: cpuprofile-top.mjs FILE.cpuprofile [N]");
  process.exit(2);
}
const n = Number(nArg ?? 10);
const prof = JSON.parse(readFileSync(file, "utf8"));
const byId = new Map(prof.nodes.map((x) => [x.id, x]));
const selfUs = new Map();
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i];
  selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
}
const total = [...selfUs.values()].reduce((s, v) => s + v, 0);
const agg = new Map();
for (const [id, us] of selfUs) {
  const cf = byId.get(id).callFrame;
  let where = cf.url ? cf.url.replace(/^file:\/\//, "") : "";
  if (where.startsWith("/")) where = relative(process.cwd(), where);
  const key = `${cf.functionName || "(anonymous)"}  ${where}${where ? `:${cf.lineNumber + 1}` : ""}`;
  agg.set(key, (agg.get(key) ?? 0) + us);
}
const rows = [...agg.entries()].sort((x, y) => y[1] - x[1]).slice(0, n);
console.log(`profile ${file}: ${(total / 1e6).toFixed(2)} s sampled`);
console.log("| # | self ms | self % | function  location |");
console.log("|---:|---:|---:|---|");
for (const [i, [k, us]] of rows.entries()) {
  console.log(`| ${i + 1} | ${(us / 1000).toFixed(0)} | ${((100 * us) / total).toFixed(1)} | \`${k}\` |`);
}
