import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

/**
 * The V8 hidden-class effect MessageInputShape guards against, seen the way V8 sees it
 * (natives syntax, so in a child node): one literal site, optimized, builds inputs with small
 * integers; another then stores a commit-log offset, a bornTimestamp and a TAGS hash beyond
 * ±2^30 in the same fields; the first site's later inputs must still share the hidden class of
 * the second's. Without the store loaded, the optimized site goes on building the retired class
 * (each of its objects then migrated at its first read: 171 ms against 6 ms for 10^6 built and
 * read, node 20): the check itself sees the effect.
 */
const script = (loadStore: boolean): string => `
${loadStore ? 'await import("@tidemq/store");' : ""}
function small(i) {
  return { topic: "T", queueId: 0, flag: 0, body: null, properties: {}, sysFlag: 0, bornTimestamp: 0,
    bornHost: null, reconsumeTimes: 0, preparedTransactionOffset: 0, tagsCode: i,
    encodedProperties: "", encodedPropertiesSuffix: undefined, keys: undefined, uniqKey: undefined };
}
function wide(offset) {
  return { topic: "T", queueId: 0, flag: 0, body: null, properties: {}, sysFlag: 0, bornTimestamp: Date.now() + 0.5,
    bornHost: null, reconsumeTimes: 0, preparedTransactionOffset: offset, tagsCode: 2147483000,
    encodedProperties: "", encodedPropertiesSuffix: undefined, keys: undefined, uniqKey: undefined };
}
%PrepareFunctionForOptimization(small);
for (let i = 0; i < 100; i++) small(i);
%OptimizeFunctionOnNextCall(small);
small(1);
const w = wide(3 * 2 ** 30);
const later = small(1);
console.log(JSON.stringify({ same: %HaveSameMap(w, later) }));
`;

function run(loadStore: boolean): { same: boolean } {
  const r = spawnSync(
    process.execPath,
    ["--allow-natives-syntax", "--input-type=module", "-e", script(loadStore)],
    {
      encoding: "utf8",
      cwd: new URL("../..", import.meta.url).pathname,
      timeout: 30_000,
    },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim()) as { same: boolean };
}

test("MessageInput literals keep one hidden class when later inputs carry wide numbers (store loaded)", () => {
  assert.deepEqual(run(true), { same: true });
});

test("the check sees the split without the store's shape (V8 retires the small-integer class)", () => {
  assert.deepEqual(run(false), { same: false });
});
