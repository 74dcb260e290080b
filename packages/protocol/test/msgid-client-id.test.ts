import assert from "node:assert/strict";
import { test } from "node:test";
import { createUniqId, decodeOffsetMsgId, MessageFormatError } from "../src/index.js";

test("decodeOffsetMsgId refuses a client message id (UNIQ_KEY): its port field is no TCP port", () => {
  const id = createUniqId();
  assert.equal(id.length, 32);
  assert.throws(
    () => decodeOffsetMsgId(id),
    (err: unknown) =>
      err instanceof MessageFormatError && /not an offset message id \(its port field/.test(err.message),
  );
  // A real offset id still decodes: 127.0.0.1:10911, commit-log offset 4096.
  const offsetId = "7F00000100002A9F0000000000001000";
  assert.deepEqual(decodeOffsetMsgId(offsetId), {
    storeHost: { host: "127.0.0.1", port: 10911 },
    commitLogOffset: 4096,
  });
});
