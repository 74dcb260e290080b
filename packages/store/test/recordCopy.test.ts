import assert from "node:assert/strict";
import { after, test } from "node:test";
import {
  decodeMessage,
  encodeProperties,
  MessageSysFlag,
  RecordLayout,
  tagsHashCode,
} from "@tidemq/protocol";
import { type MessageInput, RecordCopy } from "../src/index.js";
import { msg, openStore, removeDir, tempDir } from "./helpers.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeDir(d);
});

const SOURCE_PAIRS = encodeProperties({
  TAGS: "TagA",
  UNIQ_KEY: "U1",
  TRAN_MSG: "true",
  REAL_TOPIC: "Real",
  KEYS: "k1",
});
const SUFFIX = Buffer.from("CLUSTER\u0001C\u0002");
/** SOURCE_PAIRS without TRAN_MSG and REAL_TOPIC, as [from, to) ranges, then the suffix. */
const KEEP_TEXT = encodeProperties({ TAGS: "TagA", UNIQ_KEY: "U1", KEYS: "k1" });

function keepRanges(): number[] {
  const cut1 = SOURCE_PAIRS.indexOf("TRAN_MSG");
  const cut2 = SOURCE_PAIRS.indexOf("KEYS");
  return [0, cut1, cut2, SOURCE_PAIRS.length + SUFFIX.length];
}

/** A copy as a transaction commit makes one; its fallback is the same record as an input. */
class TestCopy extends RecordCopy {
  fallbacks = 0;
  constructor(
    private readonly source: MessageInput,
    sourceOffset: number,
    sourceQueueOffset: number,
    keep = keepRanges(),
  ) {
    super(
      sourceOffset,
      sourceQueueOffset,
      source.body.length,
      SOURCE_PAIRS.length + SUFFIX.length,
      keep,
      "Real",
      2,
      MessageSysFlag.TRANSACTION_COMMIT_TYPE,
      sourceOffset,
      tagsHashCode("TagA"),
      "k1",
      "U1",
    );
  }

  fallback(): MessageInput {
    this.fallbacks++;
    return {
      ...this.source,
      topic: "Real",
      queueId: 2,
      sysFlag: MessageSysFlag.TRANSACTION_COMMIT_TYPE,
      preparedTransactionOffset: this.sourceOffset,
      tagsCode: tagsHashCode("TagA"),
      encodedProperties: KEEP_TEXT,
      encodedPropertiesSuffix: SUFFIX,
      keys: "k1",
      uniqKey: "U1",
    };
  }
}

function source(): MessageInput {
  return {
    ...msg("Half", 0, Buffer.from("the body of the half")),
    flag: 7,
    reconsumeTimes: 3,
    bornTimestamp: 1_700_000_000_123,
    encodedProperties: SOURCE_PAIRS,
    encodedPropertiesSuffix: SUFFIX,
    keys: "k1",
    uniqKey: "U1",
  };
}

/** A record's bytes with the fields that differ between two stores of it zeroed. */
function comparable(rec: Buffer): Buffer {
  const b = Buffer.from(rec);
  b.fill(0, RecordLayout.QUEUE_OFFSET, RecordLayout.SYS_FLAG); // queue and physical offsets
  b.fill(0, RecordLayout.STORE_TIMESTAMP, RecordLayout.STORE_HOST);
  return b;
}

test("a RecordCopy of a record in the tail stores the bytes its fallback input would (body CRC, fields, properties cut)", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir);
  try {
    const half = source();
    const put = await store.putMessage(half);
    const copy = new TestCopy(half, put.commitLogOffset, put.queueOffset);
    const [viaCopy] = await store.putMessagesBatch([copy, msg("Other", 0, "after")]);
    assert.equal(copy.fallbacks, 0, "the source was in the tail: spliced");
    const [viaInput] = await store.putMessagesBatch([copy.fallback()]);
    const a = (await store.lookMessageByOffset(viaCopy!.commitLogOffset))!;
    const b = (await store.lookMessageByOffset(viaInput!.commitLogOffset))!;
    assert.ok(comparable(a).equals(comparable(b)), "same record bytes");
    const m = decodeMessage(a);
    assert.equal(m.topic, "Real");
    assert.equal(m.queueId, 2);
    assert.equal(m.queueOffset, 0);
    assert.equal(m.flag, 7);
    assert.equal(m.reconsumeTimes, 3);
    assert.equal(m.preparedTransactionOffset, put.commitLogOffset);
    assert.deepEqual(m.properties, { TAGS: "TagA", UNIQ_KEY: "U1", KEYS: "k1", CLUSTER: "C" });
    assert.equal(m.body.toString(), "the body of the half");
    // Consume queue and index entries as for any input.
    const got = await store.getMessage("Real", 2, 0, 32, (code) => code === tagsHashCode("TagA"));
    assert.equal(got.messageCount, 2);
    for (const key of ["k1", "U1"]) {
      const q = await store.queryMessage("Real", key, 10, 0, Date.now() + 1000);
      assert.equal(q.messages.length, 2, `index finds ${key} for both`);
    }
  } finally {
    await store.shutdown();
  }
});

test("a RecordCopy whose source is not the record it describes, or whose ranges are bad, stores its fallback", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir);
  try {
    const half = source();
    const put = await store.putMessage(half);
    const bad = [
      new TestCopy(half, put.commitLogOffset, put.queueOffset + 1), // another queue offset
      new TestCopy(half, put.commitLogOffset + 4, put.queueOffset), // not a record start
      new TestCopy(half, put.commitLogOffset, put.queueOffset, [0, 5, 3, 8]), // ranges overlap
      new TestCopy(half, put.commitLogOffset, put.queueOffset, [0, 9999]), // past the properties
      new TestCopy(half, 1 << 30, put.queueOffset), // not in the log at all
    ];
    const results = await store.putMessagesBatch(bad);
    for (const c of bad) assert.equal(c.fallbacks, 1);
    const expected = comparable((await store.lookMessageByOffset(results[0]!.commitLogOffset))!);
    for (const r of results) {
      const rec = (await store.lookMessageByOffset(r.commitLogOffset))!;
      assert.ok(comparable(rec).subarray(0, 12).equals(expected.subarray(0, 12)));
      assert.deepEqual(decodeMessage(rec).properties, {
        TAGS: "TagA",
        UNIQ_KEY: "U1",
        KEYS: "k1",
        CLUSTER: "C",
      });
    }
  } finally {
    await store.shutdown();
  }
});
