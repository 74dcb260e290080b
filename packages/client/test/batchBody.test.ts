import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeBatchBody, encodeProperties, MessageConst } from "@tidemq/protocol";
import { batchBytes, batchItem, encodeBatchItems } from "../src/batchBody.js";
import { type MessageOptions, prepareMessage } from "../src/index.js";

test("encodeBatchItems writes what decodeBatchBody reads: bodies, flags, properties without WAIT", () => {
  const msgs = [
    prepareMessage({ topic: "T", body: "plain", tag: "A", keys: ["k1", "k2"], flag: 3 }, 1024),
    prepareMessage(
      { topic: "T", body: Buffer.from([0, 1, 2, 255]), properties: { città: "déjà vu ✓" } },
      1024,
    ),
    prepareMessage({ topic: "T", body: "x".repeat(300) }, 1024),
  ];
  const items = msgs.map(batchItem);
  const body = encodeBatchItems(items, batchBytes(items));
  const entries = decodeBatchBody(body);
  assert.equal(entries.length, 3);
  entries.forEach((e, i) => {
    const m = msgs[i]!;
    assert.deepEqual(e.body, m.body);
    assert.equal(e.flag, m.flag);
    const { WAIT: _wait, ...expected } = m.properties;
    assert.deepEqual({ ...e.properties }, expected);
  });
  assert.equal(items[0]!.text, undefined, "ASCII properties are written straight from the object");
  assert.equal(items[1]!.propsBytes, Buffer.byteLength(items[1]!.text!), "non-ASCII counted in UTF-8 bytes");
});

test("an entry whose properties exceed a short length is refused", () => {
  const m = prepareMessage({ topic: "T", body: "x", properties: { big: "v".repeat(40_000) } }, 1024);
  assert.throws(() => batchItem(m), /32767/);
});

test("prepareMessage marks messages that cannot join a batch", () => {
  const marked = (m: object) => prepareMessage({ topic: "T", body: "x", ...m }, 1024).unbatchable;
  assert.equal(marked({}), false);
  assert.equal(marked({ tag: "A", keys: "k", properties: { color: "red" } }), false);
  assert.equal(marked({ delay: 1000 }), true);
  assert.equal(marked({ deliveryTimestamp: Date.now() + 1000 }), true);
  assert.equal(marked({ delayLevel: 2 }), true);
  assert.equal(marked({ properties: { TIMER_DELAY_SEC: "5" } }), true);
  assert.equal(marked({ properties: new Map([["TRAN_MSG", "true"]]) }), true);
});

test("prepareMessage measures printable-ASCII properties as a batch entry writes them (no WAIT)", () => {
  const entryBytes = (m: ReturnType<typeof prepareMessage>) =>
    Buffer.byteLength(encodeProperties(m.properties, MessageConst.WAIT_STORE_MSG_OK), "utf8");
  const ascii: Array<Partial<MessageOptions>> = [
    { tag: "A", keys: ["k1", " k2 "], messageGroup: "g" },
    { delayLevel: 3 },
    // Names given twice (a user TAGS, a user WAIT) count once, as they are written.
    { tag: "B", properties: { TAGS: "user", WAIT: "false", color: "red" } },
    { properties: new Map([["__proto__", "p"]]) },
  ];
  for (const extra of ascii) {
    const m = prepareMessage({ topic: "T", body: "x", ...extra }, 1024);
    assert.equal(m.asciiPropertiesBytes, entryBytes(m), JSON.stringify(extra));
  }
  const other: Array<Partial<MessageOptions>> = [
    { tag: "té" },
    { keys: "ключ" },
    { messageGroup: "g\t1" },
    { properties: { città: "x" } },
    { properties: { k: "✓" } },
  ];
  for (const extra of other) {
    const m = prepareMessage({ topic: "T", body: "x", ...extra }, 1024);
    assert.equal(m.asciiPropertiesBytes, -1, JSON.stringify(extra));
    const item = batchItem(m);
    assert.equal(item.propsBytes, entryBytes(m), "measured from the encoded text instead");
    const { WAIT: _wait, ...expected } = m.properties;
    const [entry] = decodeBatchBody(encodeBatchItems([item], item.size));
    assert.deepEqual({ ...entry!.properties }, expected);
  }
});
