/**
 * The commit copy of a half the send path just stored (its properties kept as encoded text)
 * is the same record as the copy of that half read back from the log (properties parsed):
 * same topic, queue, flags and properties once stored, same keys for the index.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  encodeProperties,
  MessageConst,
  type MessageExt,
  parseProperties,
  tagsHashCode,
} from "@tidemq/protocol";
import type { MessageInput } from "@tidemq/store";
import fc from "fast-check";
import { pairValue, withoutPair } from "../src/transaction/HalfMessage.js";
import { type HalfRecord, RecentHalves } from "../src/transaction/RecentHalves.js";
import {
  copyRecord,
  halfInfoOf,
  keptRanges,
  OP_BODY_MAX,
  opOf,
  opRecord,
  opRecords,
  pairCut,
} from "../src/transaction/TransactionRecords.js";
import { sentHalf } from "./sentHalf.js";

const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,11}$/);
const value = fc.string({ maxLength: 20, unit: "grapheme" }).filter((v) => !/[\u0001\u0002]/.test(v));

test("withoutPair drops every pair of that name and keeps the rest as it was", () => {
  const t = "TRAN_MSG\u0001true\u0002KEYS\u0001a b\u0002TRAN_MSG\u0001x\u0002XTRAN_MSG\u0001y\u0002";
  assert.equal(withoutPair(t, "TRAN_MSG"), "KEYS\u0001a b\u0002XTRAN_MSG\u0001y\u0002");
  assert.equal(withoutPair("A\u00011", "A"), "");
  assert.equal(withoutPair("B\u00012\u0002A\u00011", "A"), "B\u00012\u0002");
  assert.equal(withoutPair("B\u00012\u0002", "A"), "B\u00012\u0002");
  fc.assert(
    fc.property(fc.array(fc.tuple(name, value), { maxLength: 8 }), name, (pairs, drop) => {
      const text = pairs.map(([n, v]) => `${n}\u0001${v}\u0002`).join("");
      const out = parseProperties(withoutPair(text, drop));
      const want = parseProperties(text);
      delete want[drop];
      assert.deepEqual(out, want);
      assert.equal(pairValue(withoutPair(text, drop), drop), undefined);
    }),
  );
});

/** withoutPair as it was first written (pair by pair): the cut-out fast path must give the same text. */
function withoutPairByPairs(pairs: string, drop: string): string {
  const head = `${drop}\u0001`;
  let out = "";
  let start = 0;
  while (start < pairs.length) {
    let end = pairs.indexOf("\u0002", start);
    if (end < 0) end = pairs.length;
    if (!pairs.startsWith(head, start)) out += pairs.slice(start, Math.min(end + 1, pairs.length));
    start = end + 1;
  }
  return out;
}

test("keptRanges cuts every pair of the names given (as withoutPair one name after another), byte for byte", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          fc.oneof(fc.constantFrom("TRAN_MSG", "REAL_TOPIC", "REAL_QID", "XREAL_QID", "KEYS"), name),
          value,
        ),
        { maxLength: 10 },
      ),
      fc.boolean(),
      (pairs, unterminated) => {
        let text = pairs.map(([n, v]) => `${n}\u0001${v}\u0002`).join("");
        if (unterminated && text.length > 0) text = text.slice(0, -1);
        const names = ["TRAN_MSG", "REAL_TOPIC", "REAL_QID"];
        const keep = keptRanges(text, pairCut(names));
        let cut = "";
        for (let i = 0; i < keep.length; i += 2) {
          assert.ok(
            keep[i]! < keep[i + 1]! && (i === 0 || keep[i - 1]! < keep[i]!),
            "ascending, apart, not empty",
          );
          cut += text.slice(keep[i], keep[i + 1]);
        }
        let want = text;
        for (const n of names) want = withoutPairByPairs(want, n);
        assert.equal(cut, want);
      },
    ),
  );
});

test("keptRanges of text with more pairs to cut than its scratch holds = withoutPair", () => {
  const text = Array.from({ length: 40 }, (_, i) => `TRAN_MSG\u0001${i}\u0002K${i}\u0001v\u0002`).join("");
  const keep = keptRanges(text, pairCut(["TRAN_MSG"]));
  let cut = "";
  for (let i = 0; i < keep.length; i += 2) cut += text.slice(keep[i], keep[i + 1]);
  assert.equal(cut, withoutPairByPairs(text, "TRAN_MSG"));
});

test("withoutPair of a name present once, several times or not at all = the pair-by-pair result, byte for byte", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.oneof(fc.constantFrom("TRAN_MSG", "XTRAN_MSG", "TRAN_MS", "KEYS"), name), value), {
        maxLength: 10,
      }),
      fc.boolean(),
      (pairs, unterminated) => {
        let text = pairs.map(([n, v]) => `${n}\u0001${v}\u0002`).join("");
        if (unterminated && text.length > 0) text = text.slice(0, -1);
        assert.equal(withoutPair(text, "TRAN_MSG"), withoutPairByPairs(text, "TRAN_MSG"));
      },
    ),
    { numRuns: 2000 },
  );
});

test("copyRecord and halfInfoOf of a half kept as the send path encoded it = of the same half parsed from the log", () => {
  fc.assert(
    fc.property(
      fc.dictionary(name, value, { maxKeys: 6 }),
      fc.record(
        {
          TAGS: value.filter((v) => v.length > 0),
          KEYS: value.filter((v) => v.length > 0),
          UNIQ_KEY: value.filter((v) => v.length > 0),
          PGROUP: value,
          TRAN_MSG: fc.constantFrom("true", "false"),
          CHECK_IMMUNITY_TIME_IN_SECONDS: fc.constantFrom("0", "7", "x"),
          WAIT: fc.constantFrom("true", "false"),
          CLUSTER: value,
        },
        { requiredKeys: [] },
      ),
      fc.integer({ min: 0, max: 15 }),
      fc.boolean(),
      (extra, known, queueId, commit) => {
        const sent = encodeProperties({ ...extra, ...known });
        const { input, facts } = sentHalf(sent, queueId, Buffer.from("b"));
        const recent = new RecentHalves();
        recent.stored(
          [input],
          {
            status: "PUT_OK",
            queueOffset: 7,
            commitLogOffset: 4096,
            msgIds: ["7F0000010000000A0000000000001000"],
            count: 1,
            storeTimestamp: 1,
          },
          facts,
        );
        const kept = recent.take(7, 4096)!;
        assert.ok(kept.encoded, "kept as encoded text");
        // What the log holds: the record's properties (the pairs, then the suffix) parsed.
        const stored = parseProperties(
          String(input.encodedProperties) + String(input.encodedPropertiesSuffix),
        );
        const parsed: HalfRecord = {
          topic: input.topic,
          queueOffset: 7,
          commitLogOffset: 4096,
          storeTimestamp: 1,
          flag: 3,
          body: input.body,
          sysFlag: input.sysFlag,
          bornTimestamp: 2,
          bornHost: input.bornHost,
          reconsumeTimes: 0,
          properties: stored,
        };
        assert.deepEqual(halfInfoOf(kept), halfInfoOf(parsed));
        const decision = commit ? "commit" : "discard";
        const a = copyRecord(parsed, decision);
        const b = copyRecord(kept, decision);
        assert.equal(b.topic, a.topic);
        assert.equal(b.queueId, a.queueId);
        assert.equal(b.sysFlag, a.sysFlag);
        assert.equal(b.tagsCode, a.tagsCode);
        assert.equal(b.preparedTransactionOffset, a.preparedTransactionOffset);
        const storedB = parseProperties(
          String(b.encodedProperties) + (b.encodedPropertiesSuffix?.toString() ?? ""),
        );
        assert.deepEqual(storedB, a.properties);
        assert.equal(storedB[MessageConst.TRANSACTION_PREPARED], undefined);
        // A commit's copy leaves REAL_TOPIC / REAL_QID out (RocketMQ clears them); a discard keeps where it was going.
        assert.equal(storedB[MessageConst.REAL_TOPIC], commit ? undefined : "RealTopic");
        assert.equal(storedB[MessageConst.REAL_QUEUE_ID], commit ? undefined : String(queueId));
        // What the store indexes: from the properties on one path, from keys/uniqKey on the other.
        assert.equal(b.keys, a.properties[MessageConst.KEYS]);
        assert.equal(b.uniqKey, a.properties[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX]);
      },
    ),
  );
});

test("op records carry TAGS and TRAN_OP as encoded pairs (what opOf reads back)", () => {
  const host = { host: "127.0.0.1", port: 1 };
  for (const op of ["commit", "rollback", "discard", "check"] as const) {
    const r = opRecord(42, op, host, 5);
    const props = parseProperties(String(r.encodedProperties));
    assert.deepEqual(props, { TAGS: op === "check" ? "c" : "d", TRAN_OP: op });
    assert.equal(r.tagsCode, tagsHashCode(props.TAGS));
    assert.deepEqual(opOf({ body: r.body, properties: props } as unknown as MessageExt), {
      halves: [42],
      op,
    });
  }
});

test("batched op records: offsets joined by ',' up to OP_BODY_MAX bytes each, read back in order; old and RocketMQ 5 bodies still read", () => {
  const host = { host: "127.0.0.1", port: 1 };
  const asExt = (r: MessageInput) =>
    ({ body: r.body, properties: parseProperties(String(r.encodedProperties)) }) as unknown as MessageExt;
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), { minLength: 1, maxLength: 3000 }),
      fc.constantFrom("commit", "rollback", "discard", "check" as const),
      (offsets, op) => {
        const records = opRecords(offsets, op, host, 5);
        const back: number[] = [];
        for (const r of records) {
          assert.ok(r.body.length <= OP_BODY_MAX, `body of ${r.body.length} bytes`);
          const o = opOf(asExt(r));
          assert.ok(o);
          assert.equal(o.op, op);
          back.push(...o.halves);
        }
        assert.deepEqual(back, offsets);
        // Full records: the next offset would not have fitted.
        for (let i = 0; i + 1 < records.length; i++) {
          const next = String(opOf(asExt(records[i + 1]!))!.halves[0]);
          assert.ok(records[i]!.body.length + 1 + next.length > OP_BODY_MAX);
        }
      },
    ),
    { numRuns: 100 },
  );
  // One offset: the one-offset body earlier versions wrote (and read), byte for byte.
  assert.equal(opRecords([7], "commit", host, 5)[0]!.body.toString(), "7");
  assert.equal(opRecords([7], "commit", host, 5).length, 1);
  // RocketMQ 5 ends each offset with ",", and its op records carry TAGS d and no TRAN_OP.
  const rmq = { body: Buffer.from("3,9,12,"), properties: { TAGS: "d" } } as unknown as MessageExt;
  assert.deepEqual(opOf(rmq), { halves: [3, 9, 12], op: "rollback" });
  // A body that is not a list of offsets is not an op record of ours.
  for (const bad of ["", ",", "1,,2", "1,x", "-1", "1.5", " 1", "99999999999999999"]) {
    const m = {
      body: Buffer.from(bad),
      properties: { TAGS: "d", TRAN_OP: "commit" },
    } as unknown as MessageExt;
    assert.equal(opOf(m), undefined, JSON.stringify(bad));
  }
});
