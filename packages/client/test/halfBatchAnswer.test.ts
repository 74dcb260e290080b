/**
 * The client's SEND_HALF_BATCH answer reader against the protocol's (readHalfBatchResults,
 * then commitLogOffsetOf for the id): the same rows for any answer a broker writes
 * (encodeHalfBatchResults), for the same answer spelled otherwise (spaces, escapes, other
 * number forms), and the same refusal of any malformed or mis-sized one.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  createOffsetMsgId,
  encodeHalfBatchResults,
  type HalfBatchResult,
  readHalfBatchResults,
} from "@tidemq/protocol";
import fc from "fast-check";
import { readHalfBatchAnswer } from "../src/halfBatchAnswer.js";
import { commitLogOffsetOf } from "../src/Transaction.js";

/** The rows as the protocol's reader gives them, offsets read from the ids' text. */
function reference(body: Buffer, expected: number) {
  return readHalfBatchResults(body, expected).map((r) => {
    const stored = r.length >= 5 ? (r as [number, string, string, number, number]) : undefined;
    let offset: number | string = -1;
    if (stored) {
      try {
        offset = commitLogOffsetOf(stored[2]);
      } catch (err) {
        offset = `throws ${(err as Error).message}`;
      }
    }
    return [r[0], r[1], stored?.[2], stored?.[3] ?? -1, stored?.[4] ?? -1, offset];
  });
}

/** The client reader's rows, an offset it did not read taken from the id as Transaction does. */
function client(body: Buffer, expected: number) {
  const a = readHalfBatchAnswer(body, expected);
  return a.code.map((code, i) => {
    const id = a.msgId[i];
    let offset: number | string = a.commitLogOffset[i]!;
    if (offset < 0 && id !== undefined) {
      try {
        offset = commitLogOffsetOf(id);
      } catch (err) {
        offset = `throws ${(err as Error).message}`;
      }
    }
    return [code, a.remark[i], id, a.queueId[i], a.queueOffset[i], offset];
  });
}

function outcome(read: () => unknown): unknown {
  try {
    return read();
  } catch (err) {
    return `throws ${(err as Error).message}`;
  }
}

const idArb = fc.oneof(
  fc
    .tuple(
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 1, max: 65535 }),
      fc.integer({ min: 0, max: 2 ** 50 }),
    )
    .map(([host, port, offset]) => createOffsetMsgId({ host: `127.0.0.${host}`, port }, offset)),
  fc.stringMatching(/^[0-9A-Fa-f]{32}$/),
  fc.stringMatching(/^[0-9A-F]{56}$/),
  fc.string({ maxLength: 40 }),
);
const resultArb: fc.Arbitrary<HalfBatchResult> = fc.oneof(
  fc.record({
    code: fc.constantFrom(0, 10, 11, 12),
    msgId: idArb,
    queueId: fc.integer({ min: -1, max: 1 << 20 }),
    queueOffset: fc.oneof(fc.integer({ min: -1, max: 1 << 30 }), fc.maxSafeInteger()),
  }),
  fc.record({ code: fc.integer({ min: -5, max: 300 }) }),
  fc.record({ code: fc.integer({ min: 1, max: 300 }), remark: fc.string({ maxLength: 20 }) }),
);

test("readHalfBatchAnswer gives the protocol reader's rows for any answer a broker writes", () => {
  fc.assert(
    fc.property(fc.array(resultArb, { minLength: 1, maxLength: 20 }), (results) => {
      const body = encodeHalfBatchResults(results);
      assert.deepEqual(client(body, results.length), reference(body, results.length));
    }),
    { numRuns: 500 },
  );
});

test("readHalfBatchAnswer reads the ids' commit-log offsets itself for TideMQ's ids", () => {
  const ids = [
    createOffsetMsgId({ host: "127.0.0.1", port: 10911 }, 0),
    createOffsetMsgId({ host: "10.1.2.3", port: 1 }, 2 ** 52),
  ];
  const body = encodeHalfBatchResults(
    ids.map((msgId, i) => ({ code: 0, msgId, queueId: i, queueOffset: 7 })),
  );
  const a = readHalfBatchAnswer(body, 2);
  assert.deepEqual(a.commitLogOffset, [0, 2 ** 52]);
  assert.deepEqual(a.msgId, ids);
});

test("readHalfBatchAnswer agrees with the protocol reader on other spellings and on malformed answers", () => {
  const id = createOffsetMsgId({ host: "127.0.0.1", port: 10911 }, 4242);
  const texts = [
    `[[0,"","${id}",1,2]]`,
    ` [[0,"","${id}",1,2]]`,
    `[[0, "", "${id}", 1, 2]]`,
    `[[0,"","${id}",1,2] ]`,
    `[[0,"","${id}",1,2]]\n`,
    `[[0,"","${id.slice(0, 4)}\\u0041${id.slice(5)}",1,2]]`,
    `[[0,"","${id}",1.0,2]]`,
    `[[0,"","${id}",1e0,2]]`,
    `[[0,"","${id}",01,2]]`,
    `[[-0,"","${id}",-1,-2]]`,
    `[[0,"","${id}",1,9007199254740991]]`,
    `[[0,"","${id}",1,9007199254740992]]`,
    `[[0,"","${id}",1,123456789012345678]]`,
    `[[0,"","${id}",1]]`,
    `[[0,"","${id}",1,2,3]]`,
    `[[0,"x","${id}",1,2]]`,
    `[[0,""]]`,
    `[[14,"no room"]]`,
    `[[0,"",5,1,2]]`,
    `[[0,"","${id}","1",2]]`,
    `[["0","","${id}",1,2]]`,
    `[[0,"","${id}",1,2]],`,
    `[[0,"","${id}",1,2]`,
    `[[0,"","${id}",1,2]][]`,
    `[[0,"","${id}",1,2],[0,""]]`,
    `[[0,"","${id}`,
    `[]`,
    `{}`,
    `null`,
    ``,
    `[[0,"","${"G".repeat(32)}",1,2]]`,
    `[[0,"","${id.slice(0, 16)}FFFF${id.slice(20)}",1,2]]`,
    `[[0,"","${"F".repeat(32)}",1,2]]`,
  ];
  for (const text of texts) {
    const body = Buffer.from(text, "utf8");
    for (const expected of [1, 2]) {
      assert.deepEqual(
        outcome(() => client(body, expected)),
        outcome(() => reference(body, expected)),
        `${JSON.stringify(text)} expecting ${expected}`,
      );
    }
  }
  assert.throws(() => readHalfBatchAnswer(undefined, 1), /does not hold 1 results/);
});
