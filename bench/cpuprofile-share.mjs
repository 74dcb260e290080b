#!/usr/bin/env node
// Share of a process's busy CPU time (samples not "(idle)") whose function's source URL
// contains a substring, from .cpuprofile files (node --cpu-prof; broker-send.mjs --prof DIR
// writes the broker's). Self time: what those functions ran themselves, not their callees.
// Usage: node bench/cpuprofile-share.mjs DIR [substring, default /dedup/] [--messages N]
//   --messages N   also print the self time per message (N = messages the process handled)
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: { messages: { type: "string" } },
});
const [dir, needle = "/dedup/"] = positionals;
if (!dir) throw new Error("usage: cpuprofile-share.mjs DIR [substring]");
for (const f of readdirSync(dir).filter((x) => x.endsWith(".cpuprofile"))) {
  const p = JSON.parse(readFileSync(join(dir, f), "utf8"));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  let busy = 0;
  let hit = 0;
  let gc = 0;
  const byFn = new Map();
  for (let i = 0; i < p.samples.length; i++) {
    const cf = byId.get(p.samples[i]).callFrame;
    const us = p.timeDeltas[i] ?? 0;
    if (cf.functionName === "(idle)") continue;
    busy += us;
    if (cf.functionName === "(garbage collector)") gc += us;
    if (cf.url.includes(needle)) {
      hit += us;
      const k = `${cf.functionName || "(anonymous)"} ${cf.url.split("/").at(-1)}:${cf.lineNumber + 1}`;
      byFn.set(k, (byFn.get(k) ?? 0) + us);
    }
  }
  const per = opt.messages ? `, ${((hit * 1000) / Number(opt.messages)).toFixed(0)} ns per message` : "";
  console.log(
    `${f}: busy ${(busy / 1e6).toFixed(2)} s, "${needle}" ${((100 * hit) / busy).toFixed(2)} % of it${per}, GC ${((100 * gc) / busy).toFixed(1)} %`,
  );
  for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, 8))
    console.log(`  ${((100 * us) / busy).toFixed(2).padStart(6)} %  ${k}`);
}
