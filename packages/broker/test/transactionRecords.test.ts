/**
 * The commit copy of a half the send path just stored (its properties kept as encoded text)
 * is the same record as the copy of that half read back from the log (properties parsed):
 * same topic, queue, flags and properties once stored, same keys for the index.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeProperties, MessageConst, parseProperties, tagsHashCode } from "@tidemq/protocol";
import fc from "fast-check";
import { pairValue, withoutPair } from "../src/transaction/HalfMessage.js";
import type { EncodedProperties, HalfRecord } from "../src/transaction/RecentHalves.js";
import { copyRecord, halfInfoOf } from "../src/transaction/TransactionRecords.js";

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

test("copyRecord of a half kept as encoded text = copyRecord of the same half parsed", () => {
  fc.assert(
    fc.property(
      fc.dictionary(name, value, { maxKeys: 6 }),
      fc.option(value.filter((v) => v.length > 0)),
      fc.option(value.filter((v) => v.length > 0)),
      fc.integer({ min: 0, max: 15 }),
      fc.boolean(),
      (extra, tags, keys, realQid, commit) => {
        const props: Record<string, string> = { ...extra };
        if (tags) props[MessageConst.TAGS] = tags;
        if (keys) props[MessageConst.KEYS] = keys;
        props[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX] = "ABC123";
        props[MessageConst.TRANSACTION_PREPARED] = "true";
        props[MessageConst.PRODUCER_GROUP] = "PG";
        props[MessageConst.REAL_TOPIC] = "RealTopic";
        props[MessageConst.REAL_QUEUE_ID] = String(realQid);
        const pairs = encodeProperties(props);
        const suffix = Buffer.from("CLUSTER\u0001DefaultCluster\u0002");
        const stored = parseProperties(pairs + suffix.toString());
        const base = {
          topic: "RMQ_SYS_TRANS_HALF_TOPIC",
          queueOffset: 7,
          commitLogOffset: 4096,
          storeTimestamp: 1,
          flag: 3,
          body: Buffer.from("b"),
          sysFlag: 0,
          bornTimestamp: 2,
          bornHost: { host: "127.0.0.1", port: 1 },
          reconsumeTimes: 0,
        };
        const parsed: HalfRecord = { ...base, properties: stored };
        const encoded: EncodedProperties = {
          pairs,
          suffix,
          tagsCode: tagsHashCode(stored[MessageConst.TAGS]),
          keys: stored[MessageConst.KEYS],
          uniqKey: stored[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX],
        };
        const kept: HalfRecord = {
          ...base,
          get properties(): Record<string, string> {
            throw new Error("the encoded path must not parse");
          },
          encoded,
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
        // What the store indexes: from the properties on one path, from keys/uniqKey on the other.
        assert.equal(b.keys, a.properties[MessageConst.KEYS]);
        assert.equal(b.uniqKey, a.properties[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX]);
      },
    ),
  );
});
