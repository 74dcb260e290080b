#!/usr/bin/env node
// CPU per record of what a replica reads from each record it receives for dispatch:
// decodeMessage (+ its properties object) — what Dispatcher.decodeReplicated did — against
// DispatchFields (in place: queue, offsets, store time, topic, TAGS/KEYS/UNIQ_KEY). Records
// as a producer makes them: 500-byte body, UNIQ_KEY, TAGS, WAIT. Alternating, same process.
// Usage: node bench/dispatch-fields.mjs [--size 500] [--reps 3000]    (build first: npx tsc -b)
import os from "node:os";
import { decodeMessage, encodeMessage, tagsHashCode } from "../packages/protocol/dist/src/index.js";
import { DispatchFields } from "../packages/store/dist/src/DispatchFields.js";

const args = process.argv.slice(2);
const opt = (name, def) => Number(args[args.indexOf(`--${name}`) + 1] || def) || def;
const SIZE = opt("size", 500);
const REPS = opt("reps", 3000);
const N = 128;
const recs = [];
for (let i = 0; i < N; i++) {
  recs.push(
    encodeMessage({
      topic: "BenchTopic",
      queueId: 3,
      flag: 0,
      queueOffset: i,
      commitLogOffset: i * 700,
      sysFlag: 0,
      bornTimestamp: Date.now(),
      bornHost: { host: "127.0.0.1", port: 40000 },
      storeTimestamp: Date.now(),
      storeHost: { host: "127.0.0.1", port: 10911 },
      reconsumeTimes: 0,
      preparedTransactionOffset: 0,
      body: Buffer.alloc(SIZE, 97),
      properties: {
        UNIQ_KEY: `7F00000100002A9F0000${i.toString(16).padStart(12, "0")}`,
        TAGS: "TagA",
        WAIT: "true",
      },
    }),
  );
}
const chunk = Buffer.concat(recs);
let sink = 0;
function viaDecodeMessage() {
  for (let p = 0; p < chunk.length; ) {
    const m = decodeMessage(chunk, p);
    const props = m.properties;
    sink += m.queueOffset + m.storeTimestamp + m.queueId + m.sysFlag + m.topic.length;
    sink += tagsHashCode(props.TAGS) + (props.KEYS ? 1 : 0) + (props.UNIQ_KEY?.length ?? 0);
    p += m.storeSize;
  }
}
const r = new DispatchFields();
function viaDispatchFields() {
  for (let p = 0; p < chunk.length; ) {
    r.read(chunk, p);
    sink += r.queueOffset + r.storeTimestamp + r.queueId + r.sysFlag + r.topic.length;
    sink += tagsHashCode(r.tags) + (r.keys ? 1 : 0) + (r.uniq?.length ?? 0);
    p += r.size;
  }
}
function cpuPerRecord(f, reps) {
  const c0 = process.cpuUsage();
  for (let i = 0; i < reps; i++) f();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / (reps * N);
}
for (let i = 0; i < 3; i++) cpuPerRecord(viaDecodeMessage, 300) + cpuPerRecord(viaDispatchFields, 300);
console.log(
  `machine: ${os.cpus()[0]?.model ?? "?"} × ${os.cpus().length}, node ${process.version}, load ${os.loadavg()[0].toFixed(1)}`,
);
for (let k = 0; k < 5; k++) {
  const a = cpuPerRecord(viaDecodeMessage, REPS);
  const b = cpuPerRecord(viaDispatchFields, REPS);
  console.log(
    `CPU per ${SIZE}-byte record: decodeMessage ${a.toFixed(3)} µs, DispatchFields ${b.toFixed(3)} µs (×${(a / b).toFixed(1)})`,
  );
}
if (sink === 42) console.log("");
