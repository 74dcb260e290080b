import assert from "node:assert/strict";
import { test } from "node:test";
import { createUniqId, encodeProperties, parseProperties } from "../src/index.js";

/** Java's layout, decoded: ms since the start of the month (int) and the counter (short). */
function timeAndCounter(id: string): { ms: number; counter: number } {
  const b = Buffer.from(id, "hex");
  return { ms: b.readInt32BE(10), counter: b.readUInt16BE(14) };
}

test("createUniqId: 32 uppercase hex, fixed prefix, ms since the start of the month, counting up", () => {
  const now = new Date(2026, 10, 24, 9, 30, 15, 123).getTime();
  const a = createUniqId(now);
  const b = createUniqId(now);
  assert.match(a, /^[0-9A-F]{32}$/);
  assert.equal(a.slice(0, 20), b.slice(0, 20), "IPv4, pid and the random int stay the same");
  const monthStart = new Date(2026, 10, 1).getTime();
  assert.equal(timeAndCounter(a).ms, now - monthStart);
  assert.equal(timeAndCounter(b).counter, (timeAndCounter(a).counter + 1) & 0xffff);
  // A new month restarts the time part (the cached month bounds follow the clock).
  const next = new Date(2026, 11, 1, 0, 0, 0, 5).getTime();
  assert.equal(timeAndCounter(createUniqId(next)).ms, 5);
  assert.equal(timeAndCounter(createUniqId(now)).ms, now - monthStart);
  const ids = new Set(Array.from({ length: 1000 }, () => createUniqId(now)));
  assert.equal(ids.size, 1000);
});

test("encodeProperties leaves out the omitted name and skips empty names and absent values", () => {
  const props = { TAGS: "a", WAIT: "true", UNIQ_KEY: "X", "": "y" } as Record<string, string>;
  const s = encodeProperties(props, "WAIT");
  assert.equal(s, "TAGS\u0001a\u0002UNIQ_KEY\u0001X\u0002");
  assert.deepEqual(parseProperties(encodeProperties(props)), { TAGS: "a", WAIT: "true", UNIQ_KEY: "X" });
});
