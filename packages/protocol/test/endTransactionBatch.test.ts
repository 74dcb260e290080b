import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  decodeEndTransactionBatch,
  decodeEndTransactionResults,
  type EndTransactionResult,
  encodeEndTransactionBatch,
  encodeEndTransactionResults,
  MAX_END_TRANSACTION_BATCH,
} from "../src/index.js";

test("END_TRANSACTION_BATCH body: round trip of any offsets up to 2^53 (encoded without BigInt), byte layout as int64 BE", () => {
  const entry = fc.record({
    tranStateTableOffset: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    commitLogOffset: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    commitOrRollback: fc.constantFrom(0, 8, 12),
  });
  fc.assert(
    fc.property(fc.array(entry, { minLength: 1, maxLength: 50 }), (entries) => {
      const body = encodeEndTransactionBatch(entries);
      assert.equal(body.length, entries.length * 17);
      assert.deepEqual(
        decodeEndTransactionBatch(body),
        entries.map((e) => ({ ...e })),
      );
      // Each field is the int64 big-endian a BigInt write would give.
      entries.forEach((e, i) => {
        assert.equal(body.readBigInt64BE(i * 17), BigInt(e.tranStateTableOffset));
        assert.equal(body.readBigInt64BE(i * 17 + 8), BigInt(e.commitLogOffset));
      });
    }),
    { numRuns: 300 },
  );
  assert.throws(() => decodeEndTransactionBatch(Buffer.alloc(16)), /not a whole number of 17-byte entries/);
  assert.throws(() => decodeEndTransactionBatch(undefined), /not a whole number/);
  assert.throws(
    () => decodeEndTransactionBatch(Buffer.alloc(17 * (MAX_END_TRANSACTION_BATCH + 1))),
    /at most 4096/,
  );
});

test("END_TRANSACTION_BATCH answer: the JSON array of bare codes and [code, remark] pairs, read back as written", () => {
  const result: fc.Arbitrary<EndTransactionResult> = fc.oneof(
    fc.record(
      { code: fc.integer({ min: -1, max: 300 }), remark: fc.string({ unit: "grapheme", maxLength: 30 }) },
      { requiredKeys: ["code"] },
    ),
    // All SUCCESS without a remark (the usual answer, written as bytes) must be common too.
    fc.constant({ code: 0 }),
  );
  fc.assert(
    fc.property(fc.array(result, { maxLength: 40 }), (results) => {
      const body = encodeEndTransactionResults(results);
      const want = JSON.stringify(results.map((r) => (r.remark === undefined ? r.code : [r.code, r.remark])));
      assert.equal(body.toString("utf8"), want);
      assert.deepEqual(
        decodeEndTransactionResults(body, results.length),
        results.map((r) => (r.remark === undefined ? { code: r.code } : { code: r.code, remark: r.remark })),
      );
    }),
    { numRuns: 300 },
  );
  for (let n = 0; n <= 70; n++) {
    const ok = Array.from({ length: n }, () => ({ code: 0 }));
    assert.equal(encodeEndTransactionResults(ok).toString("latin1"), JSON.stringify(ok.map(() => 0)));
  }
});
