import assert from "node:assert/strict";
import test from "node:test";
import { createOffsetMsgId, createUniqId, decodeOffsetMsgId } from "@tidemq/protocol";
import fc from "fast-check";
import { commitLogOffsetOf } from "../src/Transaction.js";

test("commitLogOffsetOf reads the commit-log offset of IPv4 and IPv6 offset ids as decodeOffsetMsgId does", () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.ipV4(), fc.constantFrom("::1", "fe80::1", "2001:db8::8a2e:370:7334")),
      fc.integer({ min: 0, max: 65535 }),
      fc.maxSafeNat(),
      (host, port, offset) => {
        const id = createOffsetMsgId({ host, port }, offset);
        assert.equal(commitLogOffsetOf(id), offset);
        assert.equal(commitLogOffsetOf(id.toLowerCase()), decodeOffsetMsgId(id).commitLogOffset);
      },
    ),
  );
});

test("commitLogOffsetOf refuses what decodeOffsetMsgId refuses (not hex, wrong length, a client message id)", () => {
  for (const bad of [
    "",
    "XYZ",
    "7F0000010000271".padEnd(32, "G"),
    "7F00000100002710000000000000000",
    createUniqId(),
  ]) {
    assert.throws(() => decodeOffsetMsgId(bad));
    assert.throws(
      () => commitLogOffsetOf(bad),
      (err: Error) => {
        assert.throws(() => decodeOffsetMsgId(bad), { message: err.message });
        return true;
      },
    );
  }
});
