/**
 * RecentHalves (the halves END_TRANSACTION finds without a log read) is only a cache: a take
 * gives exactly the half put at that queue offset and commit-log offset, or nothing — never
 * another half's record — and it holds at most 8192 halves and 32 MiB of bodies, the oldest
 * going first.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { MessageInput, PutResult } from "@tidemq/store";
import fc from "fast-check";
import { TRANS_HALF_TOPIC } from "../src/TopicValidator.js";
import { RecentHalves } from "../src/transaction/RecentHalves.js";

const HOST_HEX = "7F00000100002A9F";

function half(n: number, body = Buffer.from(`body ${n}`)): MessageInput {
  return {
    topic: TRANS_HALF_TOPIC,
    queueId: 0,
    flag: n,
    body,
    properties: {},
    sysFlag: 0,
    bornTimestamp: 1000 + n,
    bornHost: { host: "127.0.0.1", port: 9 },
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
    tagsCode: n,
    encodedProperties: `UNIQ_KEY\u0001u${n}\u0002`,
    encodedPropertiesSuffix: undefined,
    keys: undefined,
    uniqKey: `u${n}`,
  };
}

/** The offset msgId of a record at this commit-log offset. */
function msgIdAt(offset: number): string {
  return HOST_HEX + offset.toString(16).toUpperCase().padStart(16, "0");
}

test("a take finds the half put at that queue and commit-log offset once, and nothing else", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.record({ kind: fc.constant("put" as const), n: fc.integer({ min: 1, max: 40 }) }),
          fc.record({
            kind: fc.constant("take" as const),
            back: fc.integer({ min: 0, max: 9000 }),
            wrongOffset: fc.boolean(),
          }),
        ),
        { maxLength: 60 },
      ),
      (steps) => {
        const r = new RecentHalves();
        /** Model: queue offset -> commit-log offset of every half put and not yet taken. */
        const model = new Map<number, number>();
        let next = 0;
        for (const st of steps) {
          if (st.kind === "put") {
            // n halves stored by one put at consecutive queue offsets, as putHalves reports them.
            for (let i = 0; i < st.n * 250; i++, next++) {
              r.storedAt(half(next), next, msgIdAt(next * 300 + 7), 5000 + next);
              model.set(next, next * 300 + 7);
            }
            continue;
          }
          const q = next - 1 - st.back;
          if (q < 0) continue;
          const at = model.get(q);
          const got = r.take(q, st.wrongOffset ? q * 300 + 8 : q * 300 + 7);
          model.delete(q);
          // Held only among the newest 8192; a wrong commit-log offset never matches.
          if (at === undefined || st.wrongOffset || q < next - 8192) {
            assert.equal(got, undefined);
            continue;
          }
          assert.ok(got, `queue offset ${q} (of ${next}) not found`);
          assert.equal(got.queueOffset, q);
          assert.equal(got.commitLogOffset, at);
          assert.equal(got.storeTimestamp, 5000 + q);
          assert.equal(got.flag, q);
          assert.equal(got.body.toString(), `body ${q}`);
          assert.equal(got.encoded?.uniqKey, `u${q}`);
          assert.equal(got.encoded?.tagsCode, q);
          assert.equal(got.properties.UNIQ_KEY, `u${q}`);
          // Taken: a second END_TRANSACTION for it reads the log.
          assert.equal(r.take(q, at), undefined);
        }
        assert.ok(r.size <= 8192);
      },
    ),
    { numRuns: 60 },
  );
});

test("bodies are kept up to 32 MiB, the oldest dropped first; a one-record put without an id uses its commitLogOffset", () => {
  const r = new RecentHalves();
  const big = Buffer.alloc(2 * 1024 * 1024);
  for (let q = 0; q < 20; q++) r.storedAt(half(q, big), q, msgIdAt(q * 3_000_000), 1);
  // 16 of 2 MiB fit: 0..3 went first.
  for (let q = 0; q < 4; q++) assert.equal(r.take(q, q * 3_000_000), undefined, `half ${q} still held`);
  for (let q = 4; q < 20; q++) assert.ok(r.take(q, q * 3_000_000), `half ${q} dropped`);
  assert.equal(r.size, 0);
  // A body over 2 MiB is not kept at all.
  r.storedAt(half(30, Buffer.alloc(2 * 1024 * 1024 + 1)), 30, msgIdAt(1), 1);
  assert.equal(r.take(30, 1), undefined);
  // Not a half: not kept.
  r.storedAt({ ...half(31), topic: "Other" }, 31, msgIdAt(2), 1);
  assert.equal(r.take(31, 2), undefined);
  const result: PutResult = {
    status: "PUT_OK",
    queueOffset: 40,
    commitLogOffset: 123_456,
    msgIds: [],
    count: 1,
    storeTimestamp: 9,
  };
  r.stored([half(40)], result);
  assert.equal(r.take(40, 123_456)?.storeTimestamp, 9);
  // The commit-log offset read from the id: lower-case hex too, above 2^32; not hex: not kept.
  r.storedAt(half(41), 41, `${HOST_HEX}00001234abcdef01`, 1);
  assert.ok(r.take(41, 0x1234abcdef01));
  r.storedAt(half(42), 42, `${HOST_HEX}00001234abcdefxx`, 1);
  assert.equal(r.take(42, 0x1234abcdef00), undefined);
});
