import assert from "node:assert/strict";
import { after, test } from "node:test";
import { decodeMessages, encodeProperties, tagsHashCode } from "@tidemq/protocol";
import { msg, openStore, removeDir, tempDir } from "./helpers.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeDir(d);
});

test("pre-encoded properties (text or bytes, with a shared suffix) store the same record as an object", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir);
  try {
    const props = { TAGS: "TagA", KEYS: "k1 k2", UNIQ_KEY: "U1", CLUSTER: "C" };
    const suffix = Buffer.from("CLUSTER\u0001C\u0002");
    const own = encodeProperties({ TAGS: "TagA", KEYS: "k1 k2", UNIQ_KEY: "U1" });
    const picked = { tagsCode: tagsHashCode("TagA"), keys: "k1 k2", uniqKey: "U1" };
    const fromObject = msg("T", 0, "body", props);
    const fromText = {
      ...msg("T", 0, "body"),
      ...picked,
      encodedProperties: own,
      encodedPropertiesSuffix: suffix,
    };
    const fromBytes = { ...msg("T", 0, "body"), ...picked, encodedProperties: Buffer.from(own) };
    fromBytes.encodedPropertiesSuffix = suffix;
    const r = await store.putMessages([fromObject, fromText, fromBytes]);
    assert.equal(r.count, 3);
    const got = await store.getMessage("T", 0, 0, 32, (code) => code === tagsHashCode("TagA"));
    assert.equal(got.messageCount, 3, "every record carries the tags hash code");
    const records = decodeMessages(got.body);
    for (const m of records) assert.deepEqual(m.properties, props);
    const size = records[0]!.storeSize;
    assert.ok(records.every((m) => m.storeSize === size));
    // Same bytes apart from the fields that differ per record (offsets).
    const a = got.body.subarray(0, size);
    const b = got.body.subarray(size, 2 * size);
    assert.ok(a.subarray(88).equals(b.subarray(88)), "body, topic and properties agree");
    for (const key of ["k2", "U1"]) {
      const q = await store.queryMessage("T", key, 10, 0, Date.now() + 1000);
      assert.equal(q.messages.length, 3, `index finds ${key} for all three`);
    }
  } finally {
    await store.shutdown();
  }
});
