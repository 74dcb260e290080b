/**
 * The client's END_TRANSACTION_BATCH body writer against the protocol's encoder: the same
 * bytes for any offsets a half can have and any decision, and the broker's decoder reads
 * them back.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeEndTransactionBatch, encodeEndTransactionBatch, MessageSysFlag } from "@tidemq/protocol";
import fc from "fast-check";
import { encodeEndTransactionEntries } from "../src/EndTransactionBatcher.js";

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
