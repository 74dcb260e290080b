import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { crc32 } from "node:zlib";
import type { Message } from "@tidemq/raft";
import { crc32Combine, crc32Of } from "../src/dledger/Crc32Combine.js";
import { encodeFrame } from "../src/dledger/RaftTransport.js";

// crc(A ‖ B) from crc(A), crc(B) and |B|, against zlib over the concatenation: empty parts,
// one byte, odd lengths, lengths past 64 KiB, every split of a short buffer.
test("crc32Combine gives the CRC of the concatenation", () => {
  const lengths = [0, 1, 2, 3, 7, 8, 255, 256, 4095, 65_537, 200_003];
  for (const la of lengths)
    for (const lb of lengths) {
      const a = randomBytes(la);
      const b = randomBytes(lb);
      assert.equal(
        crc32Combine(crc32(a), crc32(b), lb),
        crc32(Buffer.concat([a, b])) >>> 0,
        `lengths ${la} + ${lb}`,
      );
    }
  const s = randomBytes(97);
  for (let cut = 0; cut <= s.length; cut++)
    assert.equal(
      crc32Combine(crc32(s.subarray(0, cut)), crc32(s.subarray(cut)), s.length - cut),
      crc32(s) >>> 0,
    );
  // Lengths past 2^32 bits of shifting (no materialised buffer): combining is associative.
  const [x, y, z] = [0x12345678, 0x9abcdef0, 0x0fedcba9];
  const [ly, lz] = [3_000_000_000, 1_500_000_007];
  assert.equal(crc32Combine(crc32Combine(x, y, ly), z, lz), crc32Combine(x, crc32Combine(y, z, lz), ly + lz));
  assert.throws(() => crc32Combine(1, 2, -1), RangeError);
  assert.throws(() => crc32Combine(1, 2, 1.5), RangeError);
});

// The same entries go to two followers in frames whose headers differ (to, commit): each frame
// carries the CRC of its whole payload, as a receiver of any version checks it (crc32 over the
// payload), whether the entry's CRC was just computed or remembered from the first frame.
test("frames sharing entries carry the CRC of their own payload", () => {
  const entries = [
    { index: 5, term: 2, type: "normal" as const, data: randomBytes(70_001) },
    { index: 6, term: 2, type: "noop" as const, data: Buffer.alloc(0) },
    { index: 7, term: 2, type: "normal" as const, data: randomBytes(13) },
  ];
  const first = entries[0]!.data;
  assert.equal(crc32Of(first), crc32(first) >>> 0);
  for (const [to, commit] of [
    ["n1", 4],
    ["n2", 3],
    ["n1", 5],
  ] as const) {
    const m: Message = {
      type: "app",
      from: "n0",
      to,
      term: 2,
      logTerm: 2,
      index: 4,
      commit,
      reject: false,
      rejectHint: 0,
      entries,
    };
    const f = encodeFrame(m);
    assert.equal(f.readUInt32BE(4), crc32(f.subarray(8)) >>> 0, `frame to ${to}`);
  }
  // A changed byte in the payload no longer matches the frame's CRC (the check has teeth).
  const m: Message = {
    type: "app",
    from: "n0",
    to: "n1",
    term: 2,
    logTerm: 2,
    index: 4,
    commit: 4,
    reject: false,
    rejectHint: 0,
    entries,
  };
  const f = encodeFrame(m);
  f[f.length - 1] ^= 1;
  assert.notEqual(f.readUInt32BE(4), crc32(f.subarray(8)) >>> 0);
});
