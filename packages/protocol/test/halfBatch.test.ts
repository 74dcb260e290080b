import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  decodeHalfBatch,
  decodeHalfBatchResults,
  encodeHalfBatch,
  encodeHalfBatchResults,
  encodeStoredHalfResults,
  type HalfBatchEntry,
  halfBatchEntryBytes,
  MAX_HALF_BATCH,
} from "../src/index.js";

const entry = fc.record({
  topic: fc.stringMatching(/^[%|A-Za-z0-9_-]{1,60}$/),
  queueId: fc.integer({ min: -1, max: 1 << 30 }),
  sysFlag: fc.integer({ min: 0, max: 255 }),
  bornTimestamp: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  flag: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  properties: fc.string({ maxLength: 200, unit: "grapheme" }),
  body: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
});

test("SEND_HALF_BATCH entries: decode(encode(x)) = x, sizes as halfBatchEntryBytes says", () => {
  fc.assert(
    fc.property(fc.array(entry, { minLength: 1, maxLength: 20 }), (entries: HalfBatchEntry[]) => {
      const body = encodeHalfBatch(entries);
      assert.equal(
        body.length,
        entries.reduce((s, e) => s + halfBatchEntryBytes(e), 0),
      );
      const back = decodeHalfBatch(body);
      assert.equal(back.length, entries.length);
      for (let i = 0; i < entries.length; i++) {
        const { body: b, ...rest } = back[i]!;
        const { body: want, ...wantRest } = entries[i]!;
        assert.deepEqual(rest, wantRest);
        assert.ok(b.equals(want));
      }
    }),
  );
});

test("a SEND_HALF_BATCH body cut anywhere, empty, or with too many entries is refused, never misread", () => {
  const e: HalfBatchEntry = {
    topic: "T",
    queueId: 0,
    sysFlag: 4,
    bornTimestamp: 1,
    flag: 0,
    properties: "TRAN_MSG\u0001true\u0002",
    body: Buffer.from("hello"),
  };
  const body = encodeHalfBatch([e, e]);
  for (let n = 1; n < body.length; n++) {
    if (n === body.length / 2) continue; // exactly one whole entry
    assert.throws(() => decodeHalfBatch(body.subarray(0, n)), /cut short/, `cut at ${n}`);
  }
  assert.equal(decodeHalfBatch(body.subarray(0, body.length / 2)).length, 1);
  assert.throws(() => decodeHalfBatch(Buffer.alloc(0)), /without entries/);
  assert.throws(() => decodeHalfBatch(undefined), /without entries/);
  // A negative length is cut short, not a read before the entry.
  const neg = Buffer.from(body);
  neg.writeInt32BE(-5, 2 + 1 + 20);
  assert.throws(() => decodeHalfBatch(neg), /cut short/);
  const many = encodeHalfBatch(Array.from({ length: MAX_HALF_BATCH + 1 }, () => e));
  assert.throws(() => decodeHalfBatch(many), new RegExp(`more than ${MAX_HALF_BATCH} entries`));
});

test("SEND_HALF_BATCH results: stored and refused entries round-trip; a wrong count or shape is an error", () => {
  const results = [
    { code: 0, msgId: "7F00000100002A9F0000000000000064", queueId: 3, queueOffset: 17 },
    { code: 13, remark: "a transaction half message cannot also be delayed" },
    { code: 10, remark: "flush disk timeout", msgId: "ID", queueId: 0, queueOffset: 0 },
  ];
  assert.deepEqual(decodeHalfBatchResults(encodeHalfBatchResults(results), 3), results);
  assert.throws(() => decodeHalfBatchResults(encodeHalfBatchResults(results), 2), /does not hold 2 results/);
  assert.throws(() => decodeHalfBatchResults(Buffer.from('[[0,"","id","x",1]]'), 1), /malformed result/);
  assert.throws(() => decodeHalfBatchResults(Buffer.from('[{"code":0}]'), 1), /malformed result/);
  assert.throws(() => decodeHalfBatchResults(Buffer.from("not json"), 1));
});

test("SEND_HALF_BATCH entries naming a few topics in turn: each decodes to its own topic", () => {
  fc.assert(
    fc.property(
      fc.array(
        entry.chain((e) =>
          fc
            .constantFrom("TopicA", "TopicB", "TopicAB", "Topié", "Topiè", "%RETRY%x")
            .map((topic) => ({ ...e, topic })),
        ),
        { minLength: 1, maxLength: 20 },
      ),
      (entries: HalfBatchEntry[]) => {
        assert.deepEqual(decodeHalfBatch(encodeHalfBatch(entries)), entries);
      },
    ),
  );
});

test("SEND_HALF_BATCH results are encoded as JSON.stringify encodes their arrays, byte for byte", () => {
  const reference = (results: ReadonlyArray<Parameters<typeof encodeHalfBatchResults>[0][number]>) =>
    Buffer.from(
      JSON.stringify(
        results.map((r) =>
          r.msgId === undefined
            ? [r.code, r.remark ?? ""]
            : [r.code, r.remark ?? "", r.msgId, r.queueId ?? -1, r.queueOffset ?? -1],
        ),
      ),
      "utf8",
    );
  const text = fc.oneof(
    fc.string({ maxLength: 30, unit: "binary" }),
    fc.constantFrom(
      "",
      "flush disk timeout",
      'a "quoted" \\ remark\n',
      "\ud800 lone",
      "7F0000010000A9F00000000000001234",
    ),
  );
  const result = fc.record(
    {
      code: fc.oneof(fc.integer({ min: -5, max: 300 }), fc.constantFrom(Number.NaN, -0)),
      remark: text,
      msgId: text,
      queueId: fc.integer({ min: -1, max: 1 << 30 }),
      queueOffset: fc.integer({ min: -1, max: Number.MAX_SAFE_INTEGER }),
    },
    { requiredKeys: ["code"] },
  );
  fc.assert(
    fc.property(fc.array(result, { maxLength: 12 }), (results) => {
      assert.deepEqual(encodeHalfBatchResults(results), reference(results));
    }),
    { numRuns: 2000 },
  );
  // The usual answer: every half stored or refused without a remark, ids of hex digits.
  const plain = fc.record(
    {
      code: fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
      msgId: fc.stringMatching(/^[0-9A-F]{32}$/),
      queueId: fc.integer({ min: -1, max: 1 << 30 }),
      queueOffset: fc.oneof(
        fc.integer({ min: -1, max: 1000 }),
        fc.constantFrom(Number.MAX_SAFE_INTEGER, 0, 9, 10, 99, 100),
      ),
    },
    { requiredKeys: ["code"] },
  );
  fc.assert(
    fc.property(fc.array(plain, { maxLength: 70 }), (results) => {
      assert.deepEqual(encodeHalfBatchResults(results), reference(results));
    }),
    { numRuns: 1000 },
  );
});

test("encodeStoredHalfResults: the bytes encodeHalfBatchResults gives for the same stored halves (ids from their offsets)", () => {
  const prefix = fc.stringMatching(/^[0-9A-F]{16}$/);
  fc.assert(
    fc.property(
      prefix,
      fc.array(
        fc.tuple(
          fc.oneof(
            fc.integer({ min: 0, max: 2 ** 32 + 5 }),
            fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
          ),
          fc.integer({ min: -1, max: 1 << 30 }),
        ),
        { minLength: 1, maxLength: 70 },
      ),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 100 }),
      (idPrefix, halves, first) => {
        const offsets = halves.map(([o]) => o);
        const queueIds = halves.map(([, q]) => q);
        // The offset message id as the store makes it: host hex, then the offset as 16 hex digits.
        const idOf = (o: number) => idPrefix + o.toString(16).toUpperCase().padStart(16, "0");
        const want = encodeHalfBatchResults(
          halves.map(([o, queueId], k) => ({ code: 0, msgId: idOf(o), queueId, queueOffset: first + k })),
        );
        const got = encodeStoredHalfResults(idPrefix, offsets, queueIds, first);
        assert.ok(got);
        assert.equal(got.toString("latin1"), want.toString("latin1"));
        assert.deepEqual(
          decodeHalfBatchResults(got, halves.length),
          decodeHalfBatchResults(want, halves.length),
        );
      },
    ),
  );
  // A prefix that JSON must escape, mismatched arrays, an offset that is no offset: left to
  // the caller's results.
  assert.equal(encodeStoredHalfResults('a"b', [0], [0], 0), undefined);
  assert.equal(encodeStoredHalfResults("A", [0], [0, 1], 0), undefined);
  assert.equal(encodeStoredHalfResults("A", [-1], [0], 0), undefined);
  assert.equal(encodeStoredHalfResults("A", [0.5], [0], 0), undefined);
});
