/**
 * A commit's copy of a half the send path just stored, as the store writes it from the half's
 * record in the commit log's tail (commitCopyOf: a RecordCopy), is byte for byte the record
 * copyRecord makes of the same half read back from the log — whatever the properties hold
 * (non-ASCII text makes the store take the fallback input: the same record again).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { decodeMessage, encodeProperties, MessageConst, RecordLayout } from "@tidemq/protocol";
import { MessageStore, RecordCopy } from "@tidemq/store";
import fc from "fast-check";
import { type HalfTopic, halfInputOf } from "../src/transaction/HalfInput.js";
import type { HalfFacts } from "../src/transaction/HalfMessage.js";
import { RecentHalves } from "../src/transaction/RecentHalves.js";
import { commitCopyOf, copyRecord } from "../src/transaction/TransactionRecords.js";
import { removeDir, tempDir } from "./helpers.js";
import { sentHalf } from "./sentHalf.js";

const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,11}$/);
const value = fc.string({ maxLength: 20, unit: "grapheme" }).filter((v) => !/[\u0001\u0002]/.test(v));
const ascii = fc.stringMatching(/^[ -~]{0,20}$/).filter((v) => !/[\u0001\u0002]/.test(v));

let dir = "";
let store: MessageStore;
before(async () => {
  dir = await tempDir("tx-commit-copy");
  store = await MessageStore.open({
    storePathRootDir: dir,
    storeHost: { host: "127.0.0.1", port: 10911 },
    flushDiskType: "ASYNC_FLUSH",
    mappedFileSizeCommitLog: 4 * 1024 * 1024,
    logger: { debug() {}, info() {}, warn: console.warn, error: console.error },
  });
});
after(async () => {
  await store.shutdown();
  await removeDir(dir);
});

/** A record's bytes without the fields two stores of the same message differ in. */
function comparable(rec: Buffer): Buffer {
  const b = Buffer.from(rec);
  b.fill(0, RecordLayout.QUEUE_OFFSET, RecordLayout.SYS_FLAG);
  b.fill(0, RecordLayout.STORE_TIMESTAMP, RecordLayout.STORE_HOST);
  return b;
}

test("commitCopyOf (spliced from the half's stored bytes, or its fallback) = copyRecord of the half read from the log", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.dictionary(name, fc.oneof(ascii, value), { maxKeys: 5 }),
      fc.record(
        {
          TAGS: ascii.filter((v) => v.length > 0),
          KEYS: fc.oneof(ascii, value).filter((v) => v.length > 0),
          UNIQ_KEY: ascii.filter((v) => v.length > 0),
          PGROUP: ascii,
          TRAN_MSG: fc.constantFrom("true", "false"),
          REAL_TOPIC: fc.constantFrom("Spoofed"),
          WAIT: fc.constantFrom("true", "false"),
        },
        { requiredKeys: [] },
      ),
      fc.integer({ min: 0, max: 3 }),
      fc.uint8Array({ maxLength: 64 }),
      async (extra, known, queueId, bodyBytes) => {
        const sent = encodeProperties({ ...extra, ...known });
        const { input, facts } = sentHalf(sent, queueId, Buffer.from(bodyBytes));
        const put = await store.putMessage(input);
        const recent = new RecentHalves();
        recent.stored([input], put, facts);
        const kept = recent.take(put.queueOffset, put.commitLogOffset)!;
        const copy = commitCopyOf(kept);
        assert.ok(copy instanceof RecordCopy, "a half kept as encoded text is copied from its record");
        let fellBack = false;
        const fallback = copy.fallback.bind(copy);
        copy.fallback = () => {
          fellBack = true;
          return fallback();
        };
        const parsed = decodeMessage((await store.lookMessageByOffset(put.commitLogOffset))!);
        const [a, b] = await store.putMessagesBatch([copy, copyRecord(parsed, "commit")]);
        const recA = (await store.lookMessageByOffset(a!.commitLogOffset))!;
        const recB = (await store.lookMessageByOffset(b!.commitLogOffset))!;
        assert.ok(comparable(recA).equals(comparable(recB)), "the same record bytes");
        // Only properties with non-ASCII text (string indices not byte offsets) take the fallback.
        assert.equal(fellBack, !/^[\x00-\x7f]*$/.test(String(input.encodedProperties)));
        const m = decodeMessage(recA);
        assert.equal(m.topic, "RealTopic");
        assert.equal(m.queueId, queueId);
        assert.equal(m.preparedTransactionOffset, put.commitLogOffset);
        assert.equal(m.properties[MessageConst.TRANSACTION_PREPARED], undefined);
        assert.equal(m.properties[MessageConst.REAL_TOPIC], undefined);
        assert.equal(m.properties[MessageConst.REAL_QUEUE_ID], undefined);
        assert.equal(m.properties[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX], known.UNIQ_KEY);
      },
    ),
    { numRuns: 200 },
  );
});

test("a half HalfInput built (what the broker adds kept as a cached suffix) is copied the same way: commitCopyOf = copyRecord of it read from the log", async () => {
  const cluster = Buffer.from("CLUSTER\u0001DefaultCluster\u0002");
  const topic: HalfTopic = {
    topicName: "RealTopic",
    queueMax: 4,
    multiTag: false,
    suffixes: [],
    cluster: undefined,
  };
  let suffixed = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.dictionary(name, ascii, { maxKeys: 5 }),
      fc.record(
        { TAGS: ascii.filter((v) => v.length > 0), UNIQ_KEY: ascii.filter((v) => v.length > 0) },
        { requiredKeys: [] },
      ),
      fc.constantFrom("PG", undefined),
      fc.integer({ min: 0, max: 3 }),
      fc.uint8Array({ maxLength: 64 }),
      async (extra, known, group, queueId, bodyBytes) => {
        const props: Record<string, string> = { ...extra, ...known, TRAN_MSG: "true" };
        if (group) props.PGROUP = group;
        const facts: Array<HalfFacts | undefined> = [];
        const input = halfInputOf(
          {
            topic: "RealTopic",
            queueId,
            sysFlag: 4,
            bornTimestamp: 2,
            flag: 3,
            properties: encodeProperties(props),
            body: Buffer.from(bodyBytes),
          },
          topic,
          { producerGroup: "PG", bornHost: { host: "127.0.0.1", port: 1 }, cluster, maxMessageSize: 1024 },
          facts,
          0,
        );
        if (!input) return; // left to the send path (a delay-like name): the other test's case
        if (facts[0]?.commitSuffix) suffixed++;
        const put = await store.putMessage(input);
        const recent = new RecentHalves();
        recent.stored([input], put, facts[0]);
        const copy = commitCopyOf(recent.take(put.queueOffset, put.commitLogOffset)!);
        const parsed = decodeMessage((await store.lookMessageByOffset(put.commitLogOffset))!);
        const [a, b] = await store.putMessagesBatch([copy, copyRecord(parsed, "commit")]);
        const recA = (await store.lookMessageByOffset(a!.commitLogOffset))!;
        const recB = (await store.lookMessageByOffset(b!.commitLogOffset))!;
        assert.ok(comparable(recA).equals(comparable(recB)), "the same record bytes");
        const m = decodeMessage(recA);
        assert.equal(m.topic, "RealTopic");
        assert.equal(m.properties[MessageConst.TRANSACTION_PREPARED], undefined);
        assert.equal(m.properties[MessageConst.REAL_TOPIC], undefined);
        assert.equal(m.properties[MessageConst.REAL_QUEUE_ID], undefined);
        assert.equal(m.properties.CLUSTER, "DefaultCluster");
      },
    ),
    { numRuns: 200 },
  );
  assert.ok(suffixed > 20, `only ${suffixed} halves had HalfInput's cached suffix`);
});
