/**
 * The client's END_TRANSACTION_BATCH body writer against the protocol's encoder: the same
 * bytes for any offsets a half can have and any decision, and the broker's decoder reads
 * them back. And its all-accepted answer check against the protocol's answer writer and reader.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  decodeEndTransactionBatch,
  encodeEndTransactionBatch,
  encodeEndTransactionResults,
  endTransactionResultCode,
  MessageSysFlag,
  ResponseCode,
  readEndTransactionResults,
} from "@tidemq/protocol";
import fc from "fast-check";
import { allAccepted, encodeEndTransactionEntries } from "../src/EndTransactionBatcher.js";

const offset = fc.oneof(
  fc.integer({ min: 0, max: 1 << 20 }),
  fc.integer({ min: 0, max: 2 ** 53 - 1 }),
  fc.constantFrom(0, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1),
);
const entry = fc.record({
  tranStateTableOffset: offset,
  commitLogOffset: offset,
  commitOrRollback: fc.constantFrom(
    MessageSysFlag.TRANSACTION_NOT_TYPE,
    MessageSysFlag.TRANSACTION_COMMIT_TYPE,
    MessageSysFlag.TRANSACTION_ROLLBACK_TYPE,
  ),
});

test("encodeEndTransactionEntries writes the protocol encoder's bytes, which decode to the same entries", () => {
  fc.assert(
    fc.property(fc.array(entry, { minLength: 1, maxLength: 70 }), (entries) => {
      const body = encodeEndTransactionEntries(entries);
      assert.deepEqual(body, encodeEndTransactionBatch(entries));
      assert.deepEqual(
        decodeEndTransactionBatch(body),
        entries.map((e) => ({ ...e })),
      );
    }),
    { numRuns: 300 },
  );
});

/** What allAccepted must say: the reader finds exactly `expected` results, every one a bare SUCCESS. */
function acceptedByReader(body: Buffer | undefined, expected: number): boolean {
  let results: unknown[];
  try {
    results = readEndTransactionResults(body, expected);
  } catch {
    return false;
  }
  return results.every((r) => r === ResponseCode.SUCCESS);
}

test("allAccepted says yes exactly for the broker's all-SUCCESS answer of the expected length", () => {
  const result = fc.oneof(
    fc.constant({ code: ResponseCode.SUCCESS }),
    fc.record({ code: fc.integer({ min: -1, max: 300 }) }),
    fc.record({ code: fc.integer({ min: 0, max: 300 }), remark: fc.string({ maxLength: 8 }) }),
  );
  fc.assert(
    fc.property(
      fc.array(result, { minLength: 0, maxLength: 70 }),
      fc.integer({ min: -1, max: 3 }),
      (results, delta) => {
        const body = encodeEndTransactionResults(results);
        for (const expected of [results.length, results.length + delta]) {
          assert.equal(allAccepted(body, expected), expected >= 1 && acceptedByReader(body, expected));
        }
      },
    ),
    { numRuns: 500 },
  );
  for (let n = 1; n <= 64; n++) {
    const body = encodeEndTransactionResults(
      Array.from({ length: n }, () => ({ code: ResponseCode.SUCCESS })),
    );
    assert.equal(allAccepted(body, n), true, `${n} accepted`);
    assert.equal(allAccepted(body, n + 1), false);
  }
  // Not the broker's form: left to the JSON reader (which accepts these), never misread here.
  for (const text of ["[0, 0]", " [0,0]", "[0,0] ", "[00,0]", "[0,-0]", "[0.0,0]", "[[0],0]"]) {
    assert.equal(allAccepted(Buffer.from(text), 2), false, text);
  }
  assert.equal(allAccepted(undefined, 1), false);
  assert.equal(allAccepted(Buffer.from("[0]"), 0), false);
  assert.equal(endTransactionResultCode(0), ResponseCode.SUCCESS);
});
