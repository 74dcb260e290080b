/**
 * The client's SEND_HALF_BATCH body writer (halves with printable-ASCII properties written
 * straight from the properties object) against the protocol's reference encoder: the same
 * bytes for any prepared and markHalf'd message, and a properties measure that is either
 * exact or says "unknown".
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeHalfBatch, encodeHalfBatch, encodeProperties, type HalfBatchEntry } from "@tidemq/protocol";
import fc from "fast-check";
import {
  asciiHalfPropertiesBytes,
  encodeHalfBatchMembers,
  HALF_ENTRY_FIXED_BYTES,
  type HalfBatchMember,
} from "../src/halfBatchBody.js";
import { type MessageOptions, prepareMessage } from "../src/index.js";
import { markHalf } from "../src/Transaction.js";

/** A member as the batcher builds it from a half (HalfBatcher's FirstAttempt). */
function memberOf(m: ReturnType<typeof prepareMessage>, queueId: number, born: number): HalfBatchMember {
  const ascii = asciiHalfPropertiesBytes(m);
  const properties = encodeProperties(m.properties);
  const propsBytes = ascii >= 0 ? ascii : Buffer.byteLength(properties, "utf8");
  return {
    topic: m.topic,
    queueId,
    sysFlag: 4,
    bornTimestamp: born,
    flag: m.flag,
    body: m.body,
    asciiProps: ascii >= 0 ? m.properties : undefined,
    propsBytes,
    properties,
    bytes: HALF_ENTRY_FIXED_BYTES + Buffer.byteLength(m.topic) + propsBytes + m.body.length,
  };
}

const entryOf = (x: HalfBatchMember): HalfBatchEntry => ({
  topic: x.topic,
  queueId: x.queueId,
  sysFlag: x.sysFlag,
  bornTimestamp: x.bornTimestamp,
  flag: x.flag,
  properties: x.properties,
  body: x.body,
});

test("encodeHalfBatchMembers writes the protocol encoder's bytes for any markHalf'd message; the ASCII measure is exact or -1", () => {
  const text = fc
    .string({ minLength: 1, maxLength: 12 })
    .filter((s) => !/[\u0000-\u0002]/.test(s) && !s.includes("||"));
  const options = fc.record(
    {
      tag: text,
      keys: fc.array(text, { maxLength: 3 }),
      messageGroup: fc.stringMatching(/^[a-z0-9]{1,8}$/),
      flag: fc.integer({ min: -5, max: 1 << 20 }),
      properties: fc.dictionary(
        fc.oneof(text, fc.constantFrom("TRAN_MSG", "PGROUP", "WAIT", "TAGS")),
        fc.oneof(text, fc.constant("")),
        { maxKeys: 4 },
      ),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(
      fc.array(fc.tuple(options, fc.uint8Array({ minLength: 1, maxLength: 64 })), {
        minLength: 1,
        maxLength: 6,
      }),
      fc.constantFrom("TxGroup", "g-1", "%RETRY%x"),
      fc.integer({ min: 0, max: 2 ** 45 }),
      (list, group, born) => {
        const members = list.map(([o, body], i) => {
          let m: ReturnType<typeof prepareMessage>;
          try {
            m = prepareMessage(
              { topic: "TxT", body: Buffer.from(body), ...(o as Partial<MessageOptions>) },
              1 << 20,
            );
          } catch {
            return undefined; // options prepareMessage refuses are not this test's subject
          }
          markHalf(m, group);
          const ascii = asciiHalfPropertiesBytes(m);
          if (ascii >= 0) assert.equal(ascii, Buffer.byteLength(encodeProperties(m.properties), "utf8"));
          return memberOf(m, i % 4, born + i);
        });
        const ok = members.filter((x): x is HalfBatchMember => x !== undefined);
        if (ok.length === 0) return;
        const total = ok.reduce((n, x) => n + x.bytes, 0);
        const mine = encodeHalfBatchMembers(ok, total);
        const reference = encodeHalfBatch(ok.map(entryOf));
        assert.deepEqual(mine, reference);
        assert.equal(decodeHalfBatch(mine).length, ok.length);
      },
    ),
    { numRuns: 500 },
  );
});

test("markHalf keeps the ASCII measure for plain messages and gives it up when the pairs were already there or text is not ASCII", () => {
  const plain = prepareMessage({ topic: "T", body: "x", tag: "A", keys: ["k"] }, 1024);
  markHalf(plain, "G1");
  assert.equal(asciiHalfPropertiesBytes(plain), Buffer.byteLength(encodeProperties(plain.properties)));
  const user = prepareMessage({ topic: "T", body: "x", properties: { TRAN_MSG: "true" } }, 1024);
  markHalf(user, "G1");
  assert.equal(asciiHalfPropertiesBytes(user), -1);
  const other = prepareMessage({ topic: "T", body: "x", tag: "té" }, 1024);
  markHalf(other, "G1");
  assert.equal(asciiHalfPropertiesBytes(other), -1);
});
